//! Vulnerability reports: feed updates stored as normalized advisories
//! (`updater.rs`), and matching stored image inventories against them —
//! when an image is indexed, and again for the images a changed advisory
//! can touch, without reading layers.

mod bundle;
mod findings;
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

/// The advisories of `keys`, from `cache` or the database.
async fn advisories_for(
    db: &Db,
    keys: &BTreeSet<Key>,
    cache: &mut AdvisoryCache,
) -> Result<AdvisoryCache, VulnError> {
    let missing: Vec<(String, String)> = keys
        .iter()
        .filter(|k| !cache.contains_key(*k))
        .map(|k| (k.namespace.clone(), k.package.clone()))
        .collect();
    if !missing.is_empty() {
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
    }
    let mut out = HashMap::with_capacity(keys.len());
    for key in keys {
        if let Some(list) = cache.get(key).filter(|l| !l.is_empty()) {
            out.insert(key.clone(), list.clone());
        }
    }
    Ok(out)
}

/// Attach the stored enrichment records (NVD scores, EPSS) of `report`'s
/// findings.
async fn enrich(db: &Db, report: &mut Report, cache: &mut AdvisoryCache) -> Result<(), VulnError> {
    let records = advisories_for(db, &matching::enrichment_keys(report), cache).await?;
    matching::enrich(report, &records);
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

/// Store `report` of `manifest_digest` with its summary, lookup keys and
/// ids. The enrichment records are keys too, so a changed score matches
/// again the images whose findings carry it.
async fn store_report(
    db: &Db,
    manifest_digest: &str,
    inventory: &Inventory,
    report: &Report,
) -> Result<(), VulnError> {
    let keys: Vec<(String, String)> = matching::keys(inventory)
        .into_iter()
        .chain(matching::enrichment_keys(report))
        .map(|k| (k.namespace, k.package))
        .collect();
    db.put_vuln_report(
        manifest_digest,
        &serde_json::to_string(report)?,
        &serde_json::to_string(&report.summary())?,
        &keys,
        &findings::ids(report),
    )
    .await?;
    Ok(())
}

/// Match `inventory` (of manifest `manifest_digest`) against the stored
/// advisories and store the report.
pub async fn match_inventory(
    db: &Db,
    manifest_digest: &str,
    inventory: &Inventory,
) -> Result<Report, VulnError> {
    let mut cache = AdvisoryCache::new();
    let advisories = advisories_for(db, &matching::keys(inventory), &mut cache).await?;
    let mut report = matching::match_inventory(inventory, &advisories);
    enrich(db, &mut report, &mut cache).await?;
    store_report(db, manifest_digest, inventory, &report).await?;
    Ok(report)
}

/// Match `inventory` against the stored advisories, storing nothing (for
/// images scanned outside the registry).
pub async fn match_only(db: &Db, inventory: &Inventory) -> Result<Report, VulnError> {
    let mut cache = AdvisoryCache::new();
    let advisories = advisories_for(db, &matching::keys(inventory), &mut cache).await?;
    let mut report = matching::match_inventory(inventory, &advisories);
    enrich(db, &mut report, &mut cache).await?;
    Ok(report)
}

/// Match again every stored image whose report used one of `keys` — only
/// its packages under those keys; the others keep their findings. With
/// `site`, each finding an image did not have before records
/// `vulnerability_found` in the repositories holding it. Returns how many
/// images were matched.
pub async fn rematch(
    db: &Db,
    keys: &BTreeSet<(String, String)>,
    site: Option<&Site>,
) -> Result<usize, VulnError> {
    let manifests = db.manifests_matched_on(keys).await?;
    let changed: BTreeSet<Key> = keys
        .iter()
        .map(|(namespace, package)| Key {
            namespace: namespace.clone(),
            package: package.clone(),
        })
        .collect();
    let mut cache = AdvisoryCache::new();
    for digest in &manifests {
        rematch_manifest(db, digest, &changed, &mut cache, site).await?;
    }
    Ok(manifests.len())
}

async fn rematch_manifest(
    db: &Db,
    digest: &str,
    changed: &BTreeSet<Key>,
    cache: &mut AdvisoryCache,
    site: Option<&Site>,
) -> Result<(), VulnError> {
    let Some(inventory) = stored_inventory(db, digest).await? else {
        return Ok(());
    };
    // A report this version cannot read is matched whole.
    let old = stored_report(db, digest).await.ok().flatten();
    // A changed score can change a severity the feed left unknown: those
    // images are matched whole.
    let partial = !changed.iter().any(is_enrichment);
    let mut report = match &old {
        Some(old) if partial && old.features.len() == inventory.packages.len() => {
            let ns = inventory
                .distribution
                .as_ref()
                .and_then(matching::distro_namespace);
            let touched: Vec<usize> = inventory
                .packages
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    matching::key(&e.package, ns.as_deref()).is_some_and(|(k, _)| changed.contains(&k))
                })
                .map(|(i, _)| i)
                .collect();
            let part = Inventory {
                distribution: inventory.distribution.clone(),
                packages: touched.iter().map(|&i| inventory.packages[i].clone()).collect(),
                layers: Vec::new(),
                warnings: Vec::new(),
            };
            let advisories = advisories_for(db, &matching::keys(&part), cache).await?;
            let matched = matching::match_inventory(&part, &advisories);
            let mut report = old.clone();
            for (i, feature) in touched.into_iter().zip(matched.features) {
                report.features[i] = feature;
            }
            report
        }
        _ => {
            let advisories = advisories_for(db, &matching::keys(&inventory), cache).await?;
            matching::match_inventory(&inventory, &advisories)
        }
    };
    enrich(db, &mut report, cache).await?;
    store_report(db, digest, &inventory, &report).await?;
    if let (Some(site), Some(old)) = (site, &old) {
        let added = findings::added(old, &report);
        findings::record_found(db, site, digest, &added, false, None).await?;
    }
    Ok(())
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
    let found = findings::at_or_above(report, min);
    findings::record_found(db, site, manifest_digest, &found, true, Some(repository)).await
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
    match db.vuln_report(manifest_digest).await? {
        Some(r) => Ok(Some(serde_json::from_str(&r)?)),
        None => Ok(None),
    }
}
