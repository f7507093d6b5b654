//! Matching an image inventory against advisories: each package is looked
//! up by (namespace, name) — its distribution release and source package,
//! or its language ecosystem — and each candidate is confirmed with the
//! ecosystem's own version ordering. Records naming the same vulnerability
//! under several ids (aliases) become one finding.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use berth_scan::version::{Scheme, compare};
use berth_scan::{Distribution, Ecosystem, Inventory, InventoryEntry, Package};
use serde::{Deserialize, Serialize};

use crate::advisory::FixState;
use crate::feeds::osv::package_key;
use crate::{Advisory, Severity};

/// Where a package's advisories are looked up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    /// `debian:bookworm`, `alpine:v3.20`, `osv:PyPI`.
    pub namespace: String,
    /// The source package (distributions) or normalized name.
    pub package: String,
}

/// Debian release code names by major version, for images whose
/// os-release lacks `VERSION_CODENAME`.
const DEBIAN_CODENAMES: [(&str, &str); 6] = [
    ("9", "stretch"),
    ("10", "buster"),
    ("11", "bullseye"),
    ("12", "bookworm"),
    ("13", "trixie"),
    ("14", "forky"),
];

/// The OSV ecosystem of a language package.
fn osv_ecosystem(e: Ecosystem) -> Option<&'static str> {
    Some(match e {
        Ecosystem::Pypi => "PyPI",
        Ecosystem::Npm => "npm",
        Ecosystem::Go => "Go",
        Ecosystem::Maven => "Maven",
        Ecosystem::Cargo => "crates.io",
        Ecosystem::Gem => "RubyGems",
        Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm => return None,
    })
}

/// The distribution release's namespace (`debian:bookworm`, `alpine:v3.20`).
pub fn distro_namespace(d: &Distribution) -> Option<String> {
    match d.id.as_str() {
        "debian" => {
            let codename = d.version_codename.clone().filter(|c| !c.is_empty()).or_else(|| {
                let major = d.version_id.as_deref()?.split('.').next()?;
                DEBIAN_CODENAMES
                    .iter()
                    .find(|(v, _)| *v == major)
                    .map(|(_, c)| (*c).to_owned())
            })?;
            Some(format!("debian:{codename}"))
        }
        "alpine" => {
            let mut parts = d.version_id.as_deref()?.split('.');
            let (major, minor) = (parts.next()?, parts.next()?);
            Some(format!("alpine:v{major}.{minor}"))
        }
        _ => None,
    }
}

/// The lookup key of a package and the version compared against the
/// advisories (distributions publish source versions).
pub fn key(package: &Package, distro_ns: Option<&str>) -> Option<(Key, String)> {
    match package.ecosystem {
        Ecosystem::Deb | Ecosystem::Apk => {
            let ns = distro_ns?;
            let wanted = if package.ecosystem == Ecosystem::Deb {
                "debian:"
            } else {
                "alpine:"
            };
            if !ns.starts_with(wanted) {
                return None;
            }
            let (name, version) = match &package.source {
                Some(s) => (s.name.clone(), s.version.clone()),
                None => (package.name.clone(), package.version.clone()),
            };
            Some((
                Key {
                    namespace: ns.to_owned(),
                    package: name,
                },
                version,
            ))
        }
        Ecosystem::Rpm => None,
        e => {
            let eco = osv_ecosystem(e)?;
            Some((
                Key {
                    namespace: format!("osv:{eco}"),
                    package: package_key(eco, &package.name),
                },
                package.version.clone(),
            ))
        }
    }
}

/// Every lookup key an inventory needs.
pub fn keys(inventory: &Inventory) -> BTreeSet<Key> {
    let ns = inventory.distribution.as_ref().and_then(distro_namespace);
    inventory
        .packages
        .iter()
        .filter_map(|p| key(&p.package, ns.as_deref()).map(|(k, _)| k))
        .collect()
}

/// One vulnerability of one package, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// The vulnerability's name (the first record's id).
    pub name: String,
    /// Its other ids, from every merged record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Where it was found: the records' namespace.
    pub namespace: String,
    /// Severity (the highest of the merged records).
    pub severity: Severity,
    /// The version that fixes it, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_by: Option<String>,
    /// The distribution will not fix it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub will_not_fix: bool,
    /// Reference links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// One package of the image with its vulnerabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    /// The package.
    #[serde(flatten)]
    pub package: Package,
    /// The layer that introduced it.
    pub added_by: String,
    /// Its vulnerabilities, most severe first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vulnerabilities: Vec<Vulnerability>,
}

/// An image's vulnerability report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The image's distribution, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
    /// Every package of the image.
    pub features: Vec<Feature>,
}

impl Report {
    /// Findings per severity (a vulnerability counted once per package).
    pub fn summary(&self) -> BTreeMap<Severity, usize> {
        let mut out = BTreeMap::new();
        for v in self.features.iter().flat_map(|f| &f.vulnerabilities) {
            *out.entry(v.severity).or_default() += 1;
        }
        out
    }
}

/// Match `inventory` against `advisories` (every advisory stored under
/// the inventory's [`keys`]).
pub fn match_inventory(inventory: &Inventory, advisories: &HashMap<Key, Vec<Advisory>>) -> Report {
    let ns = inventory.distribution.as_ref().and_then(distro_namespace);
    let features = inventory
        .packages
        .iter()
        .map(|entry| Feature {
            package: entry.package.clone(),
            added_by: entry.layer.clone(),
            vulnerabilities: match_package(entry, ns.as_deref(), advisories),
        })
        .collect();
    Report {
        distribution: inventory.distribution.clone(),
        features,
    }
}

fn match_package(
    entry: &InventoryEntry,
    ns: Option<&str>,
    advisories: &HashMap<Key, Vec<Advisory>>,
) -> Vec<Vulnerability> {
    let Some((key, version)) = key(&entry.package, ns) else {
        return Vec::new();
    };
    let Some(candidates) = advisories.get(&key) else {
        return Vec::new();
    };
    let scheme = Scheme::for_ecosystem(entry.package.ecosystem);
    let confirmed: Vec<(&Advisory, FixState)> = candidates
        .iter()
        .filter_map(|a| a.affected.affects(scheme, &version).map(|s| (a, s)))
        .collect();
    let mut out: Vec<Vulnerability> = merge_aliases(&confirmed)
        .into_iter()
        .map(|group| merge(scheme, &group))
        .collect();
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.name.cmp(&b.name)));
    out
}

/// Group records sharing any id or alias (connected components).
fn merge_aliases<'a>(confirmed: &[(&'a Advisory, FixState)]) -> Vec<Vec<(&'a Advisory, FixState)>> {
    let mut parent: Vec<usize> = (0..confirmed.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, (a, _)) in confirmed.iter().enumerate() {
        for id in std::iter::once(&a.id).chain(&a.aliases) {
            match owner.get(id.as_str()) {
                Some(&j) => {
                    let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                    parent[ri] = rj;
                }
                None => {
                    owner.insert(id, i);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<(&Advisory, FixState)>> = BTreeMap::new();
    for (i, (a, s)) in confirmed.iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push((a, s.clone()));
    }
    groups.into_values().collect()
}

/// One finding from records of one vulnerability: named by the smallest
/// record id, the highest severity, and the highest fix (every record's
/// range must be left).
fn merge(scheme: Scheme, group: &[(&Advisory, FixState)]) -> Vulnerability {
    let mut group = group.to_vec();
    group.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let first = group[0].0;
    let mut aliases = BTreeSet::new();
    let mut links = Vec::new();
    let mut fixed_by: Option<String> = None;
    let mut unfixed = false;
    let mut will_not_fix = false;
    for (a, state) in &group {
        aliases.insert(a.id.clone());
        aliases.extend(a.aliases.iter().cloned());
        for l in &a.links {
            if !links.contains(l) {
                links.push(l.clone());
            }
        }
        match state {
            FixState::FixedIn(v) => {
                let higher = fixed_by
                    .as_deref()
                    .is_none_or(|f| compare(scheme, v, f).is_ok_and(|o| o.is_gt()));
                if higher {
                    fixed_by = Some(v.clone());
                }
            }
            FixState::NotFixed => unfixed = true,
            FixState::WillNotFix => will_not_fix = true,
        }
    }
    aliases.remove(&first.id);
    Vulnerability {
        name: first.id.clone(),
        aliases: aliases.into_iter().collect(),
        namespace: first.namespace.clone(),
        severity: group.iter().map(|(a, _)| a.severity).max().unwrap_or_default(),
        fixed_by: if unfixed || will_not_fix { None } else { fixed_by },
        will_not_fix,
        links,
        description: group
            .iter()
            .map(|(a, _)| a.description.as_str())
            .find(|d| !d.is_empty())
            .unwrap_or("")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Affected, Event, Range};

    fn osv(id: &str, aliases: &[&str], fixed: &str, severity: Severity) -> Advisory {
        Advisory {
            id: id.into(),
            aliases: aliases.iter().map(|s| (*s).to_owned()).collect(),
            namespace: "osv:PyPI".into(),
            package: "django".into(),
            affected: Affected::Ranges {
                ranges: vec![Range {
                    events: vec![Event::Introduced("0".into()), Event::Fixed(fixed.into())],
                }],
                versions: vec![],
            },
            severity,
            links: vec![],
            description: String::new(),
        }
    }

    #[test]
    fn aliases_merge_into_one_finding() {
        let inv: Inventory = serde_json::from_value(serde_json::json!({
            "distribution": null,
            "packages": [{"ecosystem": "pypi", "name": "Django", "version": "3.2.0", "path": "/x", "layer": "sha256:1"}],
            "layers": []
        }))
        .unwrap();
        let mut map = HashMap::new();
        map.insert(
            Key {
                namespace: "osv:PyPI".into(),
                package: "django".into(),
            },
            vec![
                osv("PYSEC-2021-1", &["CVE-2021-1"], "3.2.1", Severity::Unknown),
                osv("GHSA-aaaa", &["CVE-2021-1"], "3.2.2", Severity::High),
                osv("PYSEC-2021-2", &[], "3.1", Severity::Low),
            ],
        );
        let r = match_inventory(&inv, &map);
        let v = &r.features[0].vulnerabilities;
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].name, "GHSA-aaaa");
        assert_eq!(v[0].aliases, ["CVE-2021-1", "PYSEC-2021-1"]);
        assert_eq!(v[0].severity, Severity::High);
        assert_eq!(v[0].fixed_by.as_deref(), Some("3.2.2"));
    }
}
