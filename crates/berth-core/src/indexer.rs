//! Background indexing of pushed images: a worker claims queued manifests,
//! indexes each layer once (results are kept per layer digest, so images
//! sharing a base cost only their new layers) and stores the inventory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_oci::Digest;
use berth_scan::{INDEX_FORMAT, LayerIndex, Limits};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use berth_store::StoreError;

use crate::{Registry, RegistryError};

/// How long a claimed job is reserved for its worker.
const LEASE: Duration = Duration::from_secs(15 * 60);
/// Claims before a job that keeps failing is left alone.
pub(crate) const MAX_ATTEMPTS: i32 = 3;
/// Poll interval when nothing wakes the worker (jobs of other instances).
const IDLE: Duration = Duration::from_secs(5);

/// A layer's stored outcome: layers are immutable, so a failure is as
/// final as a success for that scanner format.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredLayer {
    Indexed(LayerIndex),
    Failed(String),
}

/// Why an indexing step failed (the job stays queued and is retried).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Metadata storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Reading a blob through the registry failed.
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
    /// The indexing thread ended abnormally.
    #[error("indexing task: {0}")]
    Task(String),
    /// Blob storage failed while a layer was read (not the layer's fault).
    #[error("reading a layer: {0}")]
    Read(String),
    /// A result could not be encoded.
    #[error("encoding a result: {0}")]
    Encode(#[from] serde_json::Error),
    /// Matching the inventory against the advisories failed.
    #[error("matching vulnerabilities: {0}")]
    Match(#[from] crate::vulns::VulnError),
}

/// The queue's worker.
pub struct Indexer {
    registry: Registry,
    limits: Limits,
    wakeup: Arc<Notify>,
}

#[derive(Deserialize)]
struct LayerRef {
    digest: String,
}

#[derive(Deserialize)]
struct ImageManifest {
    #[serde(default)]
    layers: Vec<LayerRef>,
}

impl Indexer {
    /// A worker for the registry's queue.
    pub fn new(registry: Registry) -> Indexer {
        let wakeup = registry.scan_wakeup.clone();
        Indexer {
            registry,
            limits: Limits::default(),
            wakeup,
        }
    }

    /// Work until `shutdown` completes; a job in progress when it does is
    /// dropped and claimed again after its lease.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        // Reports stored by an earlier version get their summaries first.
        tokio::select! {
            () = &mut shutdown => return,
            r = crate::vulns::backfill_summaries(self.registry.db()) => match r {
                Ok(0) => {}
                Ok(n) => tracing::info!(reports = n, "stored reports matched again for their summaries"),
                Err(e) => tracing::warn!(error = %e, "matching stored reports again failed"),
            },
        }
        loop {
            let busy = tokio::select! {
                () = &mut shutdown => return,
                r = self.step() => match r {
                    Ok(busy) => busy,
                    Err(e) => {
                        tracing::warn!(error = %e, "indexing failed; the job is retried after its lease");
                        false
                    }
                },
            };
            if !busy {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = self.wakeup.notified() => {}
                    () = tokio::time::sleep(IDLE) => {}
                }
            }
        }
    }

    /// Index one queued image. `Ok(false)` when nothing was waiting.
    pub async fn step(&self) -> Result<bool, IndexError> {
        let db = self.registry.db();
        let Some(job) = db.claim_scan(LEASE.as_millis() as i64, MAX_ATTEMPTS).await? else {
            return Ok(false);
        };
        let Some(manifest) = db
            .manifest_by_digest(&job.repository, &job.manifest_digest)
            .await?
        else {
            // Deleted while it waited.
            db.finish_scan(job.id).await?;
            return Ok(true);
        };
        let layers = match serde_json::from_slice::<ImageManifest>(&manifest.content) {
            Ok(m) => m.layers,
            Err(e) => {
                tracing::warn!(digest = %job.manifest_digest, error = %e, "queued manifest is not an image");
                db.finish_scan(job.id).await?;
                return Ok(true);
            }
        };
        // Stored names were valid when pushed.
        let repository = crate::RepositoryName::new(job.repository.as_str())
            .map_err(|e| RegistryError::NameInvalid(e.to_string()))?;
        let mut indexed: Vec<(Digest, Result<LayerIndex, String>)> = Vec::with_capacity(layers.len());
        for layer in layers {
            let Ok(digest) = layer.digest.parse::<Digest>() else {
                continue;
            };
            let result = self.layer(&repository, &digest).await?;
            indexed.push((digest, result));
        }
        let inventory = berth_scan::assemble(&indexed);
        // The vulnerability report is stored with the inventory; a failure
        // retries the job.
        let found = crate::vulns::match_inventory(db, &job.manifest_digest, &inventory).await?;
        let report = serde_json::to_string(&inventory)?;
        db.put_scan_report(&job.manifest_digest, INDEX_FORMAT as i32, &report)
            .await?;
        db.finish_scan(job.id).await?;
        // Recorded once the job is done, so a retried job does not record them twice.
        let notify = &self.registry.config().notifications;
        if let Some(min) = notify.new_index_min_severity
            && crate::vulns::record_new_index(
                db,
                &notify.site,
                &job.repository,
                &job.manifest_digest,
                &found,
                min,
            )
            .await?
                > 0
        {
            self.registry.notify_wakeup.notify_waiters();
        }
        tracing::info!(
            repository = %job.repository,
            digest = %job.manifest_digest,
            packages = inventory.packages.len(),
            "image indexed"
        );
        Ok(true)
    }

    /// A layer's index: stored, or read from blob storage now and stored.
    async fn layer(
        &self,
        repository: &crate::RepositoryName,
        digest: &Digest,
    ) -> Result<Result<LayerIndex, String>, IndexError> {
        let db = self.registry.db();
        let key = digest.to_string();
        if let Some(stored) = db.scan_layer(&key, INDEX_FORMAT as i32).await?
            && let Ok(stored) = serde_json::from_str::<StoredLayer>(&stored)
        {
            return Ok(match stored {
                StoredLayer::Indexed(i) => Ok(i),
                StoredLayer::Failed(e) => Err(e),
            });
        }
        let blob = match self.registry.open_blob(repository, digest).await {
            Ok(b) => b,
            // Not stored here (a foreign layer): nothing to index, nothing
            // to remember.
            Err(RegistryError::BlobUnknown) => return Ok(Err("layer blob is not stored".into())),
            Err(e) => return Err(e.into()),
        };
        let stream = self.registry.read_blob(&blob, None).await?;
        // Storage errors are told apart from the layer's own: only a result
        // that depends on the layer's bytes alone may be stored.
        let storage_failed = Arc::new(AtomicBool::new(false));
        let flag = storage_failed.clone();
        let stream = stream.inspect_err(move |_| flag.store(true, Ordering::Relaxed));
        // The blocking read outlives this future when the indexer stops
        // mid-layer; ending its stream here keeps it from polling storage
        // (and its timers) after the runtime has shut down.
        let stop = tokio_util::sync::CancellationToken::new();
        let _stop_reading = stop.clone().drop_guard();
        let stream = Box::pin(stream.take_until(stop.cancelled_owned()));
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
        let limits = self.limits;
        let result = tokio::task::spawn_blocking(move || berth_scan::index_layer(reader, &limits))
            .await
            .map_err(|e| IndexError::Task(e.to_string()))?;
        let stored = match result {
            Ok(index) => StoredLayer::Indexed(index),
            Err(e) if storage_failed.load(Ordering::Relaxed) => return Err(IndexError::Read(e.to_string())),
            Err(e) => StoredLayer::Failed(e.to_string()),
        };
        let json = serde_json::to_string(&stored)?;
        db.put_scan_layer(&key, INDEX_FORMAT as i32, &json).await?;
        Ok(match stored {
            StoredLayer::Indexed(i) => Ok(i),
            StoredLayer::Failed(e) => Err(e),
        })
    }
}
