//! Blobs (global, content-addressed) and their links to repositories. A
//! repository may only read blobs linked to it.
//!
//! The upload side of the pin protocol lives here too: before an upload
//! writes a blob's object it pins the digest, and the transaction that
//! records the blob drops the pin. See `metadata/gc.rs` for the garbage
//! collection side and why the two cannot lose an object.

use super::gc::{digest_lock_sql, same_location_sql};
use crate::{Db, StoreError, now_ms, on_db};

/// A blob's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRow {
    /// Size in bytes.
    pub size: i64,
    /// Object key of the bytes, when not the digest's own.
    pub location: Option<String>,
    /// When the repository's link to it was made or last confirmed (0 for
    /// a row read without a repository).
    pub linked_ms: i64,
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
    /// The pin taken (with [`Db::pin_blob`]) before the object was written
    /// or the existing row was looked at; dropped by the commit, which
    /// fails with [`StoreError::Conflict`] if it lapsed meanwhile.
    pub pin: &'a str,
}

impl Db {
    /// Size and stored location (`None`: the digest's own key) of `digest`
    /// if it is linked to the repository named `repo` (one query: this is on
    /// the hot path of every blob HEAD and GET).
    pub async fn linked_blob(&self, repo: &str, digest: &str) -> Result<Option<BlobRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64, Option<String>, i64)> = sqlx::query_as(
                "SELECT b.size, b.location, l.created_ms FROM repositories r \
                 JOIN repository_blobs l ON l.repository_id = r.id \
                 JOIN blobs b ON b.digest = l.digest \
                 WHERE r.name = $1 AND l.digest = $2",
            )
            .bind(repo)
            .bind(digest)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(size, location, linked_ms)| BlobRow { size, location, linked_ms }))
        })
    }

    /// Confirm a repository's link to a blob (a client just looked at it,
    /// e.g. before pushing a manifest that references it), so garbage
    /// collection keeps it for another grace period. Returns false if the
    /// link is gone.
    pub async fn touch_blob_link(&self, repo: &str, digest: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let done = crate::db::retry_transient(|| async {
                Ok(sqlx::query(
                    "UPDATE repository_blobs SET created_ms = $3 \
                     WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2",
                )
                .bind(repo)
                .bind(digest)
                .bind(now)
                .execute(pool)
                .await?)
            })
            .await?;
            Ok(done.rows_affected() > 0)
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
            Ok(row.map(|(size, location)| BlobRow { size, location, linked_ms: 0 }))
        })
    }

    /// Pin `digest` for an upload about to write its object (or rely on
    /// the existing one) until `until_ms`. Returns false, pinning nothing,
    /// while garbage collection is deleting an object of the digest: the
    /// caller waits and tries again.
    pub async fn pin_blob(&self, digest: &str, token: &str, until_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let lock = digest_lock_sql(self);
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(lock).bind(digest).execute(&mut *tx).await?;
            let claim: Option<(Option<i64>,)> =
                sqlx::query_as("SELECT claimed_until_ms FROM blob_deletions WHERE digest = $1")
                    .bind(digest)
                    .fetch_optional(&mut *tx)
                    .await?;
            if claim.and_then(|c| c.0).is_some_and(|until| until > now) {
                return Ok(false);
            }
            sqlx::query("INSERT INTO blob_pins (token, digest, expires_ms) VALUES ($1, $2, $3)")
                .bind(token)
                .bind(digest)
                .bind(until_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Extend a live pin. Returns false if it lapsed (or was dropped).
    pub async fn renew_blob_pin(&self, token: &str, until_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE blob_pins SET expires_ms = $2 WHERE token = $1 AND expires_ms > $3")
                .bind(token)
                .bind(until_ms)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Drop a pin (an upload that gave up).
    pub async fn unpin_blob(&self, token: &str) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query("DELETE FROM blob_pins WHERE token = $1")
                .bind(token)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Record a blob whose bytes are durably stored at `location`, link it
    /// to the repository, close the upload session that produced it and
    /// drop the upload's pin, atomically. An existing row wins unless
    /// `replace` (its bytes are gone); returns whether `location` is the
    /// one recorded. A queued deletion of the recorded object is cancelled;
    /// an unrecorded copy at another key is queued for deletion.
    pub async fn commit_blob(&self, commit: &CommitBlob<'_>) -> Result<bool, StoreError> {
        let lock = digest_lock_sql(self);
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(lock).bind(commit.digest).execute(&mut *tx).await?;
            // The clock after the lock: a pin that lapsed while this waited
            // must count as lapsed (every other check errs the safe way).
            let now = now_ms();
            let pinned = sqlx::query("DELETE FROM blob_pins WHERE token = $1 AND expires_ms > $2")
                .bind(commit.pin)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if !pinned {
                // Garbage collection may have deleted the object meanwhile.
                return Err(StoreError::Conflict("the blob's pin lapsed before its commit".into()));
            }
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
            let (kept,): (Option<String>,) = sqlx::query_as("SELECT location FROM blobs WHERE digest = $1")
                .bind(commit.digest)
                .fetch_one(&mut *tx)
                .await?;
            // The recorded object is in use again: it must not be deleted.
            sqlx::query(same_location_sql!("DELETE FROM blob_deletions WHERE digest = $1 AND "))
                .bind(commit.digest)
                .bind(&kept)
                .execute(&mut *tx)
                .await?;
            if kept.as_deref() != commit.location {
                // Our copy is a duplicate: garbage collection removes it
                // (unless the queue already holds another of this digest).
                sqlx::query(
                    "INSERT INTO blob_deletions (digest, location, queued_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (digest) DO NOTHING",
                )
                .bind(commit.digest)
                .bind(commit.location)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            // A fresh upload restarts the link's grace period.
            sqlx::query(
                "INSERT INTO repository_blobs (repository_id, digest, created_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (repository_id, digest) DO UPDATE SET created_ms = excluded.created_ms",
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
        let lock = digest_lock_sql(self);
        on_db!(self.writer(), pool => {
            // Serialised with garbage collection deleting the blob's row.
            let mut tx = pool.begin().await?;
            sqlx::query(lock).bind(digest).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO repository_blobs (repository_id, digest, created_ms) \
                 SELECT $1, digest, $3 FROM repository_blobs WHERE repository_id = $2 AND digest = $4 \
                 ON CONFLICT (repository_id, digest) DO UPDATE SET created_ms = excluded.created_ms",
            )
            .bind(repo)
            .bind(from)
            .bind(now)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest \
                 WHERE l.repository_id = $1 AND l.digest = $2",
            )
            .bind(repo)
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// Remove a blob's link to a repository. Returns whether it was linked.
    pub async fn unlink_blob(&self, repo: i64, digest: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = crate::db::retry_transient(|| async {
                Ok(sqlx::query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
                    .bind(repo)
                    .bind(digest)
                    .execute(pool)
                    .await?)
            })
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}
