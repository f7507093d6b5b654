//! Vulnerability reports: feed updates stored as normalized advisories
//! (`updater.rs`), and matching stored image inventories against them —
//! when an image is indexed, and again for the images a changed advisory
//! can touch, without reading layers.

mod bundle;
mod findings;
mod rematch;
mod stored;
mod updater;

use std::collections::{BTreeSet, HashMap};

use berth_scan::INDEX_FORMAT;
use berth_store::metadata::{AdvisoryRow, AdvisoryWrite};

use crate::notify::Site;
use berth_store::{Db, StoreError};
use berth_vulns::matching::{self, Key};
use berth_vulns::{Advisory, Affected, Event};

pub use berth_scan::{Distribution, Inventory, InventoryEntry};
pub use berth_vulns::feeds::FeedSettings;
pub use berth_vulns::matching::{Feature, Report, Vulnerability};
pub use berth_vulns::{Feed, Severity};
pub use bundle::{BUNDLE_VERSION, Bundle, BundleError, BundledFeed, FeedCounts, export};
pub use findings::Summary;
pub use rematch::rematch;
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
    /// Stored rows of a report do not fit together.
    #[error("stored report: {0}")]
    Inconsistent(&'static str),
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
    let Some(inventory) = stored_inventory(db, manifest_digest).await? else {
        return Ok(None);
    };
    Ok(Some(match_inventory(db, manifest_digest, &inventory).await?))
}

async fn stored_inventory(db: &Db, manifest_digest: &str) -> Result<Option<Inventory>, VulnError> {
    match db.scan_report(manifest_digest, INDEX_FORMAT as i32).await? {
        Some(stored) => Ok(Some(serde_json::from_str(&stored)?)),
        None => Ok(None),
    }
}

/// Advisories by lookup key, read once per key for a whole re-match.
type AdvisoryCache = HashMap<Key, Vec<Advisory>>;

/// Read into `cache` the advisories of those `keys` it does not hold yet
/// (an empty list for a key with none), so matching looks them up there.
async fn load_advisories(db: &Db, keys: &BTreeSet<Key>, cache: &mut AdvisoryCache) -> Result<(), VulnError> {
    let missing: Vec<(String, String)> = keys
        .iter()
        .filter(|k| !cache.contains_key(*k))
        .map(|k| (k.namespace.clone(), k.package.clone()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    // One batched read: an image has hundreds of keys, its findings
    // thousands of enrichment keys.
    for row in db.vuln_advisories_of(&missing).await? {
        let key = Key {
            namespace: row.namespace.clone(),
            package: row.package.clone(),
        };
        cache.entry(key).or_default().push(from_row(row)?);
    }
    for (namespace, package) in missing {
        cache.entry(Key { namespace, package }).or_default();
    }
    Ok(())
}

/// Match `inventory` against the stored advisories, through `cache`.
async fn match_with(db: &Db, inventory: &Inventory, cache: &mut AdvisoryCache) -> Result<Report, VulnError> {
    load_advisories(db, &matching::keys(inventory), cache).await?;
    Ok(matching::match_inventory(inventory, cache))
}

/// Attach the stored enrichment records (NVD scores, EPSS) of `report`'s
/// findings.
async fn enrich(db: &Db, report: &mut Report, cache: &mut AdvisoryCache) -> Result<(), VulnError> {
    load_advisories(db, &matching::enrichment_keys(report), cache).await?;
    matching::enrich(report, cache);
    Ok(())
}

/// Whether `key` names enrichment records rather than a package's.
fn is_enrichment(key: &Key) -> bool {
    [
        berth_vulns::feeds::nvd::NAMESPACE,
        berth_vulns::feeds::epss::NAMESPACE,
    ]
    .contains(&key.namespace.as_str())
}

/// Match `inventory` (of manifest `manifest_digest`) against the stored
/// advisories and store the report.
pub async fn match_inventory(
    db: &Db,
    manifest_digest: &str,
    inventory: &Inventory,
) -> Result<Report, VulnError> {
    let mut cache = AdvisoryCache::new();
    let mut report = match_with(db, inventory, &mut cache).await?;
    enrich(db, &mut report, &mut cache).await?;
    db.put_vuln_reports(&[stored::whole_write(manifest_digest, inventory, &report)?])
        .await?;
    Ok(report)
}

/// Match `inventory` against the stored advisories, storing nothing (for
/// images scanned outside the registry).
pub async fn match_only(db: &Db, inventory: &Inventory) -> Result<Report, VulnError> {
    let mut cache = AdvisoryCache::new();
    let mut report = match_with(db, inventory, &mut cache).await?;
    enrich(db, &mut report, &mut cache).await?;
    Ok(report)
}

/// Match again the reports stored before their summaries and finding ids
/// were kept, so tag listings and the look-up by vulnerability see them.
/// Returns how many were matched; idempotent, so every instance may run it.
pub async fn backfill_summaries(db: &Db) -> Result<usize, VulnError> {
    let mut done = 0;
    for digest in db.vuln_reports_without_summary().await? {
        if match_manifest(db, &digest).await?.is_some() {
            done += 1;
        }
    }
    Ok(done)
}

/// Record `vulnerability_found` in `repository` for the findings of a
/// newly indexed image at or above `min` (Quay's first-index events).
pub async fn record_new_index(
    db: &Db,
    site: &Site,
    repository: &str,
    manifest_digest: &str,
    report: &Report,
    min: Severity,
) -> Result<usize, VulnError> {
    let found = [(manifest_digest.to_owned(), findings::at_or_above(report, min))];
    findings::record_found(db, site, &found, true, Some(repository)).await
}

/// Per-severity counts of a manifest's stored report, if it has one.
pub async fn stored_summary(db: &Db, manifest_digest: &str) -> Result<Option<Summary>, VulnError> {
    let Some(stored) = db.vuln_summary(manifest_digest).await? else {
        return Ok(None);
    };
    match (stored.summary, stored.report) {
        (Some(s), _) => Ok(Some(serde_json::from_str(&s)?)),
        (None, Some(r)) => Ok(Some(serde_json::from_str::<Report>(&r)?.summary())),
        (None, None) => Ok(None),
    }
}

/// A stored report.
pub async fn stored_report(db: &Db, manifest_digest: &str) -> Result<Option<Report>, VulnError> {
    stored::read(db, manifest_digest).await
}
