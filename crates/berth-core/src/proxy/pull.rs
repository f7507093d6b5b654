//! Pulls through a proxy cache: a manifest missing (or, by tag, expired)
//! is fetched from the upstream with its exact bytes and stored; a blob
//! missing is fetched once, streamed to the first client while it is
//! stored, and read from storage by the others. Cached content is served
//! when the upstream cannot be reached; content cached by digest is never
//! asked for again.

use std::sync::Arc;

use berth_oci::{Digest, ParsedManifest, Reference};
use berth_store::ByteStream;
use berth_store::metadata::{DeleteManifest, NewManifest, PutManifest};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};

use super::config::ProxyTarget;
use super::upstream::UpstreamError;
use crate::RepositoryName;
use crate::registry::{BlobRange, LinkedBlob, ManifestContent, Registry, RegistryError};

/// Chunks buffered between the upstream and the first client.
const STREAM_BUFFER: usize = 16;

/// A blob as a client gets it.
pub enum ClientBlob {
    /// Stored: read it from storage.
    Stored(LinkedBlob),
    /// Arriving from the upstream while it is stored.
    Streaming {
        /// Its size.
        size: u64,
        /// The bytes (an error ends the stream if the fetch fails).
        body: ByteStream<'static>,
    },
}

/// The upstream's failure as a pull's.
fn upstream_error(target: &ProxyTarget, e: UpstreamError, unknown: RegistryError) -> RegistryError {
    match e {
        UpstreamError::NotFound => unknown,
        other => RegistryError::Proxy(format!("upstream {}: {other}", target.registry.as_configured())),
    }
}

/// A shared failure as this request's.
fn unshare(e: Arc<RegistryError>) -> RegistryError {
    match Arc::try_unwrap(e) {
        Ok(e) => e,
        Err(shared) => match shared.as_ref() {
            RegistryError::ManifestUnknown => RegistryError::ManifestUnknown,
            RegistryError::BlobUnknown => RegistryError::BlobUnknown,
            RegistryError::QuotaExceeded {
                namespace,
                usage,
                limit,
            } => RegistryError::QuotaExceeded {
                namespace: namespace.clone(),
                usage: *usage,
                limit: *limit,
            },
            other => RegistryError::Proxy(other.to_string()),
        },
    }
}

impl Registry {
    /// The proxy cache serving `repo`, if its namespace is one.
    async fn proxy_of(&self, repo: &RepositoryName) -> Result<Option<ProxyTarget>, RegistryError> {
        if !repo.as_str().contains('/') {
            return Ok(None);
        }
        self.proxy_target(repo.namespace()).await
    }

    /// A manifest as a client pulls it: from the registry, or in a proxy
    /// cache organization from the upstream when missing, and by tag
    /// revalidated once its `expiration_s` passed.
    pub async fn client_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<ManifestContent, RegistryError> {
        let local = self.get_manifest(repo, reference).await;
        let cached = match local {
            Ok(m) => Some(m),
            Err(RegistryError::ManifestUnknown | RegistryError::NameUnknown) => None,
            Err(e) => return Err(e),
        };
        // By digest, what is cached is what the upstream would give.
        if let (Some(m), Reference::Digest(_)) = (&cached, reference) {
            return Ok(m.clone());
        }
        let Some(target) = self.proxy_of(repo).await? else {
            return cached.ok_or(RegistryError::ManifestUnknown);
        };
        let Some(cached) = cached else {
            return self.fetch_manifest(&target, repo, reference).await;
        };
        let Reference::Tag(tag) = reference else {
            return Ok(cached);
        };
        if self.tag_is_fresh(repo, tag, &target).await? {
            return Ok(cached);
        }
        // Revalidate: an unchanged digest costs a HEAD, no body.
        let remote = target.registry.remote_repository(repo.short());
        match target.client.manifest_digest(&remote, tag).await {
            Ok(Some(d)) if d.to_string() == cached.digest => {
                if let Some(id) = self.db().repository_id(repo.as_str()).await? {
                    self.db().set_proxy_tag_checked(id, tag).await?;
                }
                Ok(cached)
            }
            Ok(_) => match self.fetch_manifest(&target, repo, reference).await {
                Ok(m) => Ok(m),
                Err(e) => {
                    tracing::warn!(repository = %repo, tag, error = %e,
                        "proxy cache: cannot refresh a tag; serving the cached one");
                    Ok(cached)
                }
            },
            Err(e) => {
                tracing::warn!(repository = %repo, tag, error = %e,
                    "proxy cache: upstream unavailable; serving the cached tag");
                Ok(cached)
            }
        }
    }

    async fn tag_is_fresh(
        &self,
        repo: &RepositoryName,
        tag: &str,
        target: &ProxyTarget,
    ) -> Result<bool, RegistryError> {
        let Some(id) = self.db().repository_id(repo.as_str()).await? else {
            return Ok(false);
        };
        let checked = self.db().proxy_tag_checked(id, tag).await?;
        let ttl = i64::try_from(target.expiration.as_millis()).unwrap_or(i64::MAX);
        Ok(checked.is_some_and(|c| berth_store::now_ms() < c.saturating_add(ttl)))
    }

    /// Fetch a manifest from the upstream and store it (one fetch per
    /// repository and reference at a time).
    async fn fetch_manifest(
        &self,
        target: &ProxyTarget,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<ManifestContent, RegistryError> {
        let key = format!("{repo}@{reference}");
        let registry = self.clone();
        let target = ProxyTarget {
            namespace: target.namespace.clone(),
            registry: target.registry.clone(),
            expiration: target.expiration,
            client: Arc::clone(&target.client),
        };
        let repo_owned = repo.clone();
        let reference = reference.clone();
        let flight = self.proxy_state().manifest(&key, move || {
            async move {
                registry
                    .store_upstream_manifest(&target, &repo_owned, &reference)
                    .await
                    .map_err(Arc::new)
            }
            .boxed()
        });
        flight.await.map_err(unshare)
    }

    async fn store_upstream_manifest(
        &self,
        target: &ProxyTarget,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<ManifestContent, RegistryError> {
        let remote = target.registry.remote_repository(repo.short());
        let reference_text = match reference {
            Reference::Tag(t) => t.clone(),
            Reference::Digest(d) => d.to_string(),
        };
        let fetched = target
            .client
            .manifest(&remote, &reference_text, self.config().manifest_size_limit)
            .await
            .map_err(|e| upstream_error(target, e, RegistryError::ManifestUnknown))?;
        let parsed = ParsedManifest::parse(&fetched.content, fetched.media_type.as_deref()).map_err(|e| {
            RegistryError::Proxy(format!(
                "upstream {}: manifest {remote}:{reference_text} is invalid: {e}",
                target.registry.as_configured()
            ))
        })?;
        let digest = fetched.digest.to_string();
        let tag = match reference {
            Reference::Tag(t) => Some(t.as_str()),
            Reference::Digest(_) => None,
        };
        // The repository is created by its first pull, as Quay does.
        let repo_id = self.db().ensure_repository(repo.as_str()).await?;
        let policies = self.tag_policies(repo, repo_id).await?;
        let policy = |t: &str| policies.holds(t);
        let record = NewManifest {
            digest: digest.clone(),
            media_type: parsed.media_type.clone(),
            artifact_type: parsed.artifact_type,
            subject: parsed.subject.as_ref().map(Digest::to_string),
            annotations: parsed.annotations,
            content: fetched.content,
            blobs: parsed.blobs.iter().map(Digest::to_string).collect(),
            children: parsed.children.iter().map(Digest::to_string).collect(),
            optional_children: Vec::new(),
            tag_expires_after_ms: None,
            tag_immutable: false,
        };
        match self
            .db()
            .put_proxied_manifest(repo_id, &record, tag, &policy)
            .await?
        {
            PutManifest::Stored => {}
            PutManifest::TagImmutable => {
                return Err(RegistryError::TagImmutable {
                    tag: tag.unwrap_or_default().to_owned(),
                    operation: "overwrite",
                });
            }
            PutManifest::MissingBlob(d) | PutManifest::MissingChild(d) => {
                return Err(RegistryError::ManifestBlobUnknown(d));
            }
        }
        if let Some(tag) = tag {
            self.db().set_proxy_tag_checked(repo_id, tag).await?;
        }
        tracing::info!(repository = %repo, reference = %reference_text, %digest, "proxy cache: manifest cached");
        Ok(ManifestContent {
            digest,
            media_type: parsed.media_type,
            subject: parsed.subject.as_ref().map(Digest::to_string),
            content: record.content,
        })
    }

    /// A blob as a client pulls it: from storage, or in a proxy cache
    /// organization from the upstream. With `want_body`, the request that
    /// starts the fetch gets the bytes as they arrive; every other waits
    /// for them to be stored.
    pub async fn client_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        want_body: bool,
    ) -> Result<ClientBlob, RegistryError> {
        match self.open_blob(repo, digest).await {
            Ok(blob) => return Ok(ClientBlob::Stored(blob)),
            Err(RegistryError::BlobUnknown) => {}
            Err(e) => return Err(e),
        }
        let Some(target) = self.proxy_of(repo).await? else {
            return Err(RegistryError::BlobUnknown);
        };
        let (size_tx, size_rx) = tokio::sync::oneshot::channel::<Result<u64, ()>>();
        let (body_tx, body_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(STREAM_BUFFER);
        let key = format!("{repo}@{digest}");
        let registry = self.clone();
        let repo_owned = repo.clone();
        let digest_owned = digest.clone();
        let (flight, leader) = self.proxy_state().blob(&key, move || {
            async move {
                registry
                    .store_upstream_blob(target, &repo_owned, &digest_owned, size_tx, body_tx)
                    .await
                    .map_err(Arc::new)
            }
            .boxed()
        });
        if leader && want_body {
            // The size arrives before the bytes; without one (no
            // Content-Length upstream) the client waits for the whole blob.
            if let Ok(Ok(size)) = size_rx.await {
                let body = futures_util::stream::unfold(body_rx, |mut rx| async move {
                    rx.recv().await.map(|item| (item, rx))
                })
                .boxed();
                return Ok(ClientBlob::Streaming { size, body });
            }
        }
        // Nobody reads these bytes: the fetch must not wait for a reader.
        drop(body_rx);
        flight.await.map_err(unshare)?;
        self.open_blob(repo, digest).await.map(ClientBlob::Stored)
    }

    /// Fetch blob `digest` from the upstream into storage, telling its size
    /// on `size_tx` and passing its bytes to `body_tx` while they are
    /// stored; verified against the digest (and length) before it is kept.
    async fn store_upstream_blob(
        &self,
        target: ProxyTarget,
        repo: &RepositoryName,
        digest: &Digest,
        size_tx: tokio::sync::oneshot::Sender<Result<u64, ()>>,
        body_tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    ) -> Result<(), RegistryError> {
        // Stored meanwhile by a flight that just ended.
        if self.open_blob(repo, digest).await.is_ok() {
            drop(size_tx);
            return Ok(());
        }
        let remote = target.registry.remote_repository(repo.short());
        let fetched = target
            .client
            .blob(&remote, digest)
            .await
            .map_err(|e| upstream_error(&target, e, RegistryError::BlobUnknown))?;
        if let Some(size) = fetched.size {
            self.make_room(&target.namespace, size).await?;
        }
        let _ = size_tx.send(fetched.size.ok_or(()));
        let client = body_tx.clone();
        let teed = fetched
            .body
            .then(move |chunk| {
                let client = client.clone();
                async move {
                    if let Ok(bytes) = &chunk {
                        // A client that went away does not stop the fetch.
                        let _ = client.send(Ok(bytes.clone())).await;
                    }
                    chunk
                }
            })
            .boxed();
        let declared = BlobRange {
            start: None,
            length: fetched.size,
        };
        let stored = self.upload_monolithic(repo, digest, declared, teed).await;
        match stored {
            Ok(()) => {
                if let Some(id) = self.db().repository_id(repo.as_str()).await? {
                    self.db().settle_proxied_blob(id, &digest.to_string()).await?;
                }
                tracing::info!(repository = %repo, %digest, "proxy cache: blob cached");
                Ok(())
            }
            Err(e) => {
                let message = format!(
                    "upstream {}: blob {digest} of {remote}: {e}",
                    target.registry.as_configured()
                );
                let _ = body_tx.send(Err(std::io::Error::other(message.clone()))).await;
                Err(RegistryError::Proxy(message))
            }
        }
    }

    /// Before `incoming` bytes are cached in proxy namespace `ns` under a
    /// reject limit, delete its least recently cached manifests until they
    /// fit, as Quay's proxy cache evicts; refused if they cannot.
    async fn make_room(&self, ns: &str, incoming: u64) -> Result<(), RegistryError> {
        let Some(limit) = self.reject_limit(ns).await? else {
            return Ok(());
        };
        loop {
            let usage = self.namespace_usage(ns).await?;
            if usage.saturating_add(incoming) < limit {
                return Ok(());
            }
            let exceeded = || RegistryError::QuotaExceeded {
                namespace: ns.to_owned(),
                usage: usage.saturating_add(incoming),
                limit,
            };
            if incoming >= limit {
                return Err(exceeded());
            }
            let Some((repo_id, digest)) = self.db().oldest_cached_manifest(ns).await? else {
                return Err(exceeded());
            };
            match self
                .db()
                .delete_manifest(repo_id, &digest, &|_: &str| false)
                .await?
            {
                DeleteManifest::Deleted | DeleteManifest::Missing => {
                    tracing::info!(namespace = ns, %digest, "proxy cache: evicted to stay within the quota");
                }
                DeleteManifest::Immutable(_) => return Err(exceeded()),
            }
        }
    }
}
