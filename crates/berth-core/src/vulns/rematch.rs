//! Matching stored images again after a feed changed some keys. For a
//! package key, only the key's rows are read and matched again (the image's
//! packages under it), in batches written in one transaction each, with
//! the summary patched by the difference and the ids' counts moved, so
//! the image's other rows are never read. Images sharing a row (a base
//! layer's packages) share its outcome: each distinct row is matched once.
//! A changed enrichment record (a score can set a severity the feed left
//! unknown), and a report stored in an older form, match the image whole.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use berth_scan::INDEX_FORMAT;
use berth_store::Db;
use berth_store::metadata::{KeyRow, KeyedReport, ReportRows, ReportWrite};
use berth_vulns::matching::{self, Feature, Key};

use super::stored::{self, Keyed, Skeleton};
use super::{
    AdvisoryCache, Distribution, Inventory, InventoryEntry, Report, Summary, VulnError, Vulnerability,
    enrich, findings, is_enrichment, match_with,
};
use crate::notify::Site;

/// Images per batch: enough that a durable commit is paid rarely, few
/// enough that a batch stays small in memory.
const BATCH: usize = 500;

/// Images matched whole per batch (their inventories are read).
const WHOLE_BATCH: usize = 100;

/// A batch's new reports and the findings each image gained.
#[derive(Default)]
struct Matched {
    writes: Vec<ReportWrite>,
    found: Vec<(String, Vec<Vulnerability>)>,
}

impl Matched {
    /// Store the batch, then record the findings its images gained.
    async fn store(self, db: &Db, site: Option<&Site>) -> Result<(), VulnError> {
        db.put_vuln_reports(&self.writes).await?;
        if let Some(site) = site {
            findings::record_found(db, site, &self.found, false, None).await?;
        }
        Ok(())
    }
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
    let (enrichment, packages): (Vec<Key>, Vec<Key>) = keys
        .iter()
        .map(|(namespace, package)| Key {
            namespace: namespace.clone(),
            package: package.clone(),
        })
        .partition(is_enrichment);
    let enrichment: BTreeSet<(String, String)> =
        enrichment.into_iter().map(|k| (k.namespace, k.package)).collect();
    let packages: Vec<(String, String)> = packages.into_iter().map(|k| (k.namespace, k.package)).collect();
    let packages: Vec<Key> = db
        .keys_with_reports(&packages)
        .await?
        .into_iter()
        .map(|(namespace, package)| Key { namespace, package })
        .collect();
    let mut whole = db.manifests_matched_on(&enrichment).await?;
    let mut matched = whole.clone();
    let mut cache = AdvisoryCache::new();
    for key in &packages {
        let rows = db.vuln_reports_on(&key.namespace, &key.package).await?;
        let mut outcomes = Outcomes::new();
        for batch in rows.chunks(BATCH) {
            let mut out = Matched::default();
            for row in batch {
                if whole.contains(&row.manifest_digest) {
                    continue;
                }
                matched.insert(row.manifest_digest.clone());
                match patch(db, key, row, &mut cache, &mut outcomes).await? {
                    Patched::Unchanged => {}
                    Patched::Unpatchable => {
                        whole.insert(row.manifest_digest.clone());
                    }
                    Patched::Changed(change) => {
                        if !change.added.is_empty() {
                            out.found.push((row.manifest_digest.clone(), change.added));
                        }
                        out.writes.push(change.write);
                    }
                }
            }
            out.store(db, site).await?;
        }
    }
    let whole: Vec<String> = whole.into_iter().collect();
    for batch in whole.chunks(WHOLE_BATCH) {
        rematch_whole(db, batch, &mut cache)
            .await?
            .store(db, site)
            .await?;
    }
    Ok(matched.len())
}

/// What patching one key row of a stored report gave.
enum Patched {
    /// Nothing changed: nothing to write.
    Unchanged,
    /// The row changed.
    Changed(Box<Change>),
    /// The report must be matched whole.
    Unpatchable,
}

/// A patched report: what to write, and the findings it gained.
struct Change {
    write: ReportWrite,
    added: Vec<Vulnerability>,
}

/// What matching one key row's features again gave. It is the same for
/// every image with the same row (the packages of a shared base layer),
/// so it is worked out once per distinct row.
enum Outcome {
    /// The findings are as stored.
    Unchanged,
    /// The stored features cannot be read: match the image whole.
    Unreadable,
    /// The findings changed.
    Changed(RowChange),
}

/// A changed key row: the rows to write, and the summary's difference.
struct RowChange {
    set_keys: Vec<KeyRow>,
    ids: Vec<(String, i64)>,
    unheld_keys: Vec<(String, String)>,
    before: Summary,
    after: Summary,
    added: Vec<Vulnerability>,
}

/// Distinct rows remembered per key: a few base layers' worth.
const OUTCOMES: usize = 256;

/// Outcomes by (distribution, the row's features as stored).
type Outcomes = HashMap<(String, String), Arc<Outcome>>;

/// `row`'s report with its packages under `key` matched again.
async fn patch(
    db: &Db,
    key: &Key,
    row: &KeyedReport,
    cache: &mut AdvisoryCache,
    outcomes: &mut Outcomes,
) -> Result<Patched, VulnError> {
    let (Some(own), Some(summary), Some(features)) = (&row.report, &row.summary, &row.features) else {
        return Ok(Patched::Unpatchable);
    };
    let (Ok(skeleton), Ok(mut summary)) = (
        serde_json::from_str::<Skeleton>(own),
        serde_json::from_str::<Summary>(summary),
    ) else {
        return Ok(Patched::Unpatchable);
    };
    if !skeleton.ids_counted {
        return Ok(Patched::Unpatchable);
    }
    let seen = (serde_json::to_string(&skeleton.distribution)?, features.clone());
    let outcome = match outcomes.get(&seen) {
        Some(outcome) => outcome.clone(),
        None => {
            let outcome = Arc::new(rematch_row(db, key, skeleton.distribution, features, cache).await?);
            if outcomes.len() >= OUTCOMES {
                outcomes.clear();
            }
            outcomes.insert(seen, outcome.clone());
            outcome
        }
    };
    let change = match &*outcome {
        Outcome::Unchanged => return Ok(Patched::Unchanged),
        Outcome::Unreadable => return Ok(Patched::Unpatchable),
        Outcome::Changed(change) => change,
    };
    for (severity, n) in &change.before {
        let count = summary.entry(*severity).or_default();
        *count = count.saturating_sub(*n);
    }
    for (severity, n) in &change.after {
        *summary.entry(*severity).or_default() += n;
    }
    summary.retain(|_, n| *n > 0);
    Ok(Patched::Changed(Box::new(Change {
        write: ReportWrite {
            manifest_digest: row.manifest_digest.clone(),
            report: None,
            summary: serde_json::to_string(&summary)?,
            rows: ReportRows::Change {
                set_keys: change.set_keys.clone(),
                ids: change.ids.clone(),
                unheld_keys: change.unheld_keys.clone(),
            },
        },
        added: change.added.clone(),
    })))
}

/// The features of one key row (`features`, as stored) matched again.
async fn rematch_row(
    db: &Db,
    key: &Key,
    distribution: Option<Distribution>,
    features: &str,
    cache: &mut AdvisoryCache,
) -> Result<Outcome, VulnError> {
    let Ok(keyed) = serde_json::from_str::<Keyed>(features) else {
        return Ok(Outcome::Unreadable);
    };
    let (places, features): (Vec<usize>, Vec<Feature>) = keyed.into_iter().unzip();
    let part = Inventory {
        distribution: distribution.clone(),
        packages: features
            .iter()
            .map(|f| InventoryEntry {
                package: f.package.clone(),
                path: String::new(),
                layer: f.added_by.clone(),
            })
            .collect(),
        layers: Vec::new(),
        warnings: Vec::new(),
    };
    let mut after = match_with(db, &part, cache).await?;
    enrich(db, &mut after, cache).await?;
    if after.features == features {
        return Ok(Outcome::Unchanged);
    }
    let before = Report {
        distribution,
        features,
    };
    let (keys_before, keys_after) = (
        matching::enrichment_keys(&before),
        matching::enrichment_keys(&after),
    );
    let mut ids = BTreeMap::new();
    stored::count_ids(&before.features, &after.features, &mut ids);
    let keyed: Keyed = places
        .iter()
        .copied()
        .zip(after.features.iter().cloned())
        .collect();
    let mut set_keys = vec![stored::key_row(key, Some(serde_json::to_string(&keyed)?))];
    set_keys.extend(
        keys_after
            .difference(&keys_before)
            .map(|k| stored::key_row(k, None)),
    );
    Ok(Outcome::Changed(RowChange {
        set_keys,
        ids: ids.into_iter().collect(),
        unheld_keys: stored::unheld(&keys_before, &keys_after),
        before: before.summary(),
        after: after.summary(),
        added: findings::added(&before, &after),
    }))
}

/// The images of `digests` matched whole against their stored inventories.
async fn rematch_whole(db: &Db, digests: &[String], cache: &mut AdvisoryCache) -> Result<Matched, VulnError> {
    let mut out = Matched::default();
    for (digest, inventory) in db.scan_reports_of(digests, INDEX_FORMAT as i32).await? {
        let inventory: Inventory = serde_json::from_str(&inventory)?;
        // A report this version cannot read is replaced, recording nothing.
        let (old, current) = match stored::read_form(db, &digest).await {
            Ok(Some((old, current))) => (Some(old), current),
            Ok(None) | Err(_) => (None, false),
        };
        let mut report = match_with(db, &inventory, cache).await?;
        enrich(db, &mut report, cache).await?;
        let write = match &old {
            Some(old) if current && *old == report => continue,
            // Only the rows that differ.
            Some(old) if current => stored::change_write(&digest, &inventory, old, &report)?,
            // A report stored in an older form (or unreadable) is rewritten
            // in the current one.
            _ => stored::whole_write(&digest, &inventory, &report)?,
        };
        out.writes.push(write);
        if let Some(old) = &old {
            let added = findings::added(old, &report);
            if !added.is_empty() {
                out.found.push((digest, added));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
