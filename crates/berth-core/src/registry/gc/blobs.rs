//! Global blob rows nothing uses, and the queue of their objects to
//! delete from blob storage.

use std::time::Duration;

use berth_store::metadata::DeletionClaim;
use berth_store::{StoredBlob, now_ms};
use futures_util::{StreamExt, TryStreamExt};

use super::{GcReport, millis};
use crate::registry::{Registry, RegistryError};

/// Digests examined per round trip.
const BATCH: i64 = 256;

/// How long a claimed object deletion is ours. The delete itself is
/// abandoned at half of it, so it never runs on after the claim lapses and
/// an upload may write the object again.
pub(crate) const DELETION_LEASE: Duration = Duration::from_secs(60);

/// Batches worked on at once: while one waits on the database or the
/// store, the next is read and decided. Safe as several instances'
/// passes are: each batch is its own transaction over its digests' locks.
const BATCHES_IN_FLIGHT: usize = 4;

/// The batches a keyset walk yields: `page(after)` gives a batch and where
/// the next page starts (`None` at the end). The next page is read while
/// earlier batches are worked on; empty batches are skipped.
fn batches<'a, F, Fut>(page: F) -> impl futures_util::Stream<Item = Result<Vec<String>, RegistryError>> + 'a
where
    F: Fn(String) -> Fut + 'a,
    Fut: std::future::Future<Output = Result<(Vec<String>, Option<String>), berth_store::StoreError>> + 'a,
{
    futures_util::stream::try_unfold((Some(String::new()), page), |(after, page)| async move {
        let Some(after) = after else {
            return Ok(None);
        };
        let (batch, next) = page(after).await?;
        Ok(Some((batch, (next, page))))
    })
    .try_filter(|batch| std::future::ready(!batch.is_empty()))
}

impl Registry {
    /// Delete blob rows that no repository links and no manifest
    /// references, queueing their objects for deletion: a batch per
    /// transaction.
    pub(super) async fn collect_blobs(&self, report: &mut GcReport) -> Result<(), RegistryError> {
        let mut done = std::pin::pin!(
            batches(|after| async move { self.db.unreferenced_blobs(&after, BATCH).await })
                .map_ok(|batch| async move { Ok(self.db.delete_garbage_blobs(&batch).await) })
                .try_buffer_unordered(BATCHES_IN_FLIGHT)
        );
        while let Some(deleted) = done.try_next().await? {
            match deleted {
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
        Ok(())
    }

    /// Delete the objects whose deletion is queued and claimable: a batch
    /// claimed per transaction, its objects deleted together.
    pub(super) async fn delete_queued_objects(&self, report: &mut GcReport) -> Result<(), RegistryError> {
        if self.db.gc_held().await? {
            // Each claim checks again; this only spares the round trips.
            tracing::debug!("garbage collection: object deletions held");
            return Ok(());
        }
        let mut done = std::pin::pin!(
            batches(|after| async move {
                let batch = self.db.queued_blob_deletions(&after, BATCH).await?;
                let next = batch.last().cloned();
                Ok((batch, next))
            })
            .map_ok(|batch| async move { Ok(self.delete_objects(&batch).await) })
            .try_buffer_unordered(BATCHES_IN_FLIGHT)
        );
        while let Some(deleted) = done.try_next().await? {
            match deleted {
                Ok(n) => report.objects += n,
                // The claims lapse and a later pass retries.
                Err(e) => tracing::warn!(error = %e, "cannot delete a batch of garbage blobs' objects"),
            }
        }
        Ok(())
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
        let mut blobs = Vec::with_capacity(claims.len());
        for (digest, claim) in claims {
            let DeletionClaim::Claimed(key) = claim else {
                continue;
            };
            match digest.parse() {
                Ok(digest) => blobs.push(StoredBlob { digest, key }),
                Err(e) => tracing::warn!(%digest, error = %e, "a queued deletion names no digest"),
            }
        }
        let claimed = blobs.len();
        let deleted: Vec<String> = self
            .blobs
            .delete_many(blobs)
            .take_until(tokio::time::sleep_until(deadline))
            .map(|blob| blob.digest.to_string())
            .collect()
            .await;
        if deleted.len() < claimed {
            tracing::warn!(
                claimed,
                deleted = deleted.len(),
                "some garbage blobs' objects were not deleted; a later pass retries"
            );
        }
        self.db.finish_blob_deletions(&deleted, until).await?;
        Ok(u64::try_from(deleted.len()).unwrap_or(u64::MAX))
    }
}
