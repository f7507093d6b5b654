//! Namespace storage quotas: usage computed from what is stored, and the
//! configured quota with its warning and reject thresholds.

use super::accounts::is_unique_violation;
use crate::{Db, StoreError, now_ms, on_db};

/// One namespace's quota.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QuotaRow {
    /// Row id.
    pub id: i64,
    /// The namespace's account id.
    pub namespace_id: i64,
    /// Allowed bytes.
    pub limit_bytes: i64,
}

/// One threshold of a quota.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QuotaLimitRow {
    /// Row id.
    pub id: i64,
    /// `Warning` or `Reject`.
    pub kind: String,
    /// Percent of the quota's bytes at which it applies (1 to 100).
    pub threshold_percent: i32,
}

/// Whether a repository (alias `r`) is in namespace `$1`: its first path
/// component, or `library` for one-component names. Compared with
/// `substr`, never `LIKE`, so no character of a name is a pattern.
pub(crate) const IN_NAMESPACE: &str = "(substr(r.name, 1, length($1) + 1) = $1 || '/' \
     OR ($1 = 'library' AND r.name NOT LIKE '%/%'))";

/// A quota joined with one of its limits (none: the limit columns are
/// NULL).
type QuotaWithLimit = (i64, i64, i64, Option<i64>, Option<String>, Option<i32>);

/// Digests passed per query when checking a manifest's blobs.
const DIGEST_BATCH: usize = 500;

impl Db {
    /// Bytes namespace `ns` uses: the sizes of the distinct blobs referenced
    /// by any manifest of any of its repositories, each counted once.
    pub async fn namespace_usage(&self, ns: &str) -> Result<i64, StoreError> {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b WHERE b.digest IN (\
             SELECT mb.digest FROM manifest_blobs mb JOIN manifests m ON m.id = mb.manifest_id \
             JOIN repositories r ON r.id = m.repository_id WHERE {IN_NAMESPACE})"
        );
        on_db!(self.reader(), pool => {
            let (bytes,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(ns)
                .fetch_one(pool)
                .await?;
            Ok(bytes)
        })
    }

    /// Bytes that the blobs `digests` would add to namespace `ns`: the sizes
    /// of those stored but referenced by no manifest of the namespace yet.
    pub async fn namespace_new_blob_bytes(&self, ns: &str, digests: &[String]) -> Result<i64, StoreError> {
        let mut unique: Vec<&str> = digests.iter().map(String::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        let mut total = 0i64;
        for batch in unique.chunks(DIGEST_BATCH) {
            let placeholders: Vec<String> = (2..batch.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b WHERE b.digest IN ({}) \
                 AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb JOIN manifests m ON m.id = mb.manifest_id \
                 JOIN repositories r ON r.id = m.repository_id WHERE mb.digest = b.digest AND {IN_NAMESPACE})",
                placeholders.join(", ")
            );
            let bytes: i64 = on_db!(self.reader(), pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ns);
                for digest in batch {
                    query = query.bind(*digest);
                }
                let (bytes,): (i64,) = query.fetch_one(pool).await?;
                bytes
            });
            total = total.saturating_add(bytes);
        }
        Ok(total)
    }

    /// The quota of namespace `ns` (a user or organization) with its
    /// limits, ordered by threshold.
    pub async fn namespace_quota(
        &self,
        ns: &str,
    ) -> Result<Option<(QuotaRow, Vec<QuotaLimitRow>)>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<QuotaWithLimit> = sqlx::query_as(
                "SELECT q.id, q.namespace_id, q.limit_bytes, l.id, l.kind, l.threshold_percent \
                 FROM quotas q JOIN accounts a ON a.id = q.namespace_id \
                 LEFT JOIN quota_limits l ON l.quota_id = q.id \
                 WHERE a.name = $1 AND a.kind IN ('user', 'org') \
                 ORDER BY l.threshold_percent, l.kind, l.id",
            )
            .bind(ns)
            .fetch_all(pool)
            .await?;
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let quota = QuotaRow {
                id: first.0,
                namespace_id: first.1,
                limit_bytes: first.2,
            };
            let limits = rows
                .into_iter()
                .filter_map(|(_, _, _, id, kind, percent)| {
                    Some(QuotaLimitRow {
                        id: id?,
                        kind: kind?,
                        threshold_percent: percent?,
                    })
                })
                .collect();
            Ok(Some((quota, limits)))
        })
    }

    /// Give namespace account `namespace_id` a quota; `Exists` if it has
    /// one.
    pub async fn create_quota(&self, namespace_id: i64, limit_bytes: i64) -> Result<i64, StoreError> {
        on_db!(self.writer(), pool => {
            let row: Result<(i64,), sqlx::Error> = sqlx::query_as(
                "INSERT INTO quotas (namespace_id, limit_bytes, created_ms) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(namespace_id)
            .bind(limit_bytes)
            .bind(now_ms())
            .fetch_one(pool)
            .await;
            match row {
                Ok((id,)) => Ok(id),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Exists("quota".into())),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Change a quota's bytes; `false` if there is no such quota.
    pub async fn set_quota_bytes(&self, quota_id: i64, limit_bytes: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE quotas SET limit_bytes = $2 WHERE id = $1")
                .bind(quota_id)
                .bind(limit_bytes)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Delete a quota and its limits; `false` if there is no such quota.
    pub async fn delete_quota(&self, quota_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM quotas WHERE id = $1")
                .bind(quota_id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Add a threshold to a quota; `Exists` if it has the same one.
    pub async fn create_quota_limit(
        &self,
        quota_id: i64,
        kind: &str,
        percent: i32,
    ) -> Result<i64, StoreError> {
        on_db!(self.writer(), pool => {
            let row: Result<(i64,), sqlx::Error> = sqlx::query_as(
                "INSERT INTO quota_limits (quota_id, kind, threshold_percent) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(quota_id)
            .bind(kind)
            .bind(percent)
            .fetch_one(pool)
            .await;
            match row {
                Ok((id,)) => Ok(id),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Exists("quota limit".into())),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Change a threshold of quota `quota_id`; `false` if it has no such
    /// limit, `Exists` if it would duplicate another.
    pub async fn update_quota_limit(
        &self,
        quota_id: i64,
        limit_id: i64,
        kind: &str,
        percent: i32,
    ) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE quota_limits SET kind = $3, threshold_percent = $4 WHERE id = $2 AND quota_id = $1",
            )
            .bind(quota_id)
            .bind(limit_id)
            .bind(kind)
            .bind(percent)
            .execute(pool)
            .await;
            match done {
                Ok(done) => Ok(done.rows_affected() > 0),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Exists("quota limit".into())),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Delete a threshold of quota `quota_id`; `false` if it has no such
    /// limit.
    pub async fn delete_quota_limit(&self, quota_id: i64, limit_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM quota_limits WHERE id = $2 AND quota_id = $1")
                .bind(quota_id)
                .bind(limit_id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}
