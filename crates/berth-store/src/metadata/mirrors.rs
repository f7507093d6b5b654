//! Repository mirrors: the configuration, its status, and the claim a
//! worker takes on a due mirror (`claim_token`, leased until
//! `sync_expiration_ms`), so exactly one instance syncs a mirror at once.
//! Clearing the claim (`sync-cancel`) tells the worker to stop.

use sqlx::Row;

use super::sync_claims::{MirrorOutcome, REPOSITORY_MIRRORS};
use crate::{Db, StoreError, now_ms, on_db};

/// A mirror's stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorRow {
    /// The mirrored repository.
    pub repository_id: i64,
    /// Its full name.
    pub repository: String,
    /// Whether the worker syncs it.
    pub is_enabled: bool,
    /// `host[:port]/path` of the upstream repository.
    pub external_reference: String,
    /// Sealed upstream user name.
    pub username_sealed: Option<Vec<u8>>,
    /// Sealed upstream password.
    pub password_sealed: Option<Vec<u8>>,
    /// The robot that writes the mirror.
    pub robot_id: i64,
    /// The robot's name.
    pub robot_name: String,
    /// Seconds between syncs.
    pub sync_interval_s: i64,
    /// When the next sync is due (ms), if scheduled.
    pub sync_start_ms: Option<i64>,
    /// The tag globs, as a JSON array.
    pub tag_globs: String,
    /// `external_registry_config`, as JSON.
    pub registry_config: String,
    /// Bound on one upstream operation, in seconds.
    pub timeout_s: i64,
    /// The architectures kept from indexes, as a JSON array.
    pub architecture_filter: Option<String>,
    /// Quay's status name.
    pub sync_status: String,
    /// Failed syncs left before the mirror waits a full interval.
    pub sync_retries_remaining: i64,
    /// When the running sync's claim lapses (ms).
    pub sync_expiration_ms: Option<i64>,
    /// When the last sync ended (ms).
    pub last_sync_ms: Option<i64>,
    /// Why the last sync failed.
    pub last_error: Option<String>,
}

/// The settable fields of a mirror.
#[derive(Debug, Clone)]
pub struct MirrorFields {
    /// Whether the worker syncs it.
    pub is_enabled: bool,
    /// `host[:port]/path` of the upstream repository.
    pub external_reference: String,
    /// Sealed upstream user name.
    pub username_sealed: Option<Vec<u8>>,
    /// Sealed upstream password.
    pub password_sealed: Option<Vec<u8>>,
    /// The robot that writes the mirror.
    pub robot_id: i64,
    /// Seconds between syncs.
    pub sync_interval_s: i64,
    /// When the next sync is due (ms).
    pub sync_start_ms: Option<i64>,
    /// The tag globs, as a JSON array.
    pub tag_globs: String,
    /// `external_registry_config`, as JSON.
    pub registry_config: String,
    /// Bound on one upstream operation, in seconds.
    pub timeout_s: i64,
    /// The architectures kept from indexes, as a JSON array.
    pub architecture_filter: Option<String>,
}

const COLUMNS: &str = "m.repository_id, r.name, m.is_enabled, m.external_reference, m.username_sealed, \
     m.password_sealed, m.robot_id, a.name, m.sync_interval_s, m.sync_start_ms, m.tag_globs, \
     m.registry_config, m.timeout_s, m.architecture_filter, m.sync_status, m.sync_retries_remaining, \
     m.sync_expiration_ms, m.last_sync_ms, m.last_error \
     FROM repository_mirrors m JOIN repositories r ON r.id = m.repository_id \
     JOIN accounts a ON a.id = m.robot_id";

/// A [`MirrorRow`] from a row of `COLUMNS` (a macro: SQLite and
/// PostgreSQL rows are different types).
macro_rules! mirror_row {
    ($r:expr) => {{
        let r = $r;
        MirrorRow {
            repository_id: r.try_get(0)?,
            repository: r.try_get(1)?,
            is_enabled: r.try_get(2)?,
            external_reference: r.try_get(3)?,
            username_sealed: r.try_get(4)?,
            password_sealed: r.try_get(5)?,
            robot_id: r.try_get(6)?,
            robot_name: r.try_get(7)?,
            sync_interval_s: r.try_get(8)?,
            sync_start_ms: r.try_get(9)?,
            tag_globs: r.try_get(10)?,
            registry_config: r.try_get(11)?,
            timeout_s: r.try_get(12)?,
            architecture_filter: r.try_get(13)?,
            sync_status: r.try_get(14)?,
            sync_retries_remaining: r.try_get(15)?,
            sync_expiration_ms: r.try_get(16)?,
            last_sync_ms: r.try_get(17)?,
            last_error: r.try_get(18)?,
        }
    }};
}

impl Db {
    /// The mirror of repository `repository_id`, if it has one.
    pub async fn mirror(&self, repository_id: i64) -> Result<Option<MirrorRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} WHERE m.repository_id = $1");
        on_db!(self.reader(), pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(repository_id).fetch_optional(pool).await?;
            Ok(match row {
                Some(r) => Some(mirror_row!(r)),
                None => None,
            })
        })
    }

    /// The robot that writes repository `repository_id`'s mirror, if any.
    pub async fn mirror_robot(&self, repository_id: i64) -> Result<Option<i64>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> =
                sqlx::query_as("SELECT robot_id FROM repository_mirrors WHERE repository_id = $1")
                    .bind(repository_id)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// Create the mirror of `repository_id` and set the repository's state
    /// to `MIRROR`, in one transaction. False if it already has one.
    pub async fn create_mirror(&self, repository_id: i64, f: &MirrorFields) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "INSERT INTO repository_mirrors (repository_id, is_enabled, external_reference, \
                 username_sealed, password_sealed, robot_id, sync_interval_s, sync_start_ms, tag_globs, \
                 registry_config, timeout_s, architecture_filter) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (repository_id) DO NOTHING",
            )
            .bind(repository_id)
            .bind(f.is_enabled)
            .bind(&f.external_reference)
            .bind(&f.username_sealed)
            .bind(&f.password_sealed)
            .bind(f.robot_id)
            .bind(f.sync_interval_s)
            .bind(f.sync_start_ms)
            .bind(&f.tag_globs)
            .bind(&f.registry_config)
            .bind(f.timeout_s)
            .bind(&f.architecture_filter)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("UPDATE repositories SET state = 'MIRROR' WHERE id = $1")
                .bind(repository_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Replace the settable fields of `repository_id`'s mirror. False if
    /// it has none.
    pub async fn update_mirror(&self, repository_id: i64, f: &MirrorFields) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE repository_mirrors SET is_enabled = $2, external_reference = $3, \
                 username_sealed = $4, password_sealed = $5, robot_id = $6, sync_interval_s = $7, \
                 sync_start_ms = $8, tag_globs = $9, registry_config = $10, timeout_s = $11, \
                 architecture_filter = $12 WHERE repository_id = $1",
            )
            .bind(repository_id)
            .bind(f.is_enabled)
            .bind(&f.external_reference)
            .bind(&f.username_sealed)
            .bind(&f.password_sealed)
            .bind(f.robot_id)
            .bind(f.sync_interval_s)
            .bind(f.sync_start_ms)
            .bind(&f.tag_globs)
            .bind(&f.registry_config)
            .bind(f.timeout_s)
            .bind(&f.architecture_filter)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Ask for a sync now (`SYNC_NOW`, at least one retry) unless one is
    /// running. False if there is no such mirror or it is syncing.
    pub async fn mirror_sync_now(&self, repository_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE repository_mirrors SET sync_status = 'SYNC_NOW', sync_start_ms = $2, \
                 sync_retries_remaining = CASE WHEN sync_retries_remaining < 1 THEN 1 \
                 ELSE sync_retries_remaining END \
                 WHERE repository_id = $1 AND sync_status <> 'SYNCING'",
            )
            .bind(repository_id)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Cancel a running or requested sync: status `CANCEL`, nothing
    /// scheduled, the claim dropped (the worker stops at its next check).
    /// False unless it was `SYNCING` or `SYNC_NOW`.
    pub async fn mirror_sync_cancel(&self, repository_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE repository_mirrors SET sync_status = 'CANCEL', sync_start_ms = NULL, \
                 sync_retries_remaining = 0, claim_token = NULL, sync_expiration_ms = NULL, \
                 last_sync_ms = $2 \
                 WHERE repository_id = $1 AND sync_status IN ('SYNCING', 'SYNC_NOW')",
            )
            .bind(repository_id)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Mirrors due now (ids).
    pub async fn due_mirrors(&self) -> Result<Vec<i64>, StoreError> {
        self.due_syncs(&REPOSITORY_MIRRORS).await
    }

    /// Claim mirror `repository_id` with `token` until `until_ms` if it is
    /// still due: it becomes `SYNCING`. Returns its row if claimed.
    pub async fn claim_mirror(
        &self,
        repository_id: i64,
        token: &str,
        until_ms: i64,
    ) -> Result<Option<MirrorRow>, StoreError> {
        if !self
            .claim_sync(&REPOSITORY_MIRRORS, repository_id, token, until_ms)
            .await?
        {
            return Ok(None);
        }
        self.mirror(repository_id).await
    }

    /// Extend the claim `token` holds to `until_ms`. False if the claim is
    /// gone (cancelled, or lapsed and taken by another instance).
    pub async fn renew_mirror_claim(
        &self,
        repository_id: i64,
        token: &str,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.renew_sync_claim(&REPOSITORY_MIRRORS, repository_id, token, until_ms)
            .await
    }

    /// End the claim `token` holds with `outcome`. False if the claim was
    /// gone (the sync was cancelled meanwhile: its status stays).
    pub async fn release_mirror(
        &self,
        repository_id: i64,
        token: &str,
        outcome: &MirrorOutcome<'_>,
    ) -> Result<bool, StoreError> {
        self.release_sync(&REPOSITORY_MIRRORS, repository_id, token, outcome)
            .await
    }

    /// Link blob `digest`, stored for any repository, into `repository_id`
    /// (a mirror skips downloading what the registry holds). Returns its
    /// size if it is now linked, `None` if the registry has no such blob.
    pub async fn link_stored_blob(
        &self,
        repository_id: i64,
        digest: &str,
    ) -> Result<Option<i64>, StoreError> {
        let lock = super::gc::digest_lock_sql(self);
        on_db!(self.writer(), pool => {
            // Under the digest's lock, as garbage collection deletes blob rows.
            let mut tx = pool.begin().await?;
            sqlx::query(lock).bind(digest).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO repository_blobs (repository_id, digest, created_ms) \
                 SELECT $1, digest, $2 FROM blobs WHERE digest = $3 \
                 ON CONFLICT (repository_id, digest) DO UPDATE SET created_ms = excluded.created_ms",
            )
            .bind(repository_id)
            .bind(now_ms())
            .bind(digest)
            .execute(&mut *tx)
            .await?;
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest \
                 WHERE l.repository_id = $1 AND l.digest = $2",
            )
            .bind(repository_id)
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(row.map(|r| r.0))
        })
    }
}
