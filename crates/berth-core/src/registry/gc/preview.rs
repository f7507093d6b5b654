//! Blob storage as physical, referenced and reclaimable, and what a pass
//! started now would remove: the pass's own rules (`manifests.rs`) on one
//! snapshot, deleting nothing, so an operator sees what a pass would free.

use berth_store::metadata::{CollectionPreview, ManifestNode};

use super::manifests::unreachable_manifests;
use crate::Caller;
use crate::identity::Action;
use crate::registry::{ClientError, Registry, RegistryError};

/// Blobs and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobUsage {
    /// Blob rows (each one object in blob storage).
    pub blobs: u64,
    /// Their total size.
    pub bytes: u64,
}

/// Blob storage, and what a garbage collection pass started now would
/// remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageReport {
    /// Every blob stored, each counted once however many repositories
    /// link it.
    pub physical: BlobUsage,
    /// What a pass keeps: blobs a kept manifest references, or pushed
    /// within the grace period.
    pub referenced: BlobUsage,
    /// What a pass would delete now.
    pub reclaimable: BlobUsage,
    /// Objects whose blob rows are already gone, queued for deletion
    /// (while a backup holds deletions, or after a failed delete).
    pub queued_objects: u64,
    /// Tag rows past their namespace's time-machine window.
    pub tag_rows: u64,
    /// Manifests nothing keeps.
    pub manifests: u64,
    /// Links of blobs to repositories no kept manifest uses.
    pub blob_links: u64,
}

impl From<CollectionPreview> for StorageReport {
    fn from(p: CollectionPreview) -> Self {
        let reclaimable = BlobUsage {
            blobs: p.blobs,
            bytes: p.bytes,
        };
        StorageReport {
            physical: BlobUsage {
                blobs: p.stored_blobs,
                bytes: p.stored_bytes,
            },
            referenced: BlobUsage {
                blobs: p.stored_blobs.saturating_sub(p.blobs),
                bytes: p.stored_bytes.saturating_sub(p.bytes),
            },
            reclaimable,
            queued_objects: p.queued_objects,
            tag_rows: p.tag_rows,
            manifests: p.manifests,
            blob_links: p.blob_links,
        }
    }
}

impl Registry {
    /// What a garbage collection pass started now would remove, without
    /// removing anything (`berth gc --dry-run`).
    pub async fn preview_garbage(&self) -> Result<StorageReport, RegistryError> {
        let sweep = self.sweep();
        let grace_cutoff = sweep.grace_cutoff_ms;
        let pick = move |nodes: &[ManifestNode]| unreachable_manifests(nodes, grace_cutoff);
        Ok(self.db.preview_collection(&sweep, &pick).await?.into())
    }

    /// The storage report, for superusers.
    pub async fn storage_report(&self, caller: &Caller) -> Result<StorageReport, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::SuperUser)
            .await?;
        Ok(self.preview_garbage().await?)
    }
}
