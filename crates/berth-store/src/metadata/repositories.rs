//! Repositories: created on first push, listed by the catalog.

use crate::{Db, StoreError, now_ms, on_db};

impl Db {
    /// The id of repository `name`, creating it if it does not exist.
    pub async fn ensure_repository(&self, name: &str) -> Result<i64, StoreError> {
        // Almost always it exists: answer from a reader, keep the writer free.
        if let Some(id) = self.repository_id(name).await? {
            return Ok(id);
        }
        let now = now_ms();
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO repositories (name, created_ms, updated_ms) VALUES ($1, $2, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(now)
            .execute(pool)
            .await?;
            let (id,): (i64,) = sqlx::query_as("SELECT id FROM repositories WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await?;
            Ok(id)
        })
    }

    /// The id of repository `name`, if it exists.
    pub async fn repository_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM repositories WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// Up to `limit` repository names sorting after `last`, in order.
    pub async fn list_repositories(&self, last: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2",
            )
            .bind(last)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// Whether any repository lives in namespace `namespace`.
    pub async fn namespace_has_repositories(&self, namespace: &str) -> Result<bool, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM repositories WHERE substr(name, 1, length($1) + 1) = $1 || '/' LIMIT 1",
            )
            .bind(namespace)
            .fetch_optional(pool)
            .await?;
            Ok(row.is_some())
        })
    }
}
