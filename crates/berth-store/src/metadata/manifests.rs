//! Manifests: raw bytes kept exactly as pushed, with their references to
//! blobs and child manifests recorded for validation, GC and quotas.

use crate::{Db, StoreError, now_ms, on_db};

use super::immutability::{PolicyCheck, row_immutable};
use super::notifications::{NewEvent, enqueue_events};
use super::tags::{END_LIVE_ROW, resolving};

/// A manifest to store.
#[derive(Debug, Clone)]
pub struct NewManifest {
    /// `algorithm:hex` of `content`.
    pub digest: String,
    /// Effective media type.
    pub media_type: String,
    /// Artifact type for referrer listings.
    pub artifact_type: Option<String>,
    /// Subject digest, if the manifest refers to another.
    pub subject: Option<String>,
    /// Annotations as JSON, for referrer listings.
    pub annotations: Option<String>,
    /// Raw bytes.
    pub content: Vec<u8>,
    /// Blobs it references (must be linked to the repository).
    pub blobs: Vec<String>,
    /// Child manifests it references (must exist in the repository).
    pub children: Vec<String>,
    /// Those of `children` that may be absent (a sparse index): recorded
    /// as references all the same, so a later push of one completes it.
    pub optional_children: Vec<String>,
    /// How long a tag row this push starts lives, in ms (the
    /// `quay.expires-after` label); `None`: until moved or deleted.
    pub tag_expires_after_ms: Option<i64>,
    /// Whether a tag row this push starts is immutable (the
    /// `quay.immutable` label).
    pub tag_immutable: bool,
}

/// Outcome of storing a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutManifest {
    /// Stored (or already present) and tagged if asked.
    Stored,
    /// A referenced blob is not linked to the repository.
    MissingBlob(String),
    /// A referenced child manifest is not in the repository.
    MissingChild(String),
    /// The tag is immutable and points elsewhere: nothing was stored.
    TagImmutable,
}

/// Outcome of deleting a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteManifest {
    /// Deleted with its tags.
    Deleted,
    /// Not in the repository.
    Missing,
    /// This live tag pointing at it is immutable: nothing was deleted.
    Immutable(String),
}

/// A stored manifest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManifestRow {
    /// Digest.
    pub digest: String,
    /// Media type.
    pub media_type: String,
    /// Subject digest, if any.
    pub subject: Option<String>,
    /// Raw bytes.
    pub content: Vec<u8>,
}

/// One entry of a referrers listing.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReferrerRow {
    /// Referrer manifest digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Its annotations as JSON.
    pub annotations: Option<String>,
}

impl Db {
    /// Store a manifest, checking its references, and optionally point `tag`
    /// at it, all in one transaction. An immutable tag (its own flag, or
    /// `policy`) pointing at another manifest refuses the whole push.
    pub async fn put_manifest(
        &self,
        repo: i64,
        m: &NewManifest,
        tag: Option<&str>,
        policy: PolicyCheck<'_>,
        events: &[NewEvent],
    ) -> Result<PutManifest, StoreError> {
        self.store_manifest(repo, m, tag, policy, events, true).await
    }

    /// Store a manifest fetched from a proxy cache's upstream, whose blobs
    /// and child manifests are fetched when first asked for: its references
    /// are recorded, not checked.
    pub async fn put_proxied_manifest(
        &self,
        repo: i64,
        m: &NewManifest,
        tag: Option<&str>,
        policy: PolicyCheck<'_>,
    ) -> Result<PutManifest, StoreError> {
        self.store_manifest(repo, m, tag, policy, &[], false).await
    }

    async fn store_manifest(
        &self,
        repo: i64,
        m: &NewManifest,
        tag: Option<&str>,
        policy: PolicyCheck<'_>,
        events: &[NewEvent],
        check_references: bool,
    ) -> Result<PutManifest, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            // Serialises tag changes per repository on both backends.
            sqlx::query("UPDATE repositories SET updated_ms = $2 WHERE id = $1")
                .bind(repo)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let live = match tag {
                Some(tag) => {
                    let row: Option<(String, bool, bool)> = sqlx::query_as(concat!(
                        "SELECT t.manifest_digest, t.immutable, t.policy_exempt FROM tags t ",
                        "WHERE t.repository_id = $1 AND t.name = $2 AND ",
                        resolving!("$3")
                    ))
                    .bind(repo)
                    .bind(tag)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((digest, immutable, exempt)) = &row
                        && digest != &m.digest
                        && row_immutable(tag, *immutable, *exempt, policy)
                    {
                        return Ok(PutManifest::TagImmutable);
                    }
                    row.map(|r| r.0)
                }
                None => None,
            };
            for blob in m.blobs.iter().filter(|_| check_references) {
                let found: Option<(i64,)> = sqlx::query_as(
                    "SELECT repository_id FROM repository_blobs WHERE repository_id = $1 AND digest = $2",
                )
                .bind(repo)
                .bind(blob)
                .fetch_optional(&mut *tx)
                .await?;
                if found.is_none() {
                    return Ok(PutManifest::MissingBlob(blob.clone()));
                }
            }
            for child in m.children.iter().filter(|_| check_references) {
                let found: Option<(i64,)> = sqlx::query_as(
                    "SELECT id FROM manifests WHERE repository_id = $1 AND digest = $2",
                )
                .bind(repo)
                .bind(child)
                .fetch_optional(&mut *tx)
                .await?;
                if found.is_none() && !m.optional_children.contains(child) {
                    return Ok(PutManifest::MissingChild(child.clone()));
                }
            }
            let inserted: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject_digest, \
                 annotations, size, content, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (repository_id, digest) DO NOTHING RETURNING id",
            )
            .bind(repo)
            .bind(&m.digest)
            .bind(&m.media_type)
            .bind(&m.artifact_type)
            .bind(&m.subject)
            .bind(&m.annotations)
            .bind(m.content.len() as i64)
            .bind(&m.content)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((id,)) = inserted {
                for blob in &m.blobs {
                    if check_references {
                        sqlx::query(
                            "INSERT INTO manifest_blobs (manifest_id, digest) VALUES ($1, $2) \
                             ON CONFLICT (manifest_id, digest) DO NOTHING",
                        )
                        .bind(id)
                        .bind(blob)
                        .execute(&mut *tx)
                        .await?;
                        continue;
                    }
                    // A proxied manifest's blob not in the repository yet
                    // waits in `proxy_pending_blobs` until it is fetched.
                    for sql in [
                        "INSERT INTO manifest_blobs (manifest_id, digest) SELECT $1, $2 WHERE EXISTS \
                         (SELECT 1 FROM repository_blobs WHERE repository_id = $3 AND digest = $2) \
                         ON CONFLICT (manifest_id, digest) DO NOTHING",
                        "INSERT INTO proxy_pending_blobs (manifest_id, digest) SELECT $1, $2 WHERE NOT EXISTS \
                         (SELECT 1 FROM repository_blobs WHERE repository_id = $3 AND digest = $2) \
                         ON CONFLICT (manifest_id, digest) DO NOTHING",
                    ] {
                        sqlx::query(sql)
                            .bind(id)
                            .bind(blob)
                            .bind(repo)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                for child in &m.children {
                    sqlx::query(
                        "INSERT INTO manifest_children (manifest_id, child_digest) VALUES ($1, $2) \
                         ON CONFLICT (manifest_id, child_digest) DO NOTHING",
                    )
                    .bind(id)
                    .bind(child)
                    .execute(&mut *tx)
                    .await?;
                }
            } else {
                // Pushed again (e.g. an index's child before the index):
                // garbage collection's grace period starts over.
                sqlx::query("UPDATE manifests SET created_ms = $3 WHERE repository_id = $1 AND digest = $2")
                    .bind(repo)
                    .bind(&m.digest)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(tag) = tag
                && live.as_deref() != Some(m.digest.as_str())
            {
                // Moving a tag (or re-pushing an expired one) ends its
                // old row and starts a new one.
                sqlx::query(END_LIVE_ROW)
                    .bind(repo)
                    .bind(tag)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                // An immutable tag never expires.
                let expires_ms = m
                    .tag_expires_after_ms
                    .and_then(|d| now.checked_add(d))
                    .filter(|_| !m.tag_immutable && !policy(tag));
                sqlx::query(
                    "INSERT INTO tags (repository_id, name, manifest_digest, start_ms, expires_ms, immutable) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(repo)
                .bind(tag)
                .bind(&m.digest)
                .bind(now)
                .bind(expires_ms)
                .bind(m.tag_immutable)
                .execute(&mut *tx)
                .await?;
            }
            // In the push's transaction: a push that is acknowledged has
            // its notifications queued, and one that is not has none.
            enqueue_events!(tx, events, now);
            tx.commit().await?;
            Ok(PutManifest::Stored)
        })
    }

    /// A manifest of the repository named `repo`, by digest.
    pub async fn manifest_by_digest(
        &self,
        repo: &str,
        digest: &str,
    ) -> Result<Option<ManifestRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<ManifestRow> = sqlx::query_as(
                "SELECT m.digest, m.media_type, m.subject_digest AS subject, m.content \
                 FROM repositories r JOIN manifests m ON m.repository_id = r.id \
                 WHERE r.name = $1 AND m.digest = $2",
            )
            .bind(repo)
            .bind(digest)
            .fetch_optional(pool)
            .await?;
            Ok(row)
        })
    }

    /// The manifest a live, unexpired tag of the repository named `repo`
    /// points at (one query: this is the hot path of every pull).
    pub async fn manifest_by_tag(&self, repo: &str, tag: &str) -> Result<Option<ManifestRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<ManifestRow> = sqlx::query_as(concat!(
                "SELECT m.digest, m.media_type, m.subject_digest AS subject, m.content ",
                "FROM repositories r ",
                "JOIN tags t ON t.repository_id = r.id AND ",
                resolving!("$3"),
                " JOIN manifests m ON m.repository_id = r.id AND m.digest = t.manifest_digest ",
                "WHERE r.name = $1 AND t.name = $2"
            ))
            .bind(repo)
            .bind(tag)
            .bind(now_ms())
            .fetch_optional(pool)
            .await?;
            Ok(row)
        })
    }

    /// Delete a manifest by digest; its tags (live and past) go with it,
    /// unless a live one is immutable (its own flag, or `policy`).
    pub async fn delete_manifest(
        &self,
        repo: i64,
        digest: &str,
        policy: PolicyCheck<'_>,
    ) -> Result<DeleteManifest, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE repositories SET updated_ms = $2 WHERE id = $1")
                .bind(repo)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let live: Vec<(String, bool, bool)> = sqlx::query_as(concat!(
                "SELECT t.name, t.immutable, t.policy_exempt FROM tags t ",
                "WHERE t.repository_id = $1 AND t.manifest_digest = $2 AND ",
                resolving!("$3"),
                " ORDER BY t.name"
            ))
            .bind(repo)
            .bind(digest)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            if let Some((name, ..)) = live.iter().find(|(n, i, e)| row_immutable(n, *i, *e, policy)) {
                return Ok(DeleteManifest::Immutable(name.clone()));
            }
            let done = sqlx::query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2")
                .bind(repo)
                .bind(digest)
                .execute(&mut *tx)
                .await?;
            // Its tag rows went with it (cascade); so do the pull
            // statistics of tags that have no row left.
            sqlx::query(super::pull_stats::DELETE_ORPHANED_TAG_STATS)
                .bind(repo)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(if done.rows_affected() > 0 {
                DeleteManifest::Deleted
            } else {
                DeleteManifest::Missing
            })
        })
    }

    /// The children index `digest` of repository `repo` references, each
    /// with whether it is stored (a sparse index lacks some), by digest.
    pub async fn child_presence(&self, repo: i64, digest: &str) -> Result<Vec<(String, bool)>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String, bool)> = sqlx::query_as(
                "SELECT c.child_digest, EXISTS (SELECT 1 FROM manifests m \
                 WHERE m.repository_id = p.repository_id AND m.digest = c.child_digest) \
                 FROM manifest_children c JOIN manifests p ON p.id = c.manifest_id \
                 WHERE p.repository_id = $1 AND p.digest = $2 ORDER BY c.child_digest",
            )
            .bind(repo)
            .bind(digest)
            .fetch_all(pool)
            .await?;
            Ok(rows)
        })
    }

    /// Manifests in the repository whose subject is `subject`, optionally
    /// only those of one artifact type, ordered by digest.
    pub async fn referrers(
        &self,
        repo: i64,
        subject: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<ReferrerRow> = sqlx::query_as(
                "SELECT digest, media_type, size, artifact_type, annotations FROM manifests \
                 WHERE repository_id = $1 AND subject_digest = $2 \
                 AND ($3 IS NULL OR artifact_type = $3) ORDER BY digest",
            )
            .bind(repo)
            .bind(subject)
            .bind(artifact_type)
            .fetch_all(pool)
            .await?;
            Ok(rows)
        })
    }
}
