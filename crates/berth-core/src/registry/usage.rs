//! The registry's client operations on manifests, with their usage-log
//! entries (Quay's kinds: `pull_repo`, `push_repo`, `delete_tag`,
//! `delete_manifest`, `quota_warning`, `quota_error`). They are here, not in
//! a front end, so every caller of these operations (the `/v2` API, the
//! console, a CLI command) is logged the same way.
//!
//! Access to `/v2` is decided before these run, by the gate that checks the
//! registry token's grants (which the policy made when it issued them).

use crate::RepositoryName;
use berth_oci::Reference;

use super::{ChildRule, ManifestContent, PushedManifest, Registry, RegistryError};
use crate::Caller;
use crate::identity::AuditEvent;
use crate::notify::{EventKind, QuotaEvent};

/// The metadata Quay logs for a manifest reference.
fn reference_metadata(reference: &Reference, digest: Option<&str>) -> serde_json::Value {
    let mut metadata = match reference {
        Reference::Tag(tag) => serde_json::json!({ "tag": tag }),
        Reference::Digest(d) => serde_json::json!({ "manifest_digest": d.to_string() }),
    };
    if let Some(d) = digest {
        metadata["manifest_digest"] = d.into();
    }
    metadata
}

impl Registry {
    /// Queue a usage-log entry of `kind` by `caller` on `repo`.
    async fn log_repo_event(
        &self,
        caller: &Caller,
        kind: &'static str,
        repo: &str,
        metadata: serde_json::Value,
    ) {
        self.identity
            .audit()
            .record(AuditEvent::by(kind, caller).repository(repo).metadata(metadata))
            .await;
    }

    /// Pull a manifest: fetch it by tag or digest, refuse it as unknown
    /// unless `accept` takes its media type (the client's `Accept`), log
    /// `pull_repo` and count the pull (for the tag too if pulled by tag).
    pub async fn pull_manifest(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        reference: &Reference,
        accept: impl Fn(&str) -> bool,
    ) -> Result<ManifestContent, RegistryError> {
        let by_tag = matches!(reference, Reference::Tag(_));
        let manifest = match self.client_manifest(repo, reference).await {
            Ok(m) if accept(&m.media_type) => m,
            Ok(_) => {
                crate::metrics::pull(by_tag, false);
                return Err(RegistryError::ManifestUnknown);
            }
            Err(e) => {
                if matches!(e, RegistryError::ManifestUnknown | RegistryError::NameUnknown) {
                    crate::metrics::pull(by_tag, false);
                }
                return Err(e);
            }
        };
        crate::metrics::pull(by_tag, true);
        if let Some(pulls) = &self.pulls {
            let tag = match reference {
                Reference::Tag(t) => Some(t.as_str()),
                Reference::Digest(_) => None,
            };
            pulls
                .counter
                .record(repo.as_str(), tag, &manifest.digest, berth_store::now_ms());
        }
        let metadata = reference_metadata(reference, Some(&manifest.digest));
        self.log_repo_event(caller, "pull_repo", repo.as_str(), metadata)
            .await;
        Ok(manifest)
    }

    /// Push a manifest (see [`Registry::put_manifest`]) and log it:
    /// `push_repo`, with `quota_warning` when the push crossed a warning
    /// threshold, or `quota_error` when a quota refused it. An index may
    /// be sparse as a client's push may ([`ChildRule::Client`]).
    pub async fn push_manifest(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Vec<u8>,
    ) -> Result<PushedManifest, RegistryError> {
        self.push_manifest_with(caller, repo, reference, content_type, content, ChildRule::Client)
            .await
    }

    /// [`Registry::push_manifest`], with the children `rule` lets an index
    /// leave absent.
    pub(crate) async fn push_manifest_with(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Vec<u8>,
        rule: ChildRule<'_>,
    ) -> Result<PushedManifest, RegistryError> {
        let pushed = match self
            .put_manifest(repo, reference, content_type, content, rule)
            .await
        {
            Ok(pushed) => pushed,
            Err(e) => {
                if let RegistryError::QuotaExceeded {
                    namespace,
                    usage,
                    limit,
                } = &e
                {
                    tracing::info!(%namespace, usage, limit,
                        "quota_error: push refused, namespace over its reject limit");
                    let metadata = serde_json::json!({ "usage_bytes": usage, "limit_bytes": limit });
                    self.log_repo_event(caller, "quota_error", repo.as_str(), metadata)
                        .await;
                    // The refusal commits nothing else, so the event has a
                    // transaction of its own.
                    let event = QuotaEvent {
                        kind: EventKind::QuotaError,
                        namespace: namespace.clone(),
                        threshold_percent: 100,
                        usage_bytes: *usage,
                        limit_bytes: *limit,
                    };
                    if let Err(error) = self.enqueue_quota_event(&event).await {
                        tracing::warn!(%error, "cannot queue the quota_error notification");
                    }
                }
                return Err(e);
            }
        };
        if let Some(w) = &pushed.quota_warning {
            tracing::info!(namespace = %w.namespace, usage = w.usage, limit_bytes = w.limit_bytes,
                threshold_percent = w.threshold_percent, "quota_warning: namespace over a warning threshold");
            let metadata = serde_json::json!({
                "usage_bytes": w.usage,
                "limit_bytes": w.limit_bytes,
                "threshold_percent": w.threshold_percent,
            });
            self.log_repo_event(caller, "quota_warning", repo.as_str(), metadata)
                .await;
        }
        let metadata = reference_metadata(reference, Some(&pushed.digest.to_string()));
        self.log_repo_event(caller, "push_repo", repo.as_str(), metadata)
            .await;
        Ok(pushed)
    }

    /// Delete a tag or a manifest (see [`Registry::delete_manifest`]) and
    /// log `delete_tag` or `delete_manifest`.
    pub async fn remove_manifest(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        self.delete_manifest(repo, reference).await?;
        let kind = match reference {
            Reference::Tag(_) => "delete_tag",
            Reference::Digest(_) => "delete_manifest",
        };
        self.log_repo_event(caller, kind, repo.as_str(), reference_metadata(reference, None))
            .await;
        Ok(())
    }
}
