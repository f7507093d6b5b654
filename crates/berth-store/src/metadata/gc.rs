//! Garbage collection queries: candidate repositories, and unrecoverable
//! tag rows, unreachable manifests and blob links per repository (under
//! the repository's lock). Blob rows and the queue of objects to delete
//! are in `gc_blobs.rs`, a batch of digests per transaction.
//!
//! Objects are deleted safely against concurrent uploads of the same
//! content through a per-digest lock (PostgreSQL: a transaction-scoped
//! advisory lock on the digest; SQLite: the database's single write lock,
//! taken by the transaction's first statement) that every transaction
//! deciding about a digest's object takes first: pinning it for an upload
//! ([`Db::pin_blob`]), recording it ([`Db::commit_blob`]), mounting it,
//! deleting its row ([`Db::delete_garbage_blobs`]) and claiming its
//! object's deletion ([`Db::claim_blob_deletions`]). Each decides from
//! statements run after the lock is granted, which see every transaction
//! that held it before (READ COMMITTED takes a snapshot per statement), so
//! per digest they run as if one after another. The argument that no
//! object in use is deleted is at the top of `berth-core`'s
//! `registry/gc/mod.rs`.

use crate::{Db, StoreError, on_db};

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
pub(crate) use namespace_window_sql;

/// Tag rows of repository `$1` no longer recoverable at `$2` (ended, or
/// expired, before it), appended to a statement prefix.
macro_rules! unrecoverable_tags_sql {
    ($prefix:literal) => {
        concat!(
            $prefix,
            "FROM tags WHERE repository_id = $1 \
             AND ((end_ms IS NOT NULL AND end_ms < $2) OR (end_ms IS NULL AND expires_ms < $2))"
        )
    };
}
pub(crate) use unrecoverable_tags_sql;

/// The start of repository `$repo`'s time-machine window (milliseconds):
/// tag rows that ended or expired before it are no longer recoverable.
macro_rules! recoverable_from {
    ($conn:expr, $repo:expr, $sweep:expr) => {{
        let (window_s,): (i64,) = sqlx::query_as(concat!(
            "SELECT COALESCE(",
            namespace_window_sql!(),
            ", $2) FROM repositories r WHERE r.id = $1"
        ))
        .bind($repo)
        .bind($sweep.default_window_s)
        .fetch_one($conn)
        .await?;
        $sweep.now_ms.saturating_sub(window_s.saturating_mul(1000))
    }};
}
pub(crate) use recoverable_from;

/// Repository `$repo`'s manifests as garbage collection sees them: a tag
/// row counts only if still recoverable at `$recoverable_from`.
macro_rules! manifest_nodes {
    ($conn:expr, $repo:expr, $recoverable_from:expr) => {{
        let rows: Vec<(i64, String, Option<String>, i64, bool)> = sqlx::query_as(
            "SELECT m.id, m.digest, m.subject_digest, m.created_ms, \
             EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id \
                     AND t.manifest_digest = m.digest \
                     AND (COALESCE(t.end_ms, t.expires_ms) IS NULL OR COALESCE(t.end_ms, t.expires_ms) >= $2)) \
             FROM manifests m WHERE m.repository_id = $1",
        )
        .bind($repo)
        .bind($recoverable_from)
        .fetch_all(&mut *$conn)
        .await?;
        let edges: Vec<(i64, String)> = sqlx::query_as(
            "SELECT c.manifest_id, c.child_digest FROM manifest_children c \
             JOIN manifests m ON m.id = c.manifest_id WHERE m.repository_id = $1",
        )
        .bind($repo)
        .fetch_all(&mut *$conn)
        .await?;
        let mut children: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
        for (parent, child) in edges {
            children.entry(parent).or_default().push(child);
        }
        rows.into_iter()
            .map(|(id, digest, subject, created_ms, tagged)| $crate::metadata::ManifestNode {
                id,
                digest,
                subject,
                created_ms,
                tagged,
                children: children.remove(&id).unwrap_or_default(),
            })
            .collect::<Vec<$crate::metadata::ManifestNode>>()
    }};
}
pub(crate) use manifest_nodes;

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
        // The manifests of repository `$1` whose ids `$2` lists (`1,2,3`).
        let delete_manifests = match self {
            Db::Postgres(_) => {
                "DELETE FROM manifests WHERE repository_id = $1 AND id = ANY(string_to_array($2, ',')::BIGINT[])"
            }
            Db::Sqlite { .. } => {
                "DELETE FROM manifests WHERE repository_id = $1 AND id IN (SELECT value FROM json_each('[' || $2 || ']'))"
            }
        };
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
            let recoverable_from = recoverable_from!(&mut *tx, repo, sweep);
            let tag_rows = sqlx::query(unrecoverable_tags_sql!("DELETE "))
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
            let nodes = manifest_nodes!(tx, repo, recoverable_from);
            let mut doomed = garbage(&nodes);
            let more = doomed.len() > sweep.max_manifests;
            doomed.truncate(sweep.max_manifests);
            let ids: Vec<String> = doomed.iter().map(i64::to_string).collect();
            // One statement; cascades to their blob and child references.
            let manifests = sqlx::query(delete_manifests)
                .bind(repo)
                .bind(ids.join(","))
                .execute(&mut *tx)
                .await?
                .rows_affected();
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
}
