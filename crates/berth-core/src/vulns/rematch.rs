//! Matching stored images again after a feed changed some keys. For a
//! package key, only the key's rows are read and matched again (the image's
//! packages under it), in batches written in one transaction each, with
//! the summary patched by the difference. A changed enrichment record (a
//! score can set a severity the feed left unknown), and a report stored
//! whole before features moved to the key rows, match the image whole.

use std::collections::BTreeSet;

use berth_scan::INDEX_FORMAT;
use berth_store::Db;
use berth_store::metadata::{KeyedReport, ReportRows, ReportWrite};
use berth_vulns::matching::{self, Feature, Key};

use super::stored::{self, Keyed, Skeleton};
use super::{
    AdvisoryCache, Inventory, InventoryEntry, Report, Summary, VulnError, Vulnerability, enrich, findings,
    is_enrichment, match_with,
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
            for (digest, added) in self.found {
                findings::record_found(db, site, &digest, &added, false, None).await?;
            }
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
        for batch in rows.chunks(BATCH) {
            let mut out = Matched::default();
            for row in batch {
                if whole.contains(&row.manifest_digest) {
                    continue;
                }
                matched.insert(row.manifest_digest.clone());
                match patch(db, key, row, &mut cache).await? {
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

/// `row`'s report with its packages under `key` matched again.
async fn patch(
    db: &Db,
    key: &Key,
    row: &KeyedReport,
    cache: &mut AdvisoryCache,
) -> Result<Patched, VulnError> {
    let (Some(own), Some(summary), Some(features)) = (&row.report, &row.summary, &row.features) else {
        return Ok(Patched::Unpatchable);
    };
    let (Ok(skeleton), Ok(mut summary), Ok(keyed)) = (
        serde_json::from_str::<Skeleton>(own),
        serde_json::from_str::<Summary>(summary),
        serde_json::from_str::<Keyed>(features),
    ) else {
        return Ok(Patched::Unpatchable);
    };
    let (places, features): (Vec<usize>, Vec<Feature>) = keyed.into_iter().unzip();
    let part = Inventory {
        distribution: skeleton.distribution.clone(),
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
        return Ok(Patched::Unchanged);
    }
    let before = Report {
        distribution: skeleton.distribution,
        features,
    };
    for (severity, n) in before.summary() {
        let count = summary.entry(severity).or_default();
        *count = count.saturating_sub(n);
    }
    for (severity, n) in after.summary() {
        *summary.entry(severity).or_default() += n;
    }
    summary.retain(|_, n| *n > 0);

    let (keys_before, keys_after) = (
        matching::enrichment_keys(&before),
        matching::enrichment_keys(&after),
    );
    let (ids_before, ids_after) = (findings::ids(&before), findings::ids(&after));
    let mut remove_keys: Vec<&Key> = keys_before.difference(&keys_after).collect();
    let mut remove_ids: Vec<&String> = ids_before.difference(&ids_after).collect();
    // What left these features may still be in the image's others: read
    // only the other rows that name one of them.
    if !remove_keys.is_empty() || !remove_ids.is_empty() {
        let names: BTreeSet<&str> = remove_ids
            .iter()
            .map(|id| id.as_str())
            .chain(remove_keys.iter().map(|k| k.package.as_str()))
            .collect();
        let others = db
            .vuln_report_features_naming(&row.manifest_digest, (&key.namespace, &key.package), &names)
            .await?;
        let mut kept = Report {
            distribution: None,
            features: after.features.clone(),
        };
        for other in others {
            kept.features
                .extend(serde_json::from_str::<Keyed>(&other)?.into_iter().map(|(_, f)| f));
        }
        let (kept_keys, kept_ids) = (matching::enrichment_keys(&kept), findings::ids(&kept));
        remove_keys.retain(|k| !kept_keys.contains(*k));
        remove_ids.retain(|id| !kept_ids.contains(*id));
    }
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
    let added = findings::added(&before, &after);
    Ok(Patched::Changed(Box::new(Change {
        write: ReportWrite {
            manifest_digest: row.manifest_digest.clone(),
            report: None,
            summary: serde_json::to_string(&summary)?,
            rows: ReportRows::Change {
                set_keys,
                remove_keys: remove_keys
                    .into_iter()
                    .map(|k| (k.namespace.clone(), k.package.clone()))
                    .collect(),
                add_ids: ids_after.difference(&ids_before).cloned().collect(),
                remove_ids: remove_ids.into_iter().cloned().collect(),
            },
        },
        added,
    })))
}

/// The images of `digests` matched whole against their stored inventories.
async fn rematch_whole(db: &Db, digests: &[String], cache: &mut AdvisoryCache) -> Result<Matched, VulnError> {
    let mut out = Matched::default();
    for (digest, inventory) in db.scan_reports_of(digests, INDEX_FORMAT as i32).await? {
        let inventory: Inventory = serde_json::from_str(&inventory)?;
        // A report this version cannot read is replaced, recording nothing.
        let (old, split) = match stored::read_form(db, &digest).await {
            Ok(Some((old, split))) => (Some(old), split),
            Ok(None) | Err(_) => (None, false),
        };
        let mut report = match_with(db, &inventory, cache).await?;
        enrich(db, &mut report, cache).await?;
        let write = match &old {
            Some(old) if split && *old == report => continue,
            // Only the rows that differ.
            Some(old) if split => stored::change_write(&digest, &inventory, old, &report)?,
            // A report stored whole (or unreadable) is rewritten split.
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
