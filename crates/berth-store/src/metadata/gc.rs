//! Garbage collection queries: unrecoverable tag rows, unreachable
//! manifests and blob links per repository (under the repository's lock),
//! unreferenced blob rows, and the queue of objects to delete from storage.
//!
//! Objects are deleted safely against concurrent uploads of the same
//! content through a per-digest lock (PostgreSQL: a transaction-scoped
//! advisory lock on the digest; SQLite: the database's single write lock,
//! taken by the transaction's first statement) that every transaction
//! deciding about a digest's object takes first: pinning it for an upload
//! ([`Db::pin_blob`]), recording it ([`Db::commit_blob`]), mounting it,
//! deleting its row ([`Db::delete_garbage_blob`]) and claiming its
//! object's deletion ([`Db::claim_blob_deletion`]). Each decides from
//! statements run after the lock is granted, which see every transaction
//! that held it before (READ COMMITTED takes a snapshot per statement), so
//! per digest they run as if one after another. The argument that no
//! object in use is deleted is at the top of `berth-core`'s
//! `registry/gc/mod.rs`.

use std::collections::HashMap;

use super::holds::held_sql;
use crate::{Db, StoreError, now_ms, on_db};

/// `$2` is the same location as the row's `location` (NULL: the digest's
/// content-addressed key), appended to a statement prefix.
macro_rules! same_location_sql {
    ($prefix:literal) => {
        concat!($prefix, "(location = $2 OR (location IS NULL AND $2 IS NULL))")
    };
}
pub(crate) use same_location_sql;

/// The time-machine window (seconds) the namespace of repository `r` sets,
/// or NULL: its first path component, `library` for one-component names.
macro_rules! namespace_window_sql {
    () => {
        "(SELECT a.tag_expiration_s FROM accounts a WHERE a.kind IN ('user', 'org') \
          AND a.tag_expiration_s IS NOT NULL \
          AND (substr(r.name, 1, length(a.name) + 1) = a.name || '/' \
               OR (a.name = 'library' AND r.name NOT LIKE '%/%')))"
    };
}

/// The statement that takes the per-digest lock (binds the digest).
pub(crate) fn digest_lock_sql(db: &Db) -> &'static str {
    match db {
        Db::Postgres(_) => "SELECT pg_advisory_xact_lock(hashtextextended($1, 7338))",
        // A write (even of no row) takes SQLite's write lock at once.
        Db::Sqlite { .. } => "UPDATE blob_deletions SET queued_ms = queued_ms WHERE digest = $1",
    }
}

/// What one garbage collection step over a repository is told.
#[derive(Debug, Clone, Copy)]
pub struct RepositorySweep {
    /// The pass's clock, in milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// The window of namespaces that set none, in seconds.
    pub default_window_s: i64,
    /// Untagged manifests and unreferenced links made at or after this
    /// are kept (they may be part of a push in progress).
    pub grace_cutoff_ms: i64,
    /// Most manifests deleted in one transaction.
    pub max_manifests: usize,
}

/// A manifest of a repository, as garbage collection sees it.
#[derive(Debug, Clone)]
pub struct ManifestNode {
    /// Row id.
    pub id: i64,
    /// Digest.
    pub digest: String,
    /// The manifest it refers to (OCI `subject`), if any.
    pub subject: Option<String>,
    /// When it was pushed (or last pushed again).
    pub created_ms: i64,
    /// Whether any tag row (live, expiring or within the window) names it.
    pub tagged: bool,
    /// Digests of the manifests it lists (an index's children).
    pub children: Vec<String>,
}

/// What a repository step removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepositoryCollected {
    /// Unrecoverable tag rows deleted.
    pub tag_rows: u64,
    /// Manifests deleted.
    pub manifests: u64,
    /// Blob links deleted.
    pub blob_links: u64,
    /// More garbage manifests wait than one step deletes.
    pub more: bool,
}

/// Outcome of trying to claim a queued object deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletionClaim {
    /// Ours until the lease given: delete the object at this location
    /// (`None`: the digest's content-addressed key), then finish.
    Claimed(Option<String>),
    /// The object is in use again; the deletion was dropped.
    Cancelled,
    /// Not now: an upload pins the digest, another claim is live, a hold
    /// defers deletions, or the deletion is gone.
    Skipped,
}

impl Db {
    /// Repositories that may hold garbage: unrecoverable tag rows, untagged
    /// manifests past the grace period that nothing in the repository
    /// holds (no parent, no existing subject), and blob links past the
    /// grace period no manifest of the repository references.
    pub async fn gc_candidate_repositories(&self, sweep: &RepositorySweep) -> Result<Vec<i64>, StoreError> {
        on_db!(self.reader(), pool => {
            let (shortest,): (Option<i64>,) = sqlx::query_as(
                "SELECT MIN(tag_expiration_s) FROM accounts WHERE kind IN ('user', 'org')",
            )
            .fetch_one(pool)
            .await?;
            let shortest = shortest.unwrap_or(sweep.default_window_s).min(sweep.default_window_s);
            let mut ids: Vec<(i64,)> = sqlx::query_as(concat!(
                "SELECT DISTINCT t.repository_id FROM tags t JOIN repositories r ON r.id = t.repository_id \
                 WHERE ((t.end_ms IS NOT NULL AND t.end_ms < $1) OR (t.end_ms IS NULL AND t.expires_ms < $1)) \
                 AND COALESCE(t.end_ms, t.expires_ms) < $2 - 1000 * COALESCE(",
                namespace_window_sql!(),
                ", $3)"
            ))
            .bind(sweep.now_ms.saturating_sub(shortest.saturating_mul(1000)))
            .bind(sweep.now_ms)
            .bind(sweep.default_window_s)
            .fetch_all(pool)
            .await?;
            ids.extend(
                sqlx::query_as::<_, (i64,)>(
                    "SELECT DISTINCT m.repository_id FROM manifests m WHERE m.created_ms < $1 \
                     AND NOT EXISTS (SELECT 1 FROM tags t \
                                     WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest) \
                     AND NOT EXISTS (SELECT 1 FROM manifest_children c JOIN manifests p ON p.id = c.manifest_id \
                                     WHERE c.child_digest = m.digest AND p.repository_id = m.repository_id) \
                     AND (m.subject_digest IS NULL OR NOT EXISTS ( \
                          SELECT 1 FROM manifests s \
                          WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest))",
                )
                .bind(sweep.grace_cutoff_ms)
                .fetch_all(pool)
                .await?,
            );
            ids.extend(
                sqlx::query_as::<_, (i64,)>(
                    "SELECT DISTINCT l.repository_id FROM repository_blobs l WHERE l.created_ms < $1 \
                     AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb JOIN manifests m ON m.id = mb.manifest_id \
                                     WHERE mb.digest = l.digest AND m.repository_id = l.repository_id)",
                )
                .bind(sweep.grace_cutoff_ms)
                .fetch_all(pool)
                .await?,
            );
            let mut ids: Vec<i64> = ids.into_iter().map(|r| r.0).collect();
            ids.sort_unstable();
            ids.dedup();
            Ok(ids)
        })
    }

    /// One garbage collection step over a repository, in one transaction
    /// holding the repository's row lock (as pushes and tag changes do):
    /// delete its unrecoverable tag rows, then the manifests `garbage`
    /// picks from the remaining graph (at most `max_manifests`), then the
    /// blob links past the grace period that no manifest references.
    pub async fn collect_repository(
        &self,
        repo: i64,
        sweep: &RepositorySweep,
        garbage: &(dyn Fn(&[ManifestNode]) -> Vec<i64> + Sync),
    ) -> Result<RepositoryCollected, StoreError> {
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let locked = sqlx::query("UPDATE repositories SET updated_ms = updated_ms WHERE id = $1")
                .bind(repo)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if locked == 0 {
                return Ok(RepositoryCollected::default());
            }
            let (window_s,): (i64,) = sqlx::query_as(concat!(
                "SELECT COALESCE(",
                namespace_window_sql!(),
                ", $2) FROM repositories r WHERE r.id = $1"
            ))
            .bind(repo)
            .bind(sweep.default_window_s)
            .fetch_one(&mut *tx)
            .await?;
            let recoverable_from = sweep.now_ms.saturating_sub(window_s.saturating_mul(1000));
            let tag_rows = sqlx::query(
                "DELETE FROM tags WHERE repository_id = $1 \
                 AND ((end_ms IS NOT NULL AND end_ms < $2) OR (end_ms IS NULL AND expires_ms < $2))",
            )
            .bind(repo)
            .bind(recoverable_from)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // Pull statistics go with a tag's last row.
            sqlx::query(super::pull_stats::DELETE_ORPHANED_TAG_STATS)
                .bind(repo)
                .execute(&mut *tx)
                .await?;
            let rows: Vec<(i64, String, Option<String>, i64, bool)> = sqlx::query_as(
                "SELECT m.id, m.digest, m.subject_digest, m.created_ms, \
                 EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest) \
                 FROM manifests m WHERE m.repository_id = $1",
            )
            .bind(repo)
            .fetch_all(&mut *tx)
            .await?;
            let edges: Vec<(i64, String)> = sqlx::query_as(
                "SELECT c.manifest_id, c.child_digest FROM manifest_children c \
                 JOIN manifests m ON m.id = c.manifest_id WHERE m.repository_id = $1",
            )
            .bind(repo)
            .fetch_all(&mut *tx)
            .await?;
            let mut children: HashMap<i64, Vec<String>> = HashMap::new();
            for (parent, child) in edges {
                children.entry(parent).or_default().push(child);
            }
            let nodes: Vec<ManifestNode> = rows
                .into_iter()
                .map(|(id, digest, subject, created_ms, tagged)| ManifestNode {
                    id,
                    digest,
                    subject,
                    created_ms,
                    tagged,
                    children: children.remove(&id).unwrap_or_default(),
                })
                .collect();
            let mut doomed = garbage(&nodes);
            let more = doomed.len() > sweep.max_manifests;
            doomed.truncate(sweep.max_manifests);
            let mut manifests = 0;
            for id in doomed {
                // Cascades to its blob and child references.
                manifests += sqlx::query("DELETE FROM manifests WHERE id = $1 AND repository_id = $2")
                    .bind(id)
                    .bind(repo)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            let blob_links = sqlx::query(
                "DELETE FROM repository_blobs WHERE repository_id = $1 AND created_ms < $2 \
                 AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb JOIN manifests m ON m.id = mb.manifest_id \
                                 WHERE m.repository_id = $1 AND mb.digest = repository_blobs.digest)",
            )
            .bind(repo)
            .bind(sweep.grace_cutoff_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(RepositoryCollected { tag_rows, manifests, blob_links, more })
        })
    }

    /// Up to `limit` digests after `after` (in order) of blob rows that no
    /// repository links and no manifest references.
    pub async fn unreferenced_blobs(&self, after: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT b.digest FROM blobs b WHERE b.digest > $1 \
                 AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest) \
                 AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = b.digest) \
                 ORDER BY b.digest LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// Delete a blob's row if it is still garbage (no link, no manifest
    /// reference, no live pin, no other deletion of the digest queued) and
    /// queue its object's deletion, atomically. Returns its size if so.
    pub async fn delete_garbage_blob(&self, digest: &str) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let lock = digest_lock_sql(self);
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(lock).bind(digest).execute(&mut *tx).await?;
            let row: Option<(i64, Option<String>)> = sqlx::query_as(
                "SELECT b.size, b.location FROM blobs b WHERE b.digest = $1 \
                 AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = $1) \
                 AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = $1) \
                 AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.digest = $1 AND p.expires_ms > $2) \
                 AND NOT EXISTS (SELECT 1 FROM blob_deletions d WHERE d.digest = $1)",
            )
            .bind(digest)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((size, location)) = row else {
                return Ok(None);
            };
            sqlx::query("DELETE FROM blobs WHERE digest = $1")
                .bind(digest)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO blob_deletions (digest, location, queued_ms) VALUES ($1, $2, $3)")
                .bind(digest)
                .bind(&location)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // The scanner's per-layer results go with the layer.
            sqlx::query("DELETE FROM scan_layers WHERE digest = $1")
                .bind(digest)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(size))
        })
    }

    /// Up to `limit` digests after `after` (in order) whose object
    /// deletion is queued and not claimed by a live lease.
    pub async fn queued_blob_deletions(&self, after: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        let now = now_ms();
        on_db!(self.reader(), pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT digest FROM blob_deletions WHERE digest > $1 \
                 AND (claimed_until_ms IS NULL OR claimed_until_ms <= $2) ORDER BY digest LIMIT $3",
            )
            .bind(after)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// Claim a queued object deletion until `until_ms`, if no hold defers
    /// deletions, no upload pins the digest and no blob row records the
    /// object again (then the deletion is dropped).
    pub async fn claim_blob_deletion(
        &self,
        digest: &str,
        until_ms: i64,
    ) -> Result<DeletionClaim, StoreError> {
        let now = now_ms();
        let lock = digest_lock_sql(self);
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(lock).bind(digest).execute(&mut *tx).await?;
            let queued: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
                "SELECT location, claimed_until_ms FROM blob_deletions WHERE digest = $1",
            )
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((location, claimed)) = queued else {
                return Ok(DeletionClaim::Skipped);
            };
            if claimed.is_some_and(|until| until > now) {
                return Ok(DeletionClaim::Skipped);
            }
            // A hold (a backup copying objects) defers every deletion.
            let (held,): (bool,) = sqlx::query_as(concat!("SELECT ", held_sql!("$1")))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            if held {
                return Ok(DeletionClaim::Skipped);
            }
            let pinned: Option<(String,)> =
                sqlx::query_as("SELECT token FROM blob_pins WHERE digest = $1 AND expires_ms > $2 LIMIT 1")
                    .bind(digest)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
            if pinned.is_some() {
                return Ok(DeletionClaim::Skipped);
            }
            let recorded: Option<(String,)> =
                sqlx::query_as(same_location_sql!("SELECT digest FROM blobs WHERE digest = $1 AND "))
                    .bind(digest)
                    .bind(&location)
                    .fetch_optional(&mut *tx)
                    .await?;
            if recorded.is_some() {
                sqlx::query("DELETE FROM blob_deletions WHERE digest = $1")
                    .bind(digest)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(DeletionClaim::Cancelled);
            }
            sqlx::query("UPDATE blob_deletions SET claimed_until_ms = $2 WHERE digest = $1")
                .bind(digest)
                .bind(until_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(DeletionClaim::Claimed(location))
        })
    }

    /// Remove a claimed deletion once its object is gone (no-op unless
    /// the claim with `until_ms` is still the row's).
    pub async fn finish_blob_deletion(&self, digest: &str, until_ms: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM blob_deletions WHERE digest = $1 AND claimed_until_ms = $2")
                .bind(digest)
                .bind(until_ms)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Remove pins that lapsed (their uploads died or gave up).
    pub async fn remove_lapsed_pins(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM blob_pins WHERE expires_ms <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Every blob row's digest and stored location (`None`: the digest's
    /// content-addressed key), in digest order; for checks and tests.
    pub async fn blob_locations(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as("SELECT digest, location FROM blobs ORDER BY digest")
                .fetch_all(pool)
                .await?)
        })
    }

    /// Every queued object deletion's digest and location (claimed or
    /// not), in digest order; for checks and tests.
    pub async fn queued_deletion_locations(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as("SELECT digest, location FROM blob_deletions ORDER BY digest")
                .fetch_all(pool)
                .await?)
        })
    }
}
