//! Blobs (global, content-addressed) and their links to repositories. A
//! repository may only read blobs linked to it.

use crate::{Db, StoreError, now_ms, on_db};

/// A blob's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRow {
    /// Size in bytes.
    pub size: i64,
    /// Object key of the bytes, when not the digest's own.
    pub location: Option<String>,
}

/// A verified, stored blob to record.
#[derive(Debug, Clone)]
pub struct CommitBlob<'a> {
    /// Repository that uploaded it.
    pub repository_id: i64,
    /// `alg:hex`.
    pub digest: &'a str,
    /// Size in bytes.
    pub size: i64,
    /// Object key of the bytes, when not the digest's own.
    pub location: Option<&'a str>,
    /// Session to close with the commit.
    pub upload: Option<&'a str>,
    /// Overwrite the location of an existing row (its bytes were lost).
    pub replace: bool,
}

impl Db {
    /// Size and stored location (`None`: the digest's own key) of `digest`
    /// if it is linked to the repository named `repo` (one query: this is on
    /// the hot path of every blob HEAD and GET).
    pub async fn linked_blob(&self, repo: &str, digest: &str) -> Result<Option<BlobRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64, Option<String>)> = sqlx::query_as(
                "SELECT b.size, b.location FROM repositories r \
                 JOIN repository_blobs l ON l.repository_id = r.id \
                 JOIN blobs b ON b.digest = l.digest \
                 WHERE r.name = $1 AND l.digest = $2",
            )
            .bind(repo)
            .bind(digest)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(size, location)| BlobRow { size, location }))
        })
    }

    /// A blob row (in any repository).
    pub async fn blob(&self, digest: &str) -> Result<Option<BlobRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64, Option<String>)> =
                sqlx::query_as("SELECT size, location FROM blobs WHERE digest = $1")
                    .bind(digest)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(|(size, location)| BlobRow { size, location }))
        })
    }

    /// Record a blob whose bytes are durably stored at `location`, link it
    /// to the repository and close the upload session that produced it,
    /// atomically. An existing row wins unless `replace` (its bytes are
    /// gone); returns whether `location` is the one recorded.
    pub async fn commit_blob(&self, commit: &CommitBlob<'_>) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO blobs (digest, size, created_ms, location) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (digest) DO NOTHING",
            )
            .bind(commit.digest)
            .bind(commit.size)
            .bind(now)
            .bind(commit.location)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let recorded = if !inserted && commit.replace {
                sqlx::query("UPDATE blobs SET location = $2 WHERE digest = $1")
                    .bind(commit.digest)
                    .bind(commit.location)
                    .execute(&mut *tx)
                    .await?;
                true
            } else {
                inserted
            };
            sqlx::query(
                "INSERT INTO repository_blobs (repository_id, digest, created_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (repository_id, digest) DO NOTHING",
            )
            .bind(commit.repository_id)
            .bind(commit.digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(id) = commit.upload {
                sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(recorded)
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
