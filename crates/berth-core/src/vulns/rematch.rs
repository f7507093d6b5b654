//! Matching stored images again after a feed changed some keys: only the
//! images whose reports used one of those keys, only their packages under
//! them. Batches read inventories and reports in a few queries; a stored
//! report's other features stay unparsed text; each batch's reports are
//! written in one transaction while the next batch is matched.

use std::collections::{BTreeSet, HashMap};

use berth_scan::INDEX_FORMAT;
use berth_store::Db;
use berth_store::metadata::{ReportRows, ReportWrite, StoredReport};
use berth_vulns::matching::{self, Feature, Key};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    AdvisoryCache, Inventory, Report, Summary, VulnError, Vulnerability, enrich, findings, is_enrichment,
    match_with,
};
use crate::notify::Site;

/// Images per batch: enough that a durable commit is paid rarely, few
/// enough that a batch's inventories and reports stay small in memory.
const BATCH: usize = 250;

/// A stored report with its features left as JSON text: a re-match parses
/// and rewrites only the features it touches. Same JSON as [`Report`].
#[derive(Deserialize, Serialize)]
struct LazyReport<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    distribution: Option<&'a RawValue>,
    #[serde(borrow)]
    features: Vec<&'a RawValue>,
}

/// A batch's new reports and the findings each image gained.
struct Matched {
    writes: Vec<ReportWrite>,
    found: Vec<(String, Vec<Vulnerability>)>,
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
    let manifests: Vec<String> = db.manifests_matched_on(keys).await?.into_iter().collect();
    let changed: BTreeSet<Key> = keys
        .iter()
        .map(|(namespace, package)| Key {
            namespace: namespace.clone(),
            package: package.clone(),
        })
        .collect();
    let mut cache = AdvisoryCache::new();
    let mut pending = None;
    for batch in manifests.chunks(BATCH) {
        let matched = rematch_batch(db, batch, &changed, &mut cache).await?;
        if let Some(previous) = pending.take() {
            finish(db, site, previous).await?;
        }
        // Written on its own task while the next batch is matched.
        let writer = db.clone();
        let Matched { writes, found } = matched;
        let write = tokio::spawn(async move { writer.put_vuln_reports(&writes).await });
        pending = Some((write, found));
    }
    if let Some(previous) = pending {
        finish(db, site, previous).await?;
    }
    Ok(manifests.len())
}

type PendingWrite = (
    tokio::task::JoinHandle<Result<(), berth_store::StoreError>>,
    Vec<(String, Vec<Vulnerability>)>,
);

/// Wait for a batch's write, then record the findings its images gained.
async fn finish(db: &Db, site: Option<&Site>, (write, found): PendingWrite) -> Result<(), VulnError> {
    write.await??;
    if let Some(site) = site {
        for (digest, added) in found {
            findings::record_found(db, site, &digest, &added, false, None).await?;
        }
    }
    Ok(())
}

async fn rematch_batch(
    db: &Db,
    digests: &[String],
    changed: &BTreeSet<Key>,
    cache: &mut AdvisoryCache,
) -> Result<Matched, VulnError> {
    let mut old_reports: HashMap<String, StoredReport> = db
        .vuln_reports_of(digests)
        .await?
        .into_iter()
        .map(|r| (r.manifest_digest.clone(), r))
        .collect();
    let mut out = Matched {
        writes: Vec::with_capacity(digests.len()),
        found: Vec::new(),
    };
    for (digest, inventory) in db.scan_reports_of(digests, INDEX_FORMAT as i32).await? {
        let inventory: Inventory = serde_json::from_str(&inventory)?;
        let old = old_reports.remove(&digest);
        let change = match &old {
            Some(old) => match patch(db, &inventory, old, changed, cache).await? {
                Patched::Unchanged => continue,
                Patched::Changed(change) => Some(*change),
                Patched::Unpatchable => rematch_whole(db, &inventory, &old.report, cache).await?,
            },
            None => None,
        };
        let Some(change) = change else {
            // No report this version can read: matched whole, no events.
            let mut report = match_with(db, &inventory, cache).await?;
            enrich(db, &mut report, cache).await?;
            out.writes.push(first_write(&digest, &inventory, &report)?);
            continue;
        };
        let added = findings::added(&change.before, &change.after);
        out.writes.push(change.write(&digest)?);
        if !added.is_empty() {
            out.found.push((digest, added));
        }
    }
    Ok(out)
}

/// A re-matched report, with the part that changed before and after.
struct Change {
    /// The whole new report (JSON).
    report: String,
    /// Its per-severity summary.
    summary: Summary,
    /// The changed features as they were (the whole old report when it
    /// was matched whole).
    before: Report,
    /// The same features now.
    after: Report,
}

/// What patching a stored report gave.
enum Patched {
    /// Nothing changed: nothing to write.
    Unchanged,
    /// Some features changed.
    Changed(Box<Change>),
    /// The report must be matched whole.
    Unpatchable,
}

/// `old` with only the packages under the `changed` keys matched again.
async fn patch(
    db: &Db,
    inventory: &Inventory,
    old: &StoredReport,
    changed: &BTreeSet<Key>,
    cache: &mut AdvisoryCache,
) -> Result<Patched, VulnError> {
    // A changed score can change a severity the feed left unknown: those
    // images are matched whole, as are reports this version cannot patch.
    if changed.iter().any(is_enrichment) {
        return Ok(Patched::Unpatchable);
    }
    let Some(old_summary) = old
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<Summary>(s).ok())
    else {
        return Ok(Patched::Unpatchable);
    };
    let Ok(lazy) = serde_json::from_str::<LazyReport>(&old.report) else {
        return Ok(Patched::Unpatchable);
    };
    if lazy.features.len() != inventory.packages.len() {
        return Ok(Patched::Unpatchable);
    }
    let ns = inventory
        .distribution
        .as_ref()
        .and_then(matching::distro_namespace);
    let touched: Vec<usize> = inventory
        .packages
        .iter()
        .enumerate()
        .filter(|(_, e)| matching::key(&e.package, ns.as_deref()).is_some_and(|(k, _)| changed.contains(&k)))
        .map(|(i, _)| i)
        .collect();
    let Ok(features) = touched
        .iter()
        .map(|&i| serde_json::from_str::<Feature>(lazy.features[i].get()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return Ok(Patched::Unpatchable);
    };
    let before = Report {
        distribution: inventory.distribution.clone(),
        features,
    };
    let part = Inventory {
        distribution: inventory.distribution.clone(),
        packages: touched.iter().map(|&i| inventory.packages[i].clone()).collect(),
        layers: Vec::new(),
        warnings: Vec::new(),
    };
    let mut after = match_with(db, &part, cache).await?;
    // The untouched findings keep their enrichment: its records did not
    // change.
    enrich(db, &mut after, cache).await?;
    if after == before {
        return Ok(Patched::Unchanged);
    }
    let replaced = after
        .features
        .iter()
        .map(serde_json::value::to_raw_value)
        .collect::<Result<Vec<_>, _>>()?;
    let mut features = lazy.features.clone();
    for (&i, raw) in touched.iter().zip(&replaced) {
        features[i] = raw;
    }
    let report = serde_json::to_string(&LazyReport {
        distribution: lazy.distribution,
        features,
    })?;
    let mut summary = old_summary;
    for (severity, n) in before.summary() {
        let count = summary.entry(severity).or_default();
        *count = count.saturating_sub(n);
    }
    for (severity, n) in after.summary() {
        *summary.entry(severity).or_default() += n;
    }
    summary.retain(|_, n| *n > 0);
    Ok(Patched::Changed(Box::new(Change {
        report,
        summary,
        before,
        after,
    })))
}

/// The whole image matched again against the report stored as `old`;
/// `None` when `old` cannot be read (a report of an older version).
async fn rematch_whole(
    db: &Db,
    inventory: &Inventory,
    old: &str,
    cache: &mut AdvisoryCache,
) -> Result<Option<Change>, VulnError> {
    let Ok(before) = serde_json::from_str::<Report>(old) else {
        return Ok(None);
    };
    let mut after = match_with(db, inventory, cache).await?;
    enrich(db, &mut after, cache).await?;
    Ok(Some(Change {
        report: serde_json::to_string(&after)?,
        summary: after.summary(),
        before,
        after,
    }))
}

impl Change {
    /// What storing the change writes: the new report, and only the rows
    /// that differ. The inventory's keys are the same before and after, so
    /// only enrichment keys and finding ids can differ.
    fn write(self, digest: &str) -> Result<ReportWrite, VulnError> {
        let pair = |k: &Key| (k.namespace.clone(), k.package.clone());
        let (keys_before, keys_after) = (
            matching::enrichment_keys(&self.before),
            matching::enrichment_keys(&self.after),
        );
        let (ids_before, ids_after) = (findings::ids(&self.before), findings::ids(&self.after));
        let mut remove_keys: Vec<(String, String)> = keys_before.difference(&keys_after).map(pair).collect();
        let mut remove_ids: Vec<String> = ids_before.difference(&ids_after).cloned().collect();
        // What left the changed features may still be in the others.
        if !remove_keys.is_empty() || !remove_ids.is_empty() {
            let whole: Report = serde_json::from_str(&self.report)?;
            let kept_keys = matching::enrichment_keys(&whole);
            let kept_ids = findings::ids(&whole);
            remove_keys.retain(|(namespace, package)| {
                !kept_keys.contains(&Key {
                    namespace: namespace.clone(),
                    package: package.clone(),
                })
            });
            remove_ids.retain(|id| !kept_ids.contains(id));
        }
        Ok(ReportWrite {
            manifest_digest: digest.to_owned(),
            summary: serde_json::to_string(&self.summary)?,
            report: self.report,
            rows: ReportRows::Change {
                add_keys: keys_after.difference(&keys_before).map(pair).collect(),
                remove_keys,
                add_ids: ids_after.difference(&ids_before).cloned().collect(),
                remove_ids,
            },
        })
    }
}

/// What storing a first `report` of `inventory` (in manifest `digest`)
/// writes: its keys are the inventory's packages' and its findings'
/// enrichment records' (so a changed score matches again the images whose
/// findings carry it), with every finding id.
pub(super) fn first_write(
    digest: &str,
    inventory: &Inventory,
    report: &Report,
) -> Result<ReportWrite, VulnError> {
    Ok(ReportWrite {
        manifest_digest: digest.to_owned(),
        report: serde_json::to_string(report)?,
        summary: serde_json::to_string(&report.summary())?,
        rows: ReportRows::Replace {
            keys: matching::keys(inventory)
                .iter()
                .chain(&matching::enrichment_keys(report))
                .map(|k| (k.namespace.clone(), k.package.clone()))
                .collect(),
            ids: findings::ids(report).into_iter().collect(),
        },
    })
}
