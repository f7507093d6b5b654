//! The registry service's settings, assembled from the configuration in one
//! place for every command that runs the registry (`serve`, `gc`).

use std::time::Duration;

use berth_core::RegistryConfig;
use berth_core::registry::{QuotaSettings, SparseIndexSettings};

use super::Config;

impl Config {
    /// Settings of the registry service, or why they are invalid.
    pub fn registry(&self) -> anyhow::Result<RegistryConfig> {
        let invalid = |e: String| anyhow::anyhow!("invalid configuration: {e}");
        let blob_redirect = self
            .FEATURE_BLOB_REDIRECTS
            .then(|| Duration::from_secs(self.BLOB_REDIRECT_EXPIRATION_S));
        Ok(RegistryConfig {
            manifest_size_limit: self.MANIFEST_SIZE_LIMIT,
            upload_lease: Duration::from_secs(self.UPLOAD_LEASE_S),
            upload_expiration: Duration::from_secs(self.UPLOAD_EXPIRATION_S),
            blob_redirect,
            index_images: self.FEATURE_SECURITY_SCANNER,
            write_mode: self.write_mode(),
            default_tag_expiration: self.default_tag_expiration(),
            tag_expiration_bounds: self.tag_expiration_bounds().map_err(invalid)?,
            quota: QuotaSettings {
                enabled: self.FEATURE_QUOTA_MANAGEMENT,
                enforce: self.FEATURE_VERIFY_QUOTA,
                default_reject_bytes: self.DEFAULT_SYSTEM_REJECT_QUOTA_BYTES,
            },
            gc: self.gc().map_err(invalid)?,
            pull_stats: self.FEATURE_IMAGE_PULL_STATS,
            autoprune: self.autoprune().map_err(invalid)?,
            notifications: self.notifications()?,
            sparse_index: SparseIndexSettings {
                enabled: self.FEATURE_SPARSE_INDEX,
                required_architectures: self.SPARSE_INDEX_REQUIRED_ARCHS.clone(),
            },
        })
    }
}
