//! Reports read across images: the per-severity summary of each tag's
//! manifest (the tag listing, the console), and the manifests a
//! vulnerability affects under any of its names, among the repositories
//! the caller can see.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use berth_oci::ParsedManifest;

use super::SecurityStatus;
use crate::identity::Action;
use crate::registry::{ClientError, Registry, RegistryError};
use crate::vulns::{Inventory, Report, Summary, VulnError};
use crate::{Caller, RepositoryName};

/// Manifests looked at for one vulnerability, at most.
const MAX_AFFECTED: i64 = 1000;
/// Packages one match request may name.
const MAX_MATCH_PACKAGES: usize = 100_000;

/// Where a manifest's report stands and its findings per severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySummary {
    /// Quay's status of the report.
    pub status: SecurityStatus,
    /// Findings per severity (empty unless `Scanned`).
    pub counts: Summary,
}

/// A manifest a vulnerability affects, where the caller can see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedManifest {
    /// The repository.
    pub repository: String,
    /// The manifest.
    pub manifest_digest: String,
    /// Its tags that resolve now.
    pub tags: Vec<String>,
}

/// What a vulnerability affects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedManifests {
    /// Every name it was looked up by: the id asked for and its records'
    /// aliases.
    pub ids: Vec<String>,
    /// The manifests, by repository and digest.
    pub manifests: Vec<AffectedManifest>,
}

/// Whether `id` can name a vulnerability (`CVE-2024-1`, `GHSA-xxxx-...`,
/// `PYSEC-2021-9`, `DSA-5000-1`, `RHSA-2024:1234`).
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn internal(e: VulnError) -> ClientError {
    match e {
        VulnError::Store(e) => RegistryError::Internal(e).into(),
        other => RegistryError::Internal(berth_store::StoreError::Corrupt(other.to_string())).into(),
    }
}

impl Registry {
    /// Per-severity summaries of manifests `digests` of `repo` (each tag's
    /// manifest in a listing), for those who may pull it. Empty while the
    /// scanner is off; digests the repository does not hold are left out.
    pub async fn security_summaries(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        digests: &[String],
    ) -> Result<BTreeMap<String, SecuritySummary>, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Pull(repo.as_str()))
            .await?;
        let mut out = BTreeMap::new();
        if !self.config.index_images {
            return Ok(out);
        }
        let wanted: BTreeSet<&String> = digests.iter().collect();
        for digest in wanted {
            // A summary this version cannot read counts as not matched yet.
            let counts = match crate::vulns::stored_summary(&self.db, digest).await {
                Ok(c) => c,
                Err(VulnError::Store(e)) => return Err(RegistryError::Internal(e).into()),
                Err(_) => None,
            };
            let summary = match counts {
                Some(counts) => SecuritySummary {
                    status: SecurityStatus::Scanned,
                    counts,
                },
                None => {
                    let Some(manifest) = self.db.manifest_by_digest(repo.as_str(), digest).await? else {
                        continue;
                    };
                    let is_image = ParsedManifest::parse(&manifest.content, Some(&manifest.media_type))
                        .is_ok_and(|p| super::super::manifests::is_image(&p));
                    let status = if !is_image {
                        SecurityStatus::Unsupported
                    } else if self.db.scan_failed(digest, crate::indexer::MAX_ATTEMPTS).await? {
                        SecurityStatus::Failed
                    } else {
                        SecurityStatus::Queued
                    };
                    SecuritySummary {
                        status,
                        counts: Summary::new(),
                    }
                }
            };
            out.insert(digest.clone(), summary);
        }
        Ok(out)
    }

    /// The manifests vulnerability `id` affects (under `id` or any alias
    /// its records give), with their repositories and tags, among the
    /// repositories the caller may pull. Not found while the scanner is off.
    pub async fn vulnerability_manifests(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<AffectedManifests, ClientError> {
        if !valid_id(id) {
            return Err(ClientError::Invalid(format!(
                "invalid vulnerability id {id:?}: letters, digits, '-', '_', '.' and ':', at most 128"
            )));
        }
        if !self.config.index_images {
            return Err(ClientError::NotFound(
                "security scanning is not enabled (FEATURE_SECURITY_SCANNER)".into(),
            ));
        }
        let mut ids = BTreeSet::from([id.to_owned()]);
        for aliases in self.db.vuln_advisory_aliases(id).await? {
            let list: Vec<String> = serde_json::from_str(&aliases).map_err(|e| internal(e.into()))?;
            ids.extend(list);
        }
        let mut digests = BTreeSet::new();
        for name in &ids {
            digests.extend(self.db.manifests_with_vuln_id(name, MAX_AFFECTED).await?);
        }
        let mut visible: HashMap<String, bool> = HashMap::new();
        let mut manifests = Vec::new();
        let digests: Vec<String> = digests.into_iter().collect();
        for (digest, places) in self.db.manifests_placements(&digests).await? {
            for place in places {
                let allowed = match visible.get(&place.repository) {
                    Some(a) => *a,
                    None => {
                        let a = self
                            .identity
                            .allowed(&caller.principal, Action::Pull(&place.repository))
                            .await?;
                        visible.insert(place.repository.clone(), a);
                        a
                    }
                };
                if allowed {
                    manifests.push(AffectedManifest {
                        repository: place.repository,
                        manifest_digest: digest.clone(),
                        tags: place.tags,
                    });
                }
            }
        }
        manifests
            .sort_by(|a, b| (&a.repository, &a.manifest_digest).cmp(&(&b.repository, &b.manifest_digest)));
        Ok(AffectedManifests {
            ids: ids.into_iter().collect(),
            manifests,
        })
    }

    /// The report of an image indexed elsewhere (`berth scan vulns
    /// --registry`), matched against this registry's advisories and not
    /// stored. Advisories are public records, so any caller may ask. Not
    /// found while the scanner is off.
    pub async fn match_packages(
        &self,
        _caller: &Caller,
        inventory: &Inventory,
    ) -> Result<Report, ClientError> {
        if !self.config.index_images {
            return Err(ClientError::NotFound(
                "security scanning is not enabled (FEATURE_SECURITY_SCANNER)".into(),
            ));
        }
        if inventory.packages.len() > MAX_MATCH_PACKAGES {
            return Err(ClientError::Invalid(format!(
                "at most {MAX_MATCH_PACKAGES} packages per request"
            )));
        }
        crate::vulns::match_only(&self.db, inventory)
            .await
            .map_err(internal)
    }
}
