//! Global blob rows nothing uses, and the queue of their objects to
//! delete from blob storage.

use std::time::Duration;

use berth_oci::Digest;
use berth_store::metadata::DeletionClaim;
use berth_store::{StoredBlob, now_ms};

use super::{GcReport, millis};
use crate::registry::{Registry, RegistryError};

/// Digests examined per round trip.
const BATCH: i64 = 256;

/// How long a claimed object deletion is ours. The delete itself is
/// abandoned at half of it, so it never runs on after the claim lapses and
/// an upload may write the object again.
pub(crate) const DELETION_LEASE: Duration = Duration::from_secs(60);

impl Registry {
    /// Delete blob rows that no repository links and no manifest
    /// references, queueing their objects for deletion.
    pub(super) async fn collect_blobs(&self, report: &mut GcReport) -> Result<(), RegistryError> {
        let mut after = String::new();
        loop {
            let batch = self.db.unreferenced_blobs(&after, BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.clone();
            for digest in &batch {
                match self.db.delete_garbage_blob(digest).await {
                    Ok(Some(size)) => {
                        report.blobs += 1;
                        report.bytes += u64::try_from(size).unwrap_or(0);
                    }
                    Ok(None) => {}
                    // E.g. a concurrent reference made the delete fail: the
                    // blob is in use, and the next pass looks again.
                    Err(e) => tracing::warn!(%digest, error = %e, "cannot delete a garbage blob row"),
                }
            }
        }
    }

    /// Delete the objects whose deletion is queued and claimable.
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
            for digest in &batch {
                match self.delete_object(digest).await {
                    Ok(true) => report.objects += 1,
                    Ok(false) => {}
                    // The claim lapses and a later pass retries.
                    Err(e) => tracing::warn!(%digest, error = %e, "cannot delete a garbage blob's object"),
                }
            }
        }
    }

    /// Claim one queued deletion, delete the object, finish. Returns
    /// whether this call deleted it.
    async fn delete_object(&self, digest: &str) -> Result<bool, RegistryError> {
        let until = now_ms().saturating_add(millis(DELETION_LEASE));
        let location = match self.db.claim_blob_deletion(digest, until).await? {
            DeletionClaim::Claimed(location) => location,
            DeletionClaim::Cancelled | DeletionClaim::Skipped => return Ok(false),
        };
        let parsed: Digest = digest.parse()?;
        let stored = StoredBlob {
            digest: parsed,
            key: location,
        };
        match tokio::time::timeout(DELETION_LEASE / 2, self.blobs.delete(&stored)).await {
            Ok(deleted) => deleted?,
            Err(_) => {
                return Err(RegistryError::Internal(berth_store::StoreError::Conflict(
                    "deleting the object took too long".into(),
                )));
            }
        }
        self.db.finish_blob_deletion(digest, until).await?;
        Ok(true)
    }
}
