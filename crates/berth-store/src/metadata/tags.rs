//! Tags: rows with a lifetime. A live tag has no `end_ms`; moving or deleting
//! a tag ends its row, so history stays queryable.

use crate::{Db, StoreError, now_ms, on_db};

/// A live tag with what the repository view shows of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveTagRow {
    /// Tag name.
    pub name: String,
    /// The manifest it points to.
    pub manifest_digest: String,
    /// When it was set.
    pub start_ms: i64,
    /// The manifest's size plus the blobs it references directly.
    pub size: i64,
}

impl Db {
    /// End a live tag. Returns whether it was live.
    pub async fn end_tag(&self, repo: i64, tag: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE repositories SET updated_ms = $2 WHERE id = $1")
                .bind(repo)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(
                "UPDATE tags SET end_ms = $3 WHERE repository_id = $1 AND name = $2 AND end_ms IS NULL",
            )
            .bind(repo)
            .bind(tag)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Up to `limit` live tags, most recently set first, with sizes.
    pub async fn live_tags(&self, repo: i64, limit: i64) -> Result<Vec<LiveTagRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT t.name, t.manifest_digest, t.start_ms, \
                 m.size + COALESCE((SELECT SUM(b.size) FROM manifest_blobs mb JOIN blobs b ON b.digest = mb.digest \
                                    WHERE mb.manifest_id = m.id), 0) AS size \
                 FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
                 WHERE t.repository_id = $1 AND t.end_ms IS NULL ORDER BY t.start_ms DESC, t.name LIMIT $2",
            )
            .bind(repo)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Up to `limit` live tag names sorting after `last`, in order.
    pub async fn list_tags(&self, repo: i64, last: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT name FROM tags WHERE repository_id = $1 AND end_ms IS NULL AND name > $2 \
                 ORDER BY name LIMIT $3",
            )
            .bind(repo)
            .bind(last)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }
}
