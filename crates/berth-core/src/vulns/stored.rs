//! How a report is stored: the features under each package key in that
//! key's row, so a feed change reads and rewrites only the rows of the
//! keys it changed; the rest (distribution, the features of packages no
//! key finds, the count) in the report's own row. Each finding id is
//! stored with how many key rows carry it, so a change to one row knows
//! whether the image still has an id without reading the others.

use std::collections::{BTreeMap, BTreeSet};

use berth_store::Db;
use berth_store::metadata::{KeyRow, ReportRows, ReportWrite};
use berth_vulns::matching::{self, Feature, Key};
use serde::{Deserialize, Serialize};

use super::{Distribution, Inventory, Report, VulnError, findings};

/// A report's own row.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Skeleton {
    /// The image's distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
    /// How many features the report has.
    pub len: usize,
    /// The features of packages no key finds (so without findings), with
    /// their places.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unkeyed: Vec<(usize, Feature)>,
    /// Its ids are stored with how many key rows carry each (`false` on
    /// reports stored before they were counted: those are matched whole).
    #[serde(default)]
    pub ids_counted: bool,
}

/// A key row's features, with their places in the report.
pub(super) type Keyed = Vec<(usize, Feature)>;

/// The key row of `key` holding `features`.
pub(super) fn key_row(key: &Key, features: Option<String>) -> KeyRow {
    KeyRow {
        namespace: key.namespace.clone(),
        package: key.package.clone(),
        features,
    }
}

/// How the ids of a key row change from `before` to `after` features:
/// +1 for each it gains, -1 for each it loses, added into `into`.
pub(super) fn count_ids<'a>(
    before: impl IntoIterator<Item = &'a Feature>,
    after: impl IntoIterator<Item = &'a Feature>,
    into: &mut BTreeMap<String, i64>,
) {
    let (before, after) = (findings::ids(before), findings::ids(after));
    for id in after.difference(&before) {
        *into.entry(id.clone()).or_default() += 1;
    }
    for id in before.difference(&after) {
        *into.entry(id.clone()).or_default() -= 1;
    }
}

/// The enrichment keys, as (namespace, id), to remove once the report no
/// longer carries their id: those `before` had and `after` has not.
pub(super) fn unheld(before: &BTreeSet<Key>, after: &BTreeSet<Key>) -> Vec<(String, String)> {
    before
        .difference(after)
        .map(|k| (k.namespace.clone(), k.package.clone()))
        .collect()
}

/// The features of a report grouped under the package keys that find
/// them, with their places; and those no key finds.
type Grouped<'a> = (BTreeMap<Key, Vec<(usize, &'a Feature)>>, Vec<(usize, Feature)>);

fn group<'a>(inventory: &Inventory, report: &'a Report) -> Result<Grouped<'a>, VulnError> {
    if inventory.packages.len() != report.features.len() {
        return Err(VulnError::Inconsistent(
            "a report's features do not follow its inventory",
        ));
    }
    let ns = inventory
        .distribution
        .as_ref()
        .and_then(matching::distro_namespace);
    let mut by_key: BTreeMap<Key, Vec<(usize, &Feature)>> = BTreeMap::new();
    let mut unkeyed = Vec::new();
    for (i, (entry, feature)) in inventory.packages.iter().zip(&report.features).enumerate() {
        match matching::key(&entry.package, ns.as_deref()) {
            Some((key, _)) => by_key.entry(key).or_default().push((i, feature)),
            None => unkeyed.push((i, feature.clone())),
        }
    }
    Ok((by_key, unkeyed))
}

/// What storing `report` of `inventory` (in manifest `digest`) whole
/// writes: its own row, a row per package key with the features under it,
/// a row per enrichment key of its findings (so a changed score matches
/// again the images whose findings carry it), and every finding id.
pub(super) fn whole_write(
    digest: &str,
    inventory: &Inventory,
    report: &Report,
) -> Result<ReportWrite, VulnError> {
    let (by_key, unkeyed) = group(inventory, report)?;
    let mut keys = Vec::with_capacity(by_key.len());
    let mut ids = BTreeMap::new();
    for (key, features) in &by_key {
        keys.push(key_row(key, Some(serde_json::to_string(features)?)));
        count_ids([], features.iter().map(|(_, f)| *f), &mut ids);
    }
    keys.extend(matching::enrichment_keys(report).iter().map(|k| key_row(k, None)));
    let skeleton = Skeleton {
        distribution: report.distribution.clone(),
        len: report.features.len(),
        unkeyed,
        ids_counted: true,
    };
    Ok(ReportWrite {
        manifest_digest: digest.to_owned(),
        report: Some(serde_json::to_string(&skeleton)?),
        summary: serde_json::to_string(&report.summary())?,
        rows: ReportRows::Replace {
            keys,
            ids: ids.into_iter().collect(),
        },
    })
}

/// What replacing the report `old` of `inventory`, stored in the current
/// form, with `new` writes: only the key rows whose features changed, the
/// enrichment keys gained and lost, and the changed id counts. Its own row
/// stays: the inventory is the same.
pub(super) fn change_write(
    digest: &str,
    inventory: &Inventory,
    old: &Report,
    new: &Report,
) -> Result<ReportWrite, VulnError> {
    let (before, _) = group(inventory, old)?;
    let (after, _) = group(inventory, new)?;
    let mut set_keys = Vec::new();
    let mut ids = BTreeMap::new();
    let none = Vec::new();
    for key in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
        let (was, is) = (before.get(key).unwrap_or(&none), after.get(key).unwrap_or(&none));
        if was != is {
            set_keys.push(key_row(key, Some(serde_json::to_string(is)?)));
            count_ids(was.iter().map(|(_, f)| *f), is.iter().map(|(_, f)| *f), &mut ids);
        }
    }
    let (keys_before, keys_after) = (matching::enrichment_keys(old), matching::enrichment_keys(new));
    set_keys.extend(keys_after.difference(&keys_before).map(|k| key_row(k, None)));
    Ok(ReportWrite {
        manifest_digest: digest.to_owned(),
        report: None,
        summary: serde_json::to_string(&new.summary())?,
        rows: ReportRows::Change {
            set_keys,
            ids: ids.into_iter().filter(|(_, n)| *n != 0).collect(),
            unheld_keys: unheld(&keys_before, &keys_after),
        },
    })
}

/// A manifest's stored report, put together from its rows.
pub(super) async fn read(db: &Db, manifest_digest: &str) -> Result<Option<Report>, VulnError> {
    Ok(read_form(db, manifest_digest).await?.map(|(report, _)| report))
}

/// A manifest's stored report, and whether it is stored in the current
/// form: split, with its ids counted (`false` for one stored whole, before
/// features moved to the key rows, or before ids were counted).
pub(super) async fn read_form(db: &Db, manifest_digest: &str) -> Result<Option<(Report, bool)>, VulnError> {
    let Some((own, rows)) = db.vuln_report_with_features(manifest_digest).await? else {
        return Ok(None);
    };
    match serde_json::from_str::<Skeleton>(&own) {
        Ok(skeleton) => {
            let current = skeleton.ids_counted;
            Ok(Some((assemble(skeleton, &rows)?, current)))
        }
        Err(_) => Ok(Some((serde_json::from_str(&own)?, false))),
    }
}

/// The report of `skeleton` with the features of its key `rows`.
pub(super) fn assemble(skeleton: Skeleton, rows: &[String]) -> Result<Report, VulnError> {
    let mut places: Vec<Option<Feature>> = vec![None; skeleton.len];
    let keyed = rows
        .iter()
        .map(|r| serde_json::from_str::<Keyed>(r))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, feature) in skeleton.unkeyed.into_iter().chain(keyed.into_iter().flatten()) {
        match places.get_mut(i) {
            Some(place) => *place = Some(feature),
            None => return Err(VulnError::Inconsistent("a stored feature is out of its report")),
        }
    }
    let features = places
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or(VulnError::Inconsistent("a stored report lacks features"))?;
    Ok(Report {
        distribution: skeleton.distribution,
        features,
    })
}
