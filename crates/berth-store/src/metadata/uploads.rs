//! Upload sessions. The running hash state lives here, so a chunk can land
//! after a restart or on another instance without re-reading earlier bytes.

use crate::{Db, StoreError, now_ms, on_db};

/// A stored upload session.
#[derive(Debug, Clone)]
pub struct UploadRow {
    /// Repository the upload belongs to.
    pub repository_id: i64,
    /// Digest algorithm of the running hash.
    pub algorithm: String,
    /// Bytes received so far.
    pub size: i64,
    /// Serialized hash state after `size` bytes.
    pub hash_state: Vec<u8>,
}

impl Db {
    /// Start a session.
    pub async fn create_upload(
        &self,
        id: &str,
        repo: i64,
        algorithm: &str,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO uploads (id, repository_id, algorithm, size, hash_state, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, 0, $4, $5, $5)",
            )
            .bind(id)
            .bind(repo)
            .bind(algorithm)
            .bind(state)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Load a session.
    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64, String, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT repository_id, algorithm, size, hash_state FROM uploads WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(repository_id, algorithm, size, hash_state)| UploadRow {
                repository_id,
                algorithm,
                size,
                hash_state,
            }))
        })
    }

    /// Move a session from `old_size` to `new_size` with a new hash state.
    /// Returns false if the session changed meanwhile (or is gone).
    pub async fn advance_upload(
        &self,
        id: &str,
        old_size: i64,
        new_size: i64,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE uploads SET size = $3, hash_state = $4, updated_ms = $5 WHERE id = $1 AND size = $2",
            )
            .bind(id)
            .bind(old_size)
            .bind(new_size)
            .bind(state)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// End a session. Returns whether it existed.
    pub async fn delete_upload(&self, id: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(pool).await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Whether a session exists (used to spot orphaned staging data).
    pub async fn upload_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.upload(id).await?.is_some())
    }
}
