//! Image indexing state: the queue of pushed manifests, per-layer results
//! and per-image reports. Results are opaque JSON to this crate.

use crate::{Db, StoreError, now_ms, on_db};

/// A claimed indexing job.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScanJob {
    /// Queue row id (to finish the job).
    pub id: i64,
    /// Repository name.
    pub repository: String,
    /// Manifest digest.
    pub manifest_digest: String,
    /// Claims so far, this one included.
    pub attempts: i32,
}

impl Db {
    /// Queue a manifest for indexing (once: a re-push while it waits is a
    /// no-op).
    pub async fn enqueue_scan(&self, repository_id: i64, manifest_digest: &str) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO scan_queue (repository_id, manifest_digest, queued_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (repository_id, manifest_digest) DO NOTHING",
            )
            .bind(repository_id)
            .bind(manifest_digest)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Claim the oldest job whose lease is free for `lease_ms`, skipping
    /// jobs already tried `max_attempts` times. The lease is re-checked on
    /// the row itself, so two workers never hold the same job.
    pub async fn claim_scan(&self, lease_ms: i64, max_attempts: i32) -> Result<Option<ScanJob>, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let claimed: Option<(i64,)> = sqlx::query_as(
                "UPDATE scan_queue SET lease_until_ms = $1, attempts = attempts + 1 \
                 WHERE id = (SELECT id FROM scan_queue \
                             WHERE (lease_until_ms IS NULL OR lease_until_ms < $2) AND attempts < $3 \
                             ORDER BY id LIMIT 1) \
                   AND (lease_until_ms IS NULL OR lease_until_ms < $2) \
                 RETURNING id",
            )
            .bind(now + lease_ms)
            .bind(now)
            .bind(max_attempts)
            .fetch_optional(pool)
            .await?;
            let Some((id,)) = claimed else { return Ok(None) };
            let job: Option<ScanJob> = sqlx::query_as(
                "SELECT q.id, r.name AS repository, q.manifest_digest, q.attempts \
                 FROM scan_queue q JOIN repositories r ON r.id = q.repository_id WHERE q.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            Ok(job)
        })
    }

    /// Remove a finished job.
    pub async fn finish_scan(&self, id: i64) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query("DELETE FROM scan_queue WHERE id = $1").bind(id).execute(pool).await?;
            Ok(())
        })
    }

    /// Jobs waiting or running.
    pub async fn scan_queue_len(&self) -> Result<i64, StoreError> {
        on_db!(self.reader(), pool => {
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM scan_queue").fetch_one(pool).await?;
            Ok(n)
        })
    }

    /// Jobs still to be worked (tried fewer than `max_attempts` times) and
    /// when the oldest of them was queued, in milliseconds (a metrics gauge).
    pub async fn scan_backlog(&self, max_attempts: i32) -> Result<(i64, Option<i64>), StoreError> {
        on_db!(self.reader(), pool => {
            let row: (i64, Option<i64>) =
                sqlx::query_as("SELECT count(*), min(queued_ms) FROM scan_queue WHERE attempts < $1")
                    .bind(max_attempts)
                    .fetch_one(pool)
                    .await?;
            Ok(row)
        })
    }

    /// A layer's stored result for a scanner format.
    pub async fn scan_layer(&self, digest: &str, format: i32) -> Result<Option<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT result FROM scan_layers WHERE digest = $1 AND format = $2")
                    .bind(digest)
                    .bind(format)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// Store a layer's result (the first writer wins: results for a digest
    /// and format never differ).
    pub async fn put_scan_layer(&self, digest: &str, format: i32, result: &str) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO scan_layers (digest, format, result, created_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (digest, format) DO NOTHING",
            )
            .bind(digest)
            .bind(format)
            .bind(result)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// An image's stored report for a scanner format.
    pub async fn scan_report(
        &self,
        manifest_digest: &str,
        format: i32,
    ) -> Result<Option<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT report FROM scan_reports WHERE manifest_digest = $1 AND format = $2")
                    .bind(manifest_digest)
                    .bind(format)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// The stored reports of `digests` for a scanner format, as (digest,
    /// report); digests without one are left out.
    pub async fn scan_reports_of(
        &self,
        digests: &[String],
        format: i32,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::with_capacity(digests.len());
        on_db!(self.reader(), pool => {
            for chunk in digests.chunks(super::vulns::KEYS_PER_QUERY) {
                let mut q = sqlx::QueryBuilder::new("SELECT manifest_digest, report FROM scan_reports WHERE format = ");
                q.push_bind(format).push(" AND manifest_digest IN (");
                let mut list = q.separated(", ");
                for digest in chunk {
                    list.push_bind(digest);
                }
                q.push(")");
                let rows: Vec<(String, String)> = q.build_query_as().fetch_all(pool).await?;
                out.extend(rows);
            }
            Ok(out)
        })
    }

    /// Store (or replace) an image's report.
    pub async fn put_scan_report(
        &self,
        manifest_digest: &str,
        format: i32,
        report: &str,
    ) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO scan_reports (manifest_digest, format, report, created_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (manifest_digest, format) DO UPDATE SET report = excluded.report, created_ms = excluded.created_ms",
            )
            .bind(manifest_digest)
            .bind(format)
            .bind(report)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(())
        })
    }
}
