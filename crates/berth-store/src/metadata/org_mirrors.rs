//! Organization mirrors: the configuration, the discovery's status and
//! claim (as `mirrors.rs`: `claim_token` leased until
//! `sync_expiration_ms`, so one instance discovers at a time), and the
//! repositories a discovery found, each linked to the local repository
//! (and its repository mirror) made for it.

use sqlx::Row;

use super::sync_claims::{MirrorOutcome, ORG_MIRRORS};
use crate::{Db, StoreError, now_ms, on_db};

/// An organization mirror's stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMirrorRow {
    /// The organization.
    pub account_id: i64,
    /// Its name.
    pub namespace: String,
    /// Whether the worker discovers and syncs it.
    pub is_enabled: bool,
    /// `quay` or `harbor`.
    pub registry_type: String,
    /// The upstream registry's URL (`https://host[:port]`).
    pub registry_url: String,
    /// The upstream namespace (Quay organization, Harbor project).
    pub external_namespace: String,
    /// Sealed upstream user name.
    pub username_sealed: Option<Vec<u8>>,
    /// Sealed upstream password.
    pub password_sealed: Option<Vec<u8>>,
    /// The robot that writes the mirrored repositories.
    pub robot_id: i64,
    /// The robot's name.
    pub robot_name: String,
    /// `public` or `private`: the visibility of created repositories.
    pub visibility: String,
    /// Seconds between discoveries.
    pub sync_interval_s: i64,
    /// When the next discovery is due (ms), if scheduled.
    pub sync_start_ms: Option<i64>,
    /// The repository globs, as a JSON array.
    pub repository_filters: String,
    /// `external_registry_config`, as JSON.
    pub registry_config: String,
    /// Bound on one upstream operation, in seconds.
    pub timeout_s: i64,
    /// The architectures kept from indexes, as a JSON array.
    pub architecture_filter: Option<String>,
    /// Quay's status name (of the discovery).
    pub sync_status: String,
    /// Failed discoveries left before waiting a full interval.
    pub sync_retries_remaining: i64,
    /// When the running discovery's claim lapses (ms).
    pub sync_expiration_ms: Option<i64>,
    /// When the last discovery ended (ms).
    pub last_sync_ms: Option<i64>,
    /// Why the last discovery failed.
    pub last_error: Option<String>,
}

/// The settable fields of an organization mirror.
#[derive(Debug, Clone)]
pub struct OrgMirrorFields {
    /// Whether the worker discovers and syncs it.
    pub is_enabled: bool,
    /// `quay` or `harbor`.
    pub registry_type: String,
    /// The upstream registry's URL.
    pub registry_url: String,
    /// The upstream namespace.
    pub external_namespace: String,
    /// Sealed upstream user name.
    pub username_sealed: Option<Vec<u8>>,
    /// Sealed upstream password.
    pub password_sealed: Option<Vec<u8>>,
    /// The robot that writes the mirrored repositories.
    pub robot_id: i64,
    /// `public` or `private`.
    pub visibility: String,
    /// Seconds between discoveries.
    pub sync_interval_s: i64,
    /// When the next discovery is due (ms).
    pub sync_start_ms: Option<i64>,
    /// The repository globs, as a JSON array.
    pub repository_filters: String,
    /// `external_registry_config`, as JSON.
    pub registry_config: String,
    /// Bound on one upstream operation, in seconds.
    pub timeout_s: i64,
    /// The architectures kept from indexes, as a JSON array.
    pub architecture_filter: Option<String>,
}

/// A repository a discovery found, with its local mirror's status.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrgMirrorRepositoryRow {
    /// Its name within the upstream namespace (and the local one).
    pub name: String,
    /// The local repository mirroring it, if one was made.
    pub repository_id: Option<i64>,
    /// Why it is not mirrored.
    pub skip_reason: Option<String>,
    /// When it was last seen upstream (ms).
    pub discovered_ms: i64,
    /// Its repository mirror's status.
    pub sync_status: Option<String>,
    /// When its last sync ended (ms).
    pub last_sync_ms: Option<i64>,
    /// Why its last sync failed.
    pub last_error: Option<String>,
}

const COLUMNS: &str = "o.account_id, n.name, o.is_enabled, o.registry_type, o.registry_url, \
     o.external_namespace, o.username_sealed, o.password_sealed, o.robot_id, a.name, o.visibility, \
     o.sync_interval_s, o.sync_start_ms, o.repository_filters, o.registry_config, o.timeout_s, \
     o.architecture_filter, o.sync_status, o.sync_retries_remaining, o.sync_expiration_ms, \
     o.last_sync_ms, o.last_error \
     FROM org_mirrors o JOIN accounts n ON n.id = o.account_id JOIN accounts a ON a.id = o.robot_id";

/// The repositories linked to organization mirror `$1`.
const LINKED: &str =
    "SELECT repository_id FROM org_mirror_repositories WHERE account_id = $1 AND repository_id IS NOT NULL";

macro_rules! org_mirror_row {
    ($r:expr) => {{
        let r = $r;
        OrgMirrorRow {
            account_id: r.try_get(0)?,
            namespace: r.try_get(1)?,
            is_enabled: r.try_get(2)?,
            registry_type: r.try_get(3)?,
            registry_url: r.try_get(4)?,
            external_namespace: r.try_get(5)?,
            username_sealed: r.try_get(6)?,
            password_sealed: r.try_get(7)?,
            robot_id: r.try_get(8)?,
            robot_name: r.try_get(9)?,
            visibility: r.try_get(10)?,
            sync_interval_s: r.try_get(11)?,
            sync_start_ms: r.try_get(12)?,
            repository_filters: r.try_get(13)?,
            registry_config: r.try_get(14)?,
            timeout_s: r.try_get(15)?,
            architecture_filter: r.try_get(16)?,
            sync_status: r.try_get(17)?,
            sync_retries_remaining: r.try_get(18)?,
            sync_expiration_ms: r.try_get(19)?,
            last_sync_ms: r.try_get(20)?,
            last_error: r.try_get(21)?,
        }
    }};
}

impl Db {
    /// The mirror of organization `account_id`, if it has one.
    pub async fn org_mirror(&self, account_id: i64) -> Result<Option<OrgMirrorRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} WHERE o.account_id = $1");
        on_db!(self.reader(), pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(account_id).fetch_optional(pool).await?;
            Ok(match row {
                Some(r) => Some(org_mirror_row!(r)),
                None => None,
            })
        })
    }

    /// Whether namespace `ns` is an organization mirror.
    pub async fn is_org_mirror_namespace(&self, ns: &str) -> Result<bool, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT o.account_id FROM org_mirrors o JOIN accounts a ON a.id = o.account_id WHERE a.name = $1",
            )
            .bind(ns)
            .fetch_optional(pool)
            .await?;
            Ok(row.is_some())
        })
    }

    /// Create the mirror of organization `account_id`. False if it has one.
    pub async fn create_org_mirror(&self, account_id: i64, f: &OrgMirrorFields) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "INSERT INTO org_mirrors (account_id, is_enabled, registry_type, registry_url, \
                 external_namespace, username_sealed, password_sealed, robot_id, visibility, \
                 sync_interval_s, sync_start_ms, repository_filters, registry_config, timeout_s, \
                 architecture_filter) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (account_id) DO NOTHING",
            )
            .bind(account_id)
            .bind(f.is_enabled)
            .bind(&f.registry_type)
            .bind(&f.registry_url)
            .bind(&f.external_namespace)
            .bind(&f.username_sealed)
            .bind(&f.password_sealed)
            .bind(f.robot_id)
            .bind(&f.visibility)
            .bind(f.sync_interval_s)
            .bind(f.sync_start_ms)
            .bind(&f.repository_filters)
            .bind(&f.registry_config)
            .bind(f.timeout_s)
            .bind(&f.architecture_filter)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Replace the settable fields of organization `account_id`'s mirror.
    /// False if it has none.
    pub async fn update_org_mirror(&self, account_id: i64, f: &OrgMirrorFields) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE org_mirrors SET is_enabled = $2, registry_type = $3, registry_url = $4, \
                 external_namespace = $5, username_sealed = $6, password_sealed = $7, robot_id = $8, \
                 visibility = $9, sync_interval_s = $10, sync_start_ms = $11, repository_filters = $12, \
                 registry_config = $13, timeout_s = $14, architecture_filter = $15 \
                 WHERE account_id = $1",
            )
            .bind(account_id)
            .bind(f.is_enabled)
            .bind(&f.registry_type)
            .bind(&f.registry_url)
            .bind(&f.external_namespace)
            .bind(&f.username_sealed)
            .bind(&f.password_sealed)
            .bind(f.robot_id)
            .bind(&f.visibility)
            .bind(f.sync_interval_s)
            .bind(f.sync_start_ms)
            .bind(&f.repository_filters)
            .bind(&f.registry_config)
            .bind(f.timeout_s)
            .bind(&f.architecture_filter)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Remove organization `account_id`'s mirror in one transaction: its
    /// repositories keep their content, lose their repository mirrors
    /// and become `NORMAL`. False if it had none.
    pub async fn delete_org_mirror(&self, account_id: i64) -> Result<bool, StoreError> {
        let unmirror = format!("DELETE FROM repository_mirrors WHERE repository_id IN ({LINKED})");
        let normal = format!("UPDATE repositories SET state = 'NORMAL' WHERE id IN ({LINKED})");
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(sqlx::AssertSqlSafe(unmirror.as_str())).bind(account_id).execute(&mut *tx).await?;
            sqlx::query(sqlx::AssertSqlSafe(normal.as_str())).bind(account_id).execute(&mut *tx).await?;
            let done = sqlx::query("DELETE FROM org_mirrors WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Enable or disable the repository mirrors of organization mirror
    /// `account_id` (those of skipped repositories stay disabled).
    pub async fn enable_org_mirror_repositories(
        &self,
        account_id: i64,
        enabled: bool,
    ) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query(
                "UPDATE repository_mirrors SET is_enabled = $2 WHERE repository_id IN \
                 (SELECT repository_id FROM org_mirror_repositories WHERE account_id = $1 \
                 AND repository_id IS NOT NULL AND skip_reason IS NULL)",
            )
            .bind(account_id)
            .bind(enabled)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Ask for a discovery now and a sync of every linked repository not
    /// syncing already. False if the discovery is running.
    pub async fn org_mirror_sync_now(&self, account_id: i64) -> Result<bool, StoreError> {
        let repos = format!(
            "UPDATE repository_mirrors SET sync_status = 'SYNC_NOW', sync_start_ms = $2, \
             sync_retries_remaining = CASE WHEN sync_retries_remaining < 1 THEN 1 \
             ELSE sync_retries_remaining END \
             WHERE sync_status <> 'SYNCING' AND repository_id IN ({LINKED})"
        );
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE org_mirrors SET sync_status = 'SYNC_NOW', sync_start_ms = $2, \
                 sync_retries_remaining = CASE WHEN sync_retries_remaining < 1 THEN 1 \
                 ELSE sync_retries_remaining END \
                 WHERE account_id = $1 AND sync_status <> 'SYNCING'",
            )
            .bind(account_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(sqlx::AssertSqlSafe(repos.as_str())).bind(account_id).bind(now_ms()).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Cancel a running or requested discovery and every running or
    /// requested sync of a linked repository (claims dropped: workers
    /// stop at their next check). False if nothing was running or asked.
    pub async fn org_mirror_sync_cancel(&self, account_id: i64) -> Result<bool, StoreError> {
        let repos = format!(
            "UPDATE repository_mirrors SET sync_status = 'CANCEL', sync_start_ms = NULL, \
             sync_retries_remaining = 0, claim_token = NULL, sync_expiration_ms = NULL, last_sync_ms = $2 \
             WHERE sync_status IN ('SYNCING', 'SYNC_NOW') AND repository_id IN ({LINKED})"
        );
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let org = sqlx::query(
                "UPDATE org_mirrors SET sync_status = 'CANCEL', sync_start_ms = NULL, \
                 sync_retries_remaining = 0, claim_token = NULL, sync_expiration_ms = NULL, \
                 last_sync_ms = $2 WHERE account_id = $1 AND sync_status IN ('SYNCING', 'SYNC_NOW')",
            )
            .bind(account_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let repos = sqlx::query(sqlx::AssertSqlSafe(repos.as_str()))
                .bind(account_id)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(org + repos > 0)
        })
    }

    /// Organization mirrors whose discovery is due now (ids).
    pub async fn due_org_mirrors(&self) -> Result<Vec<i64>, StoreError> {
        self.due_syncs(&ORG_MIRRORS).await
    }

    /// Claim organization mirror `account_id` with `token` until
    /// `until_ms` if its discovery is still due. Returns its row if claimed.
    pub async fn claim_org_mirror(
        &self,
        account_id: i64,
        token: &str,
        until_ms: i64,
    ) -> Result<Option<OrgMirrorRow>, StoreError> {
        if !self.claim_sync(&ORG_MIRRORS, account_id, token, until_ms).await? {
            return Ok(None);
        }
        self.org_mirror(account_id).await
    }

    /// Extend the claim `token` holds. False if it is gone (cancelled).
    pub async fn renew_org_mirror_claim(
        &self,
        account_id: i64,
        token: &str,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.renew_sync_claim(&ORG_MIRRORS, account_id, token, until_ms)
            .await
    }

    /// End the claim `token` holds with `outcome`. False if it was gone.
    pub async fn release_org_mirror(
        &self,
        account_id: i64,
        token: &str,
        outcome: &MirrorOutcome<'_>,
    ) -> Result<bool, StoreError> {
        self.release_sync(&ORG_MIRRORS, account_id, token, outcome).await
    }

    /// The repositories organization mirror `account_id` discovered, by
    /// name, with their repository mirrors' status.
    pub async fn org_mirror_repositories(
        &self,
        account_id: i64,
    ) -> Result<Vec<OrgMirrorRepositoryRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT d.name, d.repository_id, d.skip_reason, d.discovered_ms, m.sync_status, \
                 m.last_sync_ms, m.last_error FROM org_mirror_repositories d \
                 LEFT JOIN repository_mirrors m ON m.repository_id = d.repository_id \
                 WHERE d.account_id = $1 ORDER BY d.name",
            )
            .bind(account_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Record that a discovery found `name`: skipped for `skip_reason`, or
    /// (keeping any link) mirrored.
    pub async fn record_org_mirror_repository(
        &self,
        account_id: i64,
        name: &str,
        skip_reason: Option<&str>,
    ) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO org_mirror_repositories (account_id, name, skip_reason, discovered_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, name) \
                 DO UPDATE SET skip_reason = excluded.skip_reason, discovered_ms = excluded.discovered_ms",
            )
            .bind(account_id)
            .bind(name)
            .bind(skip_reason)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Create repository `full_name` in `MIRROR` state for organization
    /// mirror `account_id`'s upstream repository `name`, give `robot_id`
    /// `write` on it and link it, in one transaction (so no push finds it
    /// writable). `None` if a repository of that name exists already.
    pub async fn create_org_mirrored_repository(
        &self,
        account_id: i64,
        name: &str,
        full_name: &str,
        public: bool,
        robot_id: i64,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let row: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO repositories (name, is_public, description, created_ms, updated_ms, state) \
                 VALUES ($1, $2, '', $3, $3, 'MIRROR') ON CONFLICT (name) DO NOTHING RETURNING id",
            )
            .bind(full_name)
            .bind(public)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id,)) = row else {
                return Ok(None);
            };
            sqlx::query(
                "INSERT INTO repository_permissions (repository_id, account_id, role) VALUES ($1, $2, 'write') \
                 ON CONFLICT (repository_id, account_id) WHERE account_id IS NOT NULL DO UPDATE SET role = excluded.role",
            )
            .bind(id)
            .bind(robot_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO org_mirror_repositories (account_id, name, repository_id, discovered_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, name) \
                 DO UPDATE SET repository_id = excluded.repository_id, skip_reason = NULL, \
                 discovered_ms = excluded.discovered_ms",
            )
            .bind(account_id)
            .bind(name)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(id))
        })
    }
}
