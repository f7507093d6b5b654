//! Scheduled syncs claimed by one worker at a time, shared by repository
//! mirrors and organization mirrors: both tables keep a schedule
//! (`sync_start_ms`, `sync_retries_remaining`), a status and a claim
//! (`claim_token`, leased until `sync_expiration_ms`). A row is due when
//! asked for (`SYNC_NOW`, unclaimed), when its start has come (retries
//! left), or when the claim of a sync still `SYNCING` has lapsed; the
//! claim is one conditional UPDATE, so two instances never both win.

use crate::{Db, StoreError, now_ms, on_db};

/// A table of claimed syncs.
pub(crate) struct SyncTable {
    /// The table.
    pub table: &'static str,
    /// Its key column.
    pub key: &'static str,
    /// A further condition on a due row (in terms of `t`), or empty.
    pub also_due: &'static str,
}

/// Repository mirrors: due only while the repository is a mirror.
pub(crate) const REPOSITORY_MIRRORS: SyncTable = SyncTable {
    table: "repository_mirrors",
    key: "repository_id",
    also_due: "AND EXISTS (SELECT 1 FROM repositories r WHERE r.id = t.repository_id AND r.state = 'MIRROR')",
};

/// Organization mirrors' discoveries.
pub(crate) const ORG_MIRRORS: SyncTable = SyncTable {
    table: "org_mirrors",
    key: "account_id",
    also_due: "",
};

/// How a sync ended, recorded as its claim is released.
#[derive(Debug, Clone, Copy)]
pub struct MirrorOutcome<'a> {
    /// Quay's status name.
    pub status: &'a str,
    /// When the next sync is due.
    pub next_start_ms: Option<i64>,
    /// Failed syncs left.
    pub retries: i64,
    /// Why it failed.
    pub error: Option<&'a str>,
}

impl SyncTable {
    /// What makes a row (aliased `t`) due at `$1`.
    fn due(&self) -> String {
        format!(
            "t.is_enabled {} AND ( \
             (t.sync_status = 'SYNC_NOW' AND t.claim_token IS NULL) \
             OR (t.sync_status <> 'SYNCING' AND t.sync_status <> 'SYNC_NOW' AND t.sync_start_ms IS NOT NULL \
                 AND t.sync_start_ms <= $1 AND t.sync_retries_remaining > 0) \
             OR (t.sync_status = 'SYNCING' AND t.sync_expiration_ms <= $1))",
            self.also_due
        )
    }
}

impl Db {
    /// The keys of the rows due now, the earliest start first.
    pub(crate) async fn due_syncs(&self, t: &SyncTable) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "SELECT t.{key} FROM {table} t WHERE {due} ORDER BY t.sync_start_ms",
            key = t.key,
            table = t.table,
            due = t.due()
        );
        on_db!(self.reader(), pool => {
            let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(now_ms()).fetch_all(pool).await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// Claim row `key` with `token` until `until_ms` if it is still due:
    /// it becomes `SYNCING`. True if this call won it.
    pub(crate) async fn claim_sync(
        &self,
        t: &SyncTable,
        key: i64,
        token: &str,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {table} AS t SET sync_status = 'SYNCING', claim_token = $2, \
             sync_expiration_ms = $3 WHERE t.{key} = $4 AND {due}",
            table = t.table,
            key = t.key,
            due = t.due()
        );
        Ok(on_db!(self.writer(), pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(now_ms())
                .bind(token)
                .bind(until_ms)
                .bind(key)
                .execute(pool)
                .await?
                .rows_affected()
        }) > 0)
    }

    /// Extend the claim `token` holds to `until_ms`. False if the claim is
    /// gone (cancelled, or lapsed and taken by another instance).
    pub(crate) async fn renew_sync_claim(
        &self,
        t: &SyncTable,
        key: i64,
        token: &str,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {table} SET sync_expiration_ms = $3 WHERE {key} = $1 AND claim_token = $2",
            table = t.table,
            key = t.key
        );
        on_db!(self.writer(), pool => {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(key)
                .bind(token)
                .bind(until_ms)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// End the claim `token` holds with `outcome`. False if the claim was
    /// gone (the sync was cancelled meanwhile: its status stays).
    pub(crate) async fn release_sync(
        &self,
        t: &SyncTable,
        key: i64,
        token: &str,
        outcome: &MirrorOutcome<'_>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {table} SET sync_status = $3, sync_start_ms = $4, \
             sync_retries_remaining = $5, last_error = $6, last_sync_ms = $7, \
             claim_token = NULL, sync_expiration_ms = NULL \
             WHERE {key} = $1 AND claim_token = $2",
            table = t.table,
            key = t.key
        );
        on_db!(self.writer(), pool => {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(key)
                .bind(token)
                .bind(outcome.status)
                .bind(outcome.next_start_ms)
                .bind(outcome.retries)
                .bind(outcome.error)
                .bind(now_ms())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}
