//! Vulnerability reports: feed updates stored as normalized advisories
//! (`updater.rs`), and matching stored image inventories against them —
//! when an image is indexed, and again for the images a changed advisory
//! can touch, without reading layers.

mod updater;

use std::collections::{BTreeSet, HashMap};

use berth_scan::{INDEX_FORMAT, Inventory};
use berth_store::metadata::{AdvisoryRow, AdvisoryWrite};
use berth_store::{Db, StoreError};
use berth_vulns::matching::{self, Key};
use berth_vulns::{Advisory, Affected, Event};

pub use berth_vulns::feeds::FeedSettings;
pub use berth_vulns::matching::{Feature, Report, Vulnerability};
pub use berth_vulns::{Feed, Severity};
pub use updater::{FeedStatus, UpdaterConfig, VulnUpdater};

/// The version ordering a package's versions follow, as reports name it
/// (`dpkg`, `apk`, `pep440`...).
pub fn version_format(package: &berth_scan::Package) -> &'static str {
    use berth_scan::version::Scheme;
    match Scheme::for_ecosystem(package.ecosystem) {
        Scheme::Dpkg => "dpkg",
        Scheme::Rpm => "rpm",
        Scheme::Apk => "apk",
        Scheme::Pep440 => "pep440",
        Scheme::Semver => "semver",
        Scheme::Npm => "npm",
        Scheme::Go => "go",
        Scheme::Maven => "maven",
        Scheme::RubyGems => "rubygems",
    }
}

/// Why matching or an update failed.
#[derive(Debug, thiserror::Error)]
pub enum VulnError {
    /// Metadata storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A stored value could not be read or written.
    #[error("encoding: {0}")]
    Encode(#[from] serde_json::Error),
    /// A feed failed.
    #[error(transparent)]
    Feed(#[from] berth_vulns::FeedError),
}

/// The row form of an advisory.
pub(crate) fn to_row(a: &Advisory) -> Result<AdvisoryWrite, serde_json::Error> {
    let affected = serde_json::to_string(&a.affected)?;
    let aliases = serde_json::to_string(&a.aliases)?;
    let links = serde_json::to_string(&a.links)?;
    let fixed_version = match &a.affected {
        Affected::Distro { fixed, .. } => fixed.clone(),
        Affected::Cvss(_) | Affected::Epss(_) => None,
        Affected::Ranges { ranges, .. } => ranges.iter().flat_map(|r| &r.events).find_map(|e| match e {
            Event::Fixed(v) => Some(v.clone()),
            _ => None,
        }),
    };
    let digest = hex::encode(crate::crypto::sha256(&[&serde_json::to_vec(a)?]));
    Ok(AdvisoryWrite {
        namespace: a.namespace.clone(),
        package: a.package.clone(),
        id: a.id.clone(),
        aliases,
        severity: a.severity.as_str().to_owned(),
        fixed_version,
        affected,
        links,
        description: a.description.clone(),
        digest,
    })
}

fn from_row(r: AdvisoryRow) -> Result<Advisory, serde_json::Error> {
    Ok(Advisory {
        id: r.id,
        aliases: serde_json::from_str(&r.aliases)?,
        namespace: r.namespace,
        package: r.package,
        affected: serde_json::from_str(&r.affected)?,
        severity: Severity::parse(&r.severity).unwrap_or_default(),
        links: serde_json::from_str(&r.links)?,
        description: r.description,
    })
}

/// Match a manifest's stored inventory against the stored advisories and
/// store the report. `Ok(None)` when the manifest has no inventory yet.
pub async fn match_manifest(db: &Db, manifest_digest: &str) -> Result<Option<Report>, VulnError> {
    let Some(stored) = db.scan_report(manifest_digest, INDEX_FORMAT as i32).await? else {
        return Ok(None);
    };
    let inventory: Inventory = serde_json::from_str(&stored)?;
    Ok(Some(match_inventory(db, manifest_digest, &inventory).await?))
}

/// Match `inventory` (of manifest `manifest_digest`) against the stored
/// advisories and store the report.
pub async fn match_inventory(
    db: &Db,
    manifest_digest: &str,
    inventory: &Inventory,
) -> Result<Report, VulnError> {
    let mut keys = matching::keys(inventory);
    let advisories = load(db, &keys).await?;
    let mut report = matching::match_inventory(inventory, &advisories);
    // Enrichment records are keys of the report too, so a changed score
    // matches again the images whose findings carry it.
    let enrichment_keys = matching::enrichment_keys(&report);
    let enrichments = load(db, &enrichment_keys).await?;
    matching::enrich(&mut report, &enrichments);
    keys.extend(enrichment_keys);
    let keys: Vec<(String, String)> = keys.into_iter().map(|k| (k.namespace, k.package)).collect();
    db.put_vuln_report(manifest_digest, &serde_json::to_string(&report)?, &keys)
        .await?;
    Ok(report)
}

/// The stored records under each of `keys` (keys without any left out).
async fn load(db: &Db, keys: &BTreeSet<Key>) -> Result<HashMap<Key, Vec<Advisory>>, VulnError> {
    let mut out: HashMap<Key, Vec<Advisory>> = HashMap::with_capacity(keys.len());
    for key in keys {
        let rows = db.vuln_advisories(&key.namespace, &key.package).await?;
        if rows.is_empty() {
            continue;
        }
        let list = rows.into_iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        out.insert(key.clone(), list);
    }
    Ok(out)
}

/// Match again every stored image whose report used one of `keys`.
/// Returns how many were matched.
pub async fn rematch(db: &Db, keys: &BTreeSet<(String, String)>) -> Result<usize, VulnError> {
    let manifests = db.manifests_matched_on(keys).await?;
    for digest in &manifests {
        match_manifest(db, digest).await?;
    }
    Ok(manifests.len())
}

/// A stored report.
pub async fn stored_report(db: &Db, manifest_digest: &str) -> Result<Option<Report>, VulnError> {
    match db.vuln_report(manifest_digest).await? {
        Some(r) => Ok(Some(serde_json::from_str(&r)?)),
        None => Ok(None),
    }
}
