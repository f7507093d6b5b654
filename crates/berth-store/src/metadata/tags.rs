//! Tags: rows with a lifetime. A live tag has no `end_ms`; moving or deleting
//! a tag ends its row, so history stays queryable.

use crate::{Db, StoreError, now_ms, on_db};

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
