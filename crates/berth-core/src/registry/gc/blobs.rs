//! Global blob rows nothing uses, and the queue of their objects to
//! delete from blob storage.

use std::time::Duration;

use berth_oci::Digest;
use berth_store::metadata::DeletionClaim;
use berth_store::{StoredBlob, now_ms};
use futures_util::StreamExt;

use super::{GcReport, millis};
use crate::registry::{Registry, RegistryError};

/// Digests examined per round trip.
const BATCH: i64 = 256;

/// How long a claimed object deletion is ours. The delete itself is
/// abandoned at half of it, so it never runs on after the claim lapses and
/// an upload may write the object again.
pub(crate) const DELETION_LEASE: Duration = Duration::from_secs(60);

/// Objects deleted from blob storage at once.
const DELETES_IN_FLIGHT: usize = 16;

impl Registry {
    /// Delete blob rows that no repository links and no manifest
    /// references, queueing their objects for deletion: a batch per
    /// transaction.
    pub(super) async fn collect_blobs(&self, report: &mut GcReport) -> Result<(), RegistryError> {
        let mut after = String::new();
        loop {
            let batch = self.db.unreferenced_blobs(&after, BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.clone();
            match self.db.delete_garbage_blobs(&batch).await {
                Ok(deleted) => {
                    for (_, size) in deleted {
                        report.blobs += 1;
                        report.bytes += u64::try_from(size).unwrap_or(0);
                    }
                }
                // E.g. a concurrent reference made a delete fail: nothing
                // of the batch was deleted, and the next pass looks again.
                Err(e) => tracing::warn!(error = %e, "cannot delete a batch of garbage blob rows"),
            }
        }
    }

    /// Delete the objects whose deletion is queued and claimable: a batch
    /// claimed per transaction, its objects deleted a few at a time.
    pub(super) async fn delete_queued_objects(&self, report: &mut GcReport) -> Result<(), RegistryError> {
        if self.db.gc_held().await? {
            // Each claim checks again; this only spares the round trips.
            tracing::debug!("garbage collection: object deletions held");
            return Ok(());
        }
        let mut after = String::new();
        loop {
            let batch = self.db.queued_blob_deletions(&after, BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.clone();
            match self.delete_objects(&batch).await {
                Ok(n) => report.objects += n,
                // The claims lapse and a later pass retries.
                Err(e) => tracing::warn!(error = %e, "cannot delete a batch of garbage blobs' objects"),
            }
        }
    }

    /// Claim a batch of queued deletions, delete their objects, finish
    /// those deleted. Returns how many objects this call deleted.
    async fn delete_objects(&self, digests: &[String]) -> Result<u64, RegistryError> {
        let claimed_at = tokio::time::Instant::now();
        let until = now_ms().saturating_add(millis(DELETION_LEASE));
        let claims = self.db.claim_blob_deletions(digests, until).await?;
        // Every delete is abandoned at half the lease, so none runs on
        // after the claim lapses and an upload may write the object again.
        let deadline = claimed_at + DELETION_LEASE / 2;
        let deleted: Vec<String> = futures_util::stream::iter(claims)
            .filter_map(|(digest, claim)| async move {
                match claim {
                    DeletionClaim::Claimed(location) => Some((digest, location)),
                    DeletionClaim::Cancelled | DeletionClaim::Skipped => None,
                }
            })
            .map(|(digest, location)| async move {
                let parsed: Digest = match digest.parse() {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(%digest, error = %e, "a queued deletion names no digest");
                        return None;
                    }
                };
                let stored = StoredBlob {
                    digest: parsed,
                    key: location,
                };
                match tokio::time::timeout_at(deadline, self.blobs.delete(&stored)).await {
                    Ok(Ok(())) => Some(digest),
                    Ok(Err(e)) => {
                        tracing::warn!(%digest, error = %e, "cannot delete a garbage blob's object");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(%digest, "deleting a garbage blob's object took too long");
                        None
                    }
                }
            })
            .buffer_unordered(DELETES_IN_FLIGHT)
            .filter_map(|d| async move { d })
            .collect()
            .await;
        self.db.finish_blob_deletions(&deleted, until).await?;
        Ok(u64::try_from(deleted.len()).unwrap_or(u64::MAX))
    }
}
