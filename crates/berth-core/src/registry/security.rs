//! An image's security report as Quay's security API gives it: whether
//! the manifest is indexed, and its packages with their vulnerabilities.

mod affected;

use berth_oci::{Digest, ParsedManifest};
use berth_vulns::matching::Report;

use super::{ClientError, Registry, RegistryError};
use crate::identity::Action;
use crate::{Caller, RepositoryName};

pub use affected::{AffectedManifest, AffectedManifests, SecuritySummary};

/// Where a manifest's report stands (Quay's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityStatus {
    /// Not indexed or matched yet.
    Queued,
    /// Indexed and matched: the report is there.
    Scanned,
    /// Indexing gave up after its retries.
    Failed,
    /// Not an image (an index, an artifact): never indexed.
    Unsupported,
}

impl SecurityStatus {
    /// Quay's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityStatus::Queued => "queued",
            SecurityStatus::Scanned => "scanned",
            SecurityStatus::Failed => "failed",
            SecurityStatus::Unsupported => "unsupported",
        }
    }
}

/// A manifest's security report.
#[derive(Debug, Clone)]
pub struct SecurityReport {
    /// Where it stands.
    pub status: SecurityStatus,
    /// The manifest.
    pub manifest_digest: String,
    /// The report, when scanned.
    pub report: Option<Report>,
}

impl Registry {
    /// The security report of manifest `digest` of `repo`, for those who
    /// may pull it. Not found while the scanner is off (as in Quay, whose
    /// endpoint then does not exist).
    pub async fn security_report(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<SecurityReport, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Pull(repo.as_str()))
            .await?;
        if !self.config.index_images {
            return Err(ClientError::NotFound(
                "security scanning is not enabled (FEATURE_SECURITY_SCANNER)".into(),
            ));
        }
        if self.existing_repo(repo).await?.is_none() {
            return Err(RegistryError::NameUnknown.into());
        }
        let digest = digest.to_string();
        let Some(manifest) = self.db.manifest_by_digest(repo.as_str(), &digest).await? else {
            return Err(ClientError::NotFound(format!("No such manifest: {digest}")));
        };
        let status = |status| SecurityReport {
            status,
            manifest_digest: digest.clone(),
            report: None,
        };
        let is_image = ParsedManifest::parse(&manifest.content, Some(&manifest.media_type))
            .is_ok_and(|p| super::manifests::is_image(&p));
        if !is_image {
            return Ok(status(SecurityStatus::Unsupported));
        }
        let report = match crate::vulns::stored_report(&self.db, &digest).await {
            Ok(r) => r,
            Err(crate::vulns::VulnError::Store(e)) => return Err(RegistryError::Internal(e).into()),
            // A report this version cannot read is matched again when its
            // image is next indexed or its advisories change.
            Err(_) => None,
        };
        if let Some(report) = report {
            return Ok(SecurityReport {
                status: SecurityStatus::Scanned,
                manifest_digest: digest,
                report: Some(report),
            });
        }
        if self.db.scan_failed(&digest, crate::indexer::MAX_ATTEMPTS).await? {
            return Ok(status(SecurityStatus::Failed));
        }
        Ok(status(SecurityStatus::Queued))
    }
}
