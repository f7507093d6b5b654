//! What a garbage collection pass would remove now and the storage it
//! would free, read from one snapshot without changing anything: the same
//! candidate repositories, tag windows and manifest graphs as the pass
//! (`gc.rs`), then the blob totals with the garbage manifests left out.

use super::gc::{manifest_nodes, namespace_window_sql, recoverable_from, unrecoverable_tags_sql};
use super::{ManifestNode, RepositorySweep};
use crate::db::PoolRef;
use crate::{Db, StoreError, now_ms};

/// What a pass would remove, and what blob storage holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionPreview {
    /// Tag rows past their namespace's time-machine window.
    pub tag_rows: u64,
    /// Manifests nothing keeps.
    pub manifests: u64,
    /// Blob links no kept manifest uses, past the grace period.
    pub blob_links: u64,
    /// Blob rows a pass would delete (their objects with them).
    pub blobs: u64,
    /// Bytes of those blobs.
    pub bytes: u64,
    /// Blob rows stored.
    pub stored_blobs: u64,
    /// Bytes of the stored blobs.
    pub stored_bytes: u64,
    /// Objects whose rows are gone and whose deletion is queued.
    pub queued_objects: u64,
}

/// The garbage manifests' ids as a table `garbage(id)`, from `$1`: a
/// PostgreSQL `BIGINT[]` or a SQLite JSON array.
macro_rules! totals_sql {
    (postgres, $query:literal) => {
        concat!("WITH garbage(id) AS (SELECT unnest($1::BIGINT[])) ", $query)
    };
    (sqlite, $query:literal) => {
        concat!("WITH garbage(id) AS (SELECT value FROM json_each($1)) ", $query)
    };
}

/// Old links (`$2`: the grace cutoff) that no kept manifest of their
/// repository references.
macro_rules! links_sql {
    ($db:ident) => {
        totals_sql!(
            $db,
            "SELECT COUNT(*) FROM repository_blobs l WHERE l.created_ms < $2 \
             AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb JOIN manifests m ON m.id = mb.manifest_id \
                             WHERE m.repository_id = l.repository_id AND mb.digest = l.digest \
                             AND m.id NOT IN (SELECT id FROM garbage))"
        )
    };
}

/// Blob rows left with no link and no reference: a link a pass keeps is a
/// young one (`$2`) or one a kept manifest references, so a kept reference
/// is the test. Pinned (`$3`: now) or queued digests are skipped, as
/// `Db::delete_garbage_blob` skips them.
macro_rules! blobs_sql {
    ($db:ident) => {
        totals_sql!(
            $db,
            "SELECT COUNT(*), CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b \
             WHERE NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest AND l.created_ms >= $2) \
             AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = b.digest \
                             AND mb.manifest_id NOT IN (SELECT id FROM garbage)) \
             AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.digest = b.digest AND p.expires_ms > $3) \
             AND NOT EXISTS (SELECT 1 FROM blob_deletions d WHERE d.digest = b.digest)"
        )
    };
}

/// The preview's reads inside transaction `$tx`, with the garbage ids
/// bound as `$ids(&[i64])` for backend `$db`.
macro_rules! preview {
    ($tx:ident, $db:ident, $ids:expr, $repos:expr, $sweep:expr, $garbage:expr) => {{
        let mut preview = CollectionPreview::default();
        let mut doomed: Vec<i64> = Vec::new();
        for &repo in $repos {
            let recoverable_from = recoverable_from!(&mut *$tx, repo, $sweep);
            let (tag_rows,): (i64,) = sqlx::query_as(unrecoverable_tags_sql!("SELECT COUNT(*) "))
                .bind(repo)
                .bind(recoverable_from)
                .fetch_one(&mut *$tx)
                .await?;
            preview.tag_rows += count(tag_rows);
            let nodes = manifest_nodes!($tx, repo, recoverable_from);
            doomed.extend($garbage(&nodes));
        }
        preview.manifests = u64::try_from(doomed.len()).unwrap_or(u64::MAX);
        let ids = $ids(&doomed);
        let (links,): (i64,) = sqlx::query_as(links_sql!($db))
            .bind(&ids)
            .bind($sweep.grace_cutoff_ms)
            .fetch_one(&mut *$tx)
            .await?;
        preview.blob_links = count(links);
        let (blobs, bytes): (i64, i64) = sqlx::query_as(blobs_sql!($db))
            .bind(&ids)
            .bind($sweep.grace_cutoff_ms)
            .bind(now_ms())
            .fetch_one(&mut *$tx)
            .await?;
        (preview.blobs, preview.bytes) = (count(blobs), count(bytes));
        let (stored_blobs, stored_bytes): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs")
                .fetch_one(&mut *$tx)
                .await?;
        (preview.stored_blobs, preview.stored_bytes) = (count(stored_blobs), count(stored_bytes));
        let (queued,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM blob_deletions")
            .fetch_one(&mut *$tx)
            .await?;
        preview.queued_objects = count(queued);
        $tx.commit().await?;
        Ok(preview)
    }};
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Db {
    /// What a garbage collection pass with `sweep` would remove now, with
    /// `garbage` picking the manifests as the pass does, and the blob
    /// storage totals; all read from one snapshot.
    pub async fn preview_collection(
        &self,
        sweep: &RepositorySweep,
        garbage: &(dyn Fn(&[ManifestNode]) -> Vec<i64> + Sync),
    ) -> Result<CollectionPreview, StoreError> {
        let repos = self.gc_candidate_repositories(sweep).await?;
        match self.reader() {
            // A read transaction sees one snapshot of a WAL database.
            PoolRef::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let json = |ids: &[i64]| {
                    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                    format!("[{}]", ids.join(","))
                };
                preview!(tx, sqlite, json, &repos, sweep, garbage)
            }
            PoolRef::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                preview!(tx, postgres, <[i64]>::to_vec, &repos, sweep, garbage)
            }
        }
    }
}
