//! The registry's status for superusers: stored bytes, what garbage
//! collection last did, the background queues and the health checks.

pub use berth_store::metadata::GcPassRow;

use super::{ClientError, Health, HealthScope, Registry};
use crate::Caller;
use crate::identity::Action;
use crate::metrics::QueueBacklog;

/// What the status page shows.
#[derive(Debug, Clone)]
pub struct RegistryStatus {
    /// Blobs stored (rows), and their total size in bytes.
    pub stored_blobs: u64,
    /// Total size of the stored blobs.
    pub stored_bytes: u64,
    /// The last garbage collection pass of any instance, if any ran.
    pub last_gc: Option<GcPassRow>,
    /// The last pass that removed anything.
    pub last_freeing_gc: Option<GcPassRow>,
    /// Each background queue (the scanner's `indexing` among them).
    pub queues: Vec<QueueBacklog>,
    /// The end-to-end health checks.
    pub health: Health,
}

impl Registry {
    /// The registry's status, for superusers.
    pub async fn registry_status(&self, caller: &Caller) -> Result<RegistryStatus, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::SuperUser)
            .await?;
        let (blobs, bytes) = self.db.stored_blob_totals().await?;
        let (last_gc, last_freeing_gc) = self.db.gc_passes().await?;
        Ok(RegistryStatus {
            stored_blobs: u64::try_from(blobs).unwrap_or(0),
            stored_bytes: u64::try_from(bytes).unwrap_or(0),
            last_gc,
            last_freeing_gc,
            queues: self.queue_backlogs().await?,
            health: self.health(HealthScope::EndToEnd).await,
        })
    }
}
