//! The usage (audit) log.

use crate::{Db, StoreError, on_db};

/// One entry to record.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEntry {
    /// What happened (`push_repo`, `create_robot`, ...).
    pub kind: String,
    /// Who did it, if anyone was authenticated.
    pub performer: Option<String>,
    /// `user`, `robot`, `oauth` or `app`.
    pub performer_kind: Option<String>,
    /// The namespace it happened in.
    pub namespace: Option<String>,
    /// The repository's name within the namespace, if any.
    pub repository: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// Details as a JSON object.
    pub metadata: String,
    /// When, in ms since the epoch.
    pub created_ms: i64,
}

/// One stored entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    /// Row id (entries are ordered by it).
    pub id: i64,
    /// What happened.
    pub kind: String,
    /// Who did it.
    pub performer: Option<String>,
    /// The performer's kind.
    pub performer_kind: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// The namespace account's kind (`user` or `org`) if it still exists
    /// under that name.
    pub namespace_kind: Option<String>,
    /// Repository within the namespace.
    pub repository: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// JSON object.
    pub metadata: String,
    /// When.
    pub created_ms: i64,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this repository (within `namespace`).
    pub repository: Option<String>,
    /// Only this performer.
    pub performer: Option<String>,
    /// From this time (inclusive).
    pub start_ms: i64,
    /// Until this time (exclusive).
    pub end_ms: i64,
    /// Only entries up to this id: a snapshot, so entries written while a
    /// range is read page by page do not shift it (see
    /// [`Db::audit_max_id`]).
    pub max_id: Option<i64>,
}

/// A position in the log's order (`created_ms`, then `id`).
pub type AuditCursor = (i64, i64);

/// The columns of an [`AuditRow`], the namespace's kind looked up by name.
const COLUMNS: &str = "id, kind, performer, performer_kind, namespace, \
     (SELECT accounts.kind FROM accounts WHERE accounts.name = audit_logs.namespace) AS namespace_kind, \
     repository, ip, metadata, created_ms";

/// Rows per INSERT statement (8 parameters each, well within both
/// databases' limits).
const AUDIT_ROWS_PER_INSERT: usize = 256;

const FILTER: &str = "($1 IS NULL OR namespace = $1) AND ($2 IS NULL OR repository = $2) \
     AND ($3 IS NULL OR performer = $3) AND created_ms >= $4 AND created_ms < $5 \
     AND ($6 IS NULL OR id <= $6)";

/// Inserts one entry inside a caller's transaction (workers that end a row
/// and log it together), binding the fields in [`NewAuditEntry`]'s order.
pub(crate) const INSERT_AUDIT_ENTRY: &str = "INSERT INTO audit_logs \
     (kind, performer, performer_kind, namespace, repository, ip, metadata, created_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

impl Db {
    /// Append entries.
    pub async fn record_audit(&self, entries: &[NewAuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        // One multi-row INSERT per chunk: entries come in batches of
        // hundreds, and one statement costs far less than hundreds.
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            for chunk in entries.chunks(AUDIT_ROWS_PER_INSERT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO audit_logs (kind, performer, performer_kind, namespace, repository, ip, metadata, created_ms) ",
                );
                insert.push_values(chunk, |mut row, e| {
                    row.push_bind(e.kind.as_str())
                        .push_bind(e.performer.as_deref())
                        .push_bind(e.performer_kind.as_deref())
                        .push_bind(e.namespace.as_deref())
                        .push_bind(e.repository.as_deref())
                        .push_bind(e.ip.as_deref())
                        .push_bind(e.metadata.as_str())
                        .push_bind(e.created_ms);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The newest entry's id (0 if there is none).
    pub async fn audit_max_id(&self) -> Result<i64, StoreError> {
        on_db!(self.reader(), pool => {
            let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM audit_logs")
                .fetch_one(pool)
                .await?;
            Ok(max.unwrap_or(0))
        })
    }

    /// Up to `limit` entries matching `q`, newest first (by time, then
    /// id), after `cursor` in that order if given.
    pub async fn audit_entries(
        &self,
        q: &AuditQuery,
        cursor: Option<AuditCursor>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_logs WHERE {FILTER} \
             AND ($7 IS NULL OR created_ms < $7 OR (created_ms = $7 AND id < $8)) \
             ORDER BY created_ms DESC, id DESC LIMIT $9"
        );
        self.audit_page(sql, q, cursor, limit).await
    }

    /// Up to `limit` entries matching `q`, oldest first (by time, then
    /// id), after `cursor` in that order if given.
    pub async fn audit_entries_oldest_first(
        &self,
        q: &AuditQuery,
        cursor: Option<AuditCursor>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_logs WHERE {FILTER} \
             AND ($7 IS NULL OR created_ms > $7 OR (created_ms = $7 AND id > $8)) \
             ORDER BY created_ms ASC, id ASC LIMIT $9"
        );
        self.audit_page(sql, q, cursor, limit).await
    }

    async fn audit_page(
        &self,
        sql: String,
        q: &AuditQuery,
        cursor: Option<AuditCursor>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(q.namespace.as_deref())
                .bind(q.repository.as_deref())
                .bind(q.performer.as_deref())
                .bind(q.start_ms)
                .bind(q.end_ms)
                .bind(q.max_id)
                .bind(cursor.map(|c| c.0))
                .bind(cursor.map(|c| c.1))
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Counts of matching entries per kind and UTC day (`day_ms` is the
    /// day's first millisecond).
    pub async fn audit_counts(&self, q: &AuditQuery) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let sql = format!(
            "SELECT kind, (created_ms / 86400000) * 86400000 AS day_ms, COUNT(*) FROM audit_logs \
             WHERE {FILTER} GROUP BY kind, day_ms ORDER BY day_ms, kind"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(q.namespace.as_deref())
                .bind(q.repository.as_deref())
                .bind(q.performer.as_deref())
                .bind(q.start_ms)
                .bind(q.end_ms)
                .bind(q.max_id)
                .fetch_all(pool)
                .await?)
        })
    }
}
