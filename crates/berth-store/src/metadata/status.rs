//! The registry's state for its status page: stored bytes and what
//! garbage collection last did (any instance's passes, in one place).

use crate::{Db, StoreError, on_db};

/// One recorded garbage collection pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct GcPassRow {
    /// When it ended (ms since the epoch).
    pub finished_ms: i64,
    /// Tag rows removed.
    pub tag_rows: i64,
    /// Manifests removed.
    pub manifests: i64,
    /// Blob links removed.
    pub blob_links: i64,
    /// Blob rows removed.
    pub blobs: i64,
    /// Bytes of those blobs.
    pub bytes: i64,
    /// Objects deleted from blob storage.
    pub objects: i64,
    /// Whether the pass stopped on an error (what it did still counts).
    pub failed: bool,
}

impl GcPassRow {
    /// Whether the pass removed nothing.
    pub fn is_empty(&self) -> bool {
        self.tag_rows == 0
            && self.manifests == 0
            && self.blob_links == 0
            && self.blobs == 0
            && self.bytes == 0
            && self.objects == 0
    }
}

const UPSERT_PASS: &str = "INSERT INTO gc_passes \
     (which, finished_ms, tag_rows, manifests, blob_links, blobs, bytes, objects, failed) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (which) DO UPDATE SET finished_ms = excluded.finished_ms, \
     tag_rows = excluded.tag_rows, manifests = excluded.manifests, \
     blob_links = excluded.blob_links, blobs = excluded.blobs, bytes = excluded.bytes, \
     objects = excluded.objects, failed = excluded.failed";

impl Db {
    /// Record a finished pass as the last one, and as the last freeing one
    /// if it removed anything.
    pub async fn record_gc_pass(&self, pass: &GcPassRow) -> Result<(), StoreError> {
        let mut which = vec!["last"];
        if !pass.is_empty() {
            which.push("last_freeing");
        }
        on_db!(self.writer(), pool => {
            for w in which {
                sqlx::query(UPSERT_PASS)
                    .bind(w)
                    .bind(pass.finished_ms)
                    .bind(pass.tag_rows)
                    .bind(pass.manifests)
                    .bind(pass.blob_links)
                    .bind(pass.blobs)
                    .bind(pass.bytes)
                    .bind(pass.objects)
                    .bind(pass.failed)
                    .execute(pool)
                    .await?;
            }
            Ok(())
        })
    }

    /// The last pass and the last pass that removed anything, if any.
    pub async fn gc_passes(&self) -> Result<(Option<GcPassRow>, Option<GcPassRow>), StoreError> {
        let sql = "SELECT finished_ms, tag_rows, manifests, blob_links, blobs, bytes, objects, failed \
                   FROM gc_passes WHERE which = $1";
        on_db!(self.reader(), pool => {
            let last: Option<GcPassRow> = sqlx::query_as(sql).bind("last").fetch_optional(pool).await?;
            let freeing: Option<GcPassRow> =
                sqlx::query_as(sql).bind("last_freeing").fetch_optional(pool).await?;
            Ok((last, freeing))
        })
    }

    /// How many blobs are stored and their total size in bytes.
    pub async fn stored_blob_totals(&self) -> Result<(i64, i64), StoreError> {
        on_db!(self.reader(), pool => {
            // SUM over BIGINT is NUMERIC in PostgreSQL: cast it back.
            let row: (i64, i64) =
                sqlx::query_as("SELECT count(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs")
                    .fetch_one(pool)
                    .await?;
            Ok(row)
        })
    }
}
