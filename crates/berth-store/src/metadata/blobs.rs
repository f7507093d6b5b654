//! Blobs (global, content-addressed) and their links to repositories. A
//! repository may only read blobs linked to it.

use crate::{Db, StoreError, now_ms, on_db};

impl Db {
    /// Size of `digest` if it is linked to the repository named `repo`
    /// (one query: this is on the hot path of every blob HEAD and GET).
    pub async fn linked_blob_size(&self, repo: &str, digest: &str) -> Result<Option<i64>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT b.size FROM repositories r \
                 JOIN repository_blobs l ON l.repository_id = r.id \
                 JOIN blobs b ON b.digest = l.digest \
                 WHERE r.name = $1 AND l.digest = $2",
            )
            .bind(repo)
            .bind(digest)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// Whether a blob row exists (in any repository).
    pub async fn blob_size(&self, digest: &str) -> Result<Option<i64>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as("SELECT size FROM blobs WHERE digest = $1")
                .bind(digest)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// Record a blob whose bytes are durably stored, link it to the
    /// repository and close the upload session that produced it, atomically.
    pub async fn commit_blob(
        &self,
        repo: i64,
        digest: &str,
        size: i64,
        upload: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO blobs (digest, size, created_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest)
            .bind(size)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO repository_blobs (repository_id, digest, created_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (repository_id, digest) DO NOTHING",
            )
            .bind(repo)
            .bind(digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(id) = upload {
                sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Link a blob already in repository `from` into `repo` (cross-repository
    /// mount). Returns the blob's size if it is now linked.
    pub async fn mount_blob(&self, repo: i64, from: i64, digest: &str) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO repository_blobs (repository_id, digest, created_ms) \
                 SELECT $1, digest, $3 FROM repository_blobs WHERE repository_id = $2 AND digest = $4 \
                 ON CONFLICT (repository_id, digest) DO NOTHING",
            )
            .bind(repo)
            .bind(from)
            .bind(now)
            .bind(digest)
            .execute(pool)
            .await?;
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest \
                 WHERE l.repository_id = $1 AND l.digest = $2",
            )
            .bind(repo)
            .bind(digest)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// Remove a blob's link to a repository. Returns whether it was linked.
    pub async fn unlink_blob(&self, repo: i64, digest: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
                .bind(repo)
                .bind(digest)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}
