//! Manifests and tags: push with validation, pull by tag or digest, delete.

use crate::RepositoryName;
use berth_oci::{Algorithm, Digest, ManifestKind, ParsedManifest, Reference};
use berth_store::metadata::{DeleteManifest, EndTag, NewEvent, NewManifest, PutManifest};

use crate::notify::{EventKind, QuotaEvent, RepoEvent};

use super::{ChildRule, Registry, RegistryError};

/// A manifest as stored: raw bytes and how to label them.
#[derive(Debug, Clone)]
pub struct ManifestContent {
    /// Digest of `content`.
    pub digest: String,
    /// Media type it was pushed with.
    pub media_type: String,
    /// Subject digest, if any.
    pub subject: Option<String>,
    /// The exact bytes pushed.
    pub content: Vec<u8>,
}

/// What a manifest push produced.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its subject, for the `OCI-Subject` header.
    pub subject: Option<Digest>,
    /// Set when the push took its namespace over a quota warning threshold.
    pub quota_warning: Option<super::QuotaWarning>,
}

impl Registry {
    /// Validate and store a manifest; tag it when `reference` is a tag.
    /// An index's children must be stored first, but those `rule` lets be
    /// absent (a sparse index).
    pub async fn put_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Vec<u8>,
        rule: ChildRule<'_>,
    ) -> Result<PushedManifest, RegistryError> {
        if content.len() > self.config.manifest_size_limit {
            return Err(RegistryError::ManifestTooLarge(self.config.manifest_size_limit));
        }
        let (digest, tag) = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &content);
                if &actual != expected {
                    return Err(RegistryError::DigestInvalid(format!(
                        "manifest has digest {actual}, not {expected}"
                    )));
                }
                (actual, None)
            }
            Reference::Tag(tag) => (Digest::of(Algorithm::Sha256, &content), Some(tag.as_str())),
        };
        let parsed = ParsedManifest::parse(&content, content_type)?;
        // Only container images are indexed, not artifacts or indexes
        // (each image of an index is pushed, and queued, on its own).
        let indexable = self.config.index_images && is_image(&parsed);
        let repo_id = self.repo_for_push(repo).await?;
        // Only a tag push starts a tag row that can carry an expiry or be
        // immutable.
        let (labels, policies) = match tag {
            Some(_) => (
                self.push_labels(repo, &parsed).await,
                self.tag_policies(repo, repo_id).await?,
            ),
            None => Default::default(),
        };
        let media_type = parsed.media_type.clone();
        let optional_children = self
            .optional_children(&parsed, rule)
            .iter()
            .map(Digest::to_string)
            .collect();
        let record = NewManifest {
            digest: digest.to_string(),
            media_type: parsed.media_type,
            artifact_type: parsed.artifact_type,
            subject: parsed.subject.as_ref().map(Digest::to_string),
            annotations: parsed.annotations,
            content,
            blobs: parsed.blobs.iter().map(Digest::to_string).collect(),
            children: parsed.children.iter().map(Digest::to_string).collect(),
            optional_children,
            tag_expires_after_ms: labels
                .expires_after
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            tag_immutable: labels.immutable,
        };
        // Quota: refused if the namespace, with the blobs this manifest
        // adds to it, reaches a reject threshold.
        let quota_warning = self.check_quota(repo.as_str(), &record.blobs).await?;
        let policy = |t: &str| policies.holds(t);
        let events = self.push_events(repo_id, repo, tag, quota_warning.as_ref());
        match self
            .db
            .put_manifest(repo_id, &record, tag, &policy, &events)
            .await?
        {
            PutManifest::Stored => {
                crate::metrics::push(&media_type);
                if !events.is_empty() {
                    self.notify_wakeup.notify_waiters();
                }
                if indexable {
                    self.db.enqueue_scan(repo_id, &digest.to_string()).await?;
                    self.scan_wakeup.notify_one();
                }
                Ok(PushedManifest {
                    digest,
                    subject: parsed.subject,
                    quota_warning,
                })
            }
            PutManifest::MissingBlob(d) => Err(RegistryError::ManifestBlobUnknown(format!("blob {d}"))),
            PutManifest::MissingChild(d) => Err(RegistryError::ManifestBlobUnknown(format!("manifest {d}"))),
            PutManifest::TagImmutable => Err(RegistryError::TagImmutable {
                tag: tag.unwrap_or_default().to_owned(),
                operation: "overwrite",
            }),
        }
    }

    /// The events a push queues with it: `repo_push` for a push by tag (as
    /// Quay, every one, even if the tag already pointed there), and
    /// `quota_warning` when it crossed a warning threshold.
    fn push_events(
        &self,
        repo_id: i64,
        repo: &RepositoryName,
        tag: Option<&str>,
        quota_warning: Option<&super::QuotaWarning>,
    ) -> Vec<NewEvent> {
        let mut events = Vec::new();
        if let Some(tag) = tag {
            let push = RepoEvent::Push {
                tags: vec![tag.to_owned()],
            };
            events.push(self.repo_event(repo_id, repo.as_str(), &push));
        }
        if let Some(w) = quota_warning {
            events.push(self.quota_event(&QuotaEvent {
                kind: EventKind::QuotaWarning,
                namespace: w.namespace.clone(),
                threshold_percent: u64::try_from(w.threshold_percent).unwrap_or(0),
                usage_bytes: w.usage,
                limit_bytes: w.limit_bytes,
            }));
        }
        events
    }

    /// Fetch a manifest by tag or digest.
    pub async fn get_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<ManifestContent, RegistryError> {
        let row = match reference {
            Reference::Digest(d) => self.db.manifest_by_digest(repo.as_str(), &d.to_string()).await?,
            Reference::Tag(t) => self.db.manifest_by_tag(repo.as_str(), t).await?,
        };
        let row = row.ok_or(RegistryError::ManifestUnknown)?;
        Ok(ManifestContent {
            digest: row.digest,
            media_type: row.media_type,
            subject: row.subject,
            content: row.content,
        })
    }

    /// Delete a tag (the manifest stays) or a manifest by digest (its tags go
    /// with it).
    pub async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::ManifestUnknown)?;
        let policies = self.tag_policies(repo, repo_id).await?;
        let policy = |t: &str| policies.holds(t);
        let immutable = |tag: String| RegistryError::TagImmutable {
            tag,
            operation: "delete",
        };
        match reference {
            Reference::Tag(t) => match self.db.end_tag(repo_id, t, &policy).await? {
                EndTag::Ended => Ok(()),
                EndTag::Missing => Err(RegistryError::ManifestUnknown),
                EndTag::Immutable => Err(immutable(t.clone())),
            },
            Reference::Digest(d) => match self.db.delete_manifest(repo_id, &d.to_string(), &policy).await? {
                DeleteManifest::Deleted => Ok(()),
                DeleteManifest::Missing => Err(RegistryError::ManifestUnknown),
                DeleteManifest::Immutable(t) => Err(immutable(t)),
            },
        }
    }
}

/// Whether a manifest is a container image (image config media type), the
/// only kind the indexer reads: not artifacts, not indexes.
pub(crate) fn is_image(parsed: &ParsedManifest) -> bool {
    parsed.kind == ManifestKind::Image
        && matches!(
            parsed.artifact_type.as_deref(),
            Some(berth_oci::media_type::OCI_IMAGE_CONFIG | berth_oci::media_type::DOCKER_IMAGE_CONFIG)
        )
}
