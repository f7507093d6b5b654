//! The registry service: what the distribution API does, independent of HTTP.

mod blobs;
mod error;
mod listing;
mod manifests;
mod upload_locks;
mod uploads;

use std::sync::Arc;

use berth_oci::validate_repository;
use berth_store::{BlobStore, Db};

pub use blobs::LinkedBlob;
pub use error::RegistryError;
pub use listing::Page;
pub use manifests::{ManifestContent, PushedManifest};
pub use uploads::{BlobRange, UploadStatus};

use upload_locks::UploadLocks;

/// Limits and switches of the registry service.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Largest manifest accepted, in bytes.
    pub manifest_size_limit: usize,
    /// Queue every pushed image manifest for indexing (an [`crate::Indexer`]
    /// must run to work the queue off).
    pub index_images: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            manifest_size_limit: 4 * 1024 * 1024,
            index_images: false,
        }
    }
}

/// The registry: metadata, blob bytes and per-upload locks.
#[derive(Clone)]
pub struct Registry {
    db: Db,
    pub(crate) blobs: Arc<dyn BlobStore>,
    locks: Arc<UploadLocks>,
    config: RegistryConfig,
    /// Wakes the indexer when a manifest is queued.
    pub(crate) scan_wakeup: Arc<tokio::sync::Notify>,
}

impl Registry {
    /// Assemble the service from its stores.
    pub fn new(db: Db, blobs: Arc<dyn BlobStore>, config: RegistryConfig) -> Registry {
        Registry {
            db,
            blobs,
            locks: Arc::new(UploadLocks::default()),
            config,
            scan_wakeup: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The service's limits.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The metadata database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Remove staged upload data that no session owns (left by a crash
    /// during a monolithic upload). Call before serving requests.
    pub async fn remove_orphaned_uploads(&self) -> Result<usize, RegistryError> {
        let mut removed = 0;
        for id in self.blobs.staged_uploads().await? {
            if !self.db.upload_exists(&id).await? {
                self.blobs.abort(&id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Existing repository id, or `None`.
    async fn existing_repo(&self, name: &str) -> Result<Option<i64>, RegistryError> {
        validate_repository(name)?;
        Ok(self.db.repository_id(name).await?)
    }

    /// Repository id, creating the repository (first push).
    async fn repo_for_push(&self, name: &str) -> Result<i64, RegistryError> {
        validate_repository(name)?;
        Ok(self.db.ensure_repository(name).await?)
    }
}
