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
use crate::{Advisory, Affected, Cvss, Epss, Severity};

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

/// The distribution release's namespace (`debian:bookworm`,
/// `ubuntu:22.04`, `alpine:v3.20`, `rhel:9`).
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
        // Ubuntu's records are per release version (`22.04`), as os-release's
        // VERSION_ID gives it; point releases (`22.04.3`) are the same release.
        "ubuntu" => {
            let mut parts = d.version_id.as_deref()?.split('.');
            let (major, minor) = (parts.next()?, parts.next()?);
            Some(format!("ubuntu:{major}.{minor}"))
        }
        // Red Hat's VEX records are kept per major release of the main
        // stream (`rhel:9`): UBI and RHEL images install from its repositories.
        "rhel" => {
            let major = d.version_id.as_deref()?.split('.').next()?;
            (!major.is_empty() && major.bytes().all(|b| b.is_ascii_digit())).then(|| format!("rhel:{major}"))
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
            let wanted: &[&str] = if package.ecosystem == Ecosystem::Deb {
                &["debian:", "ubuntu:"]
            } else {
                &["alpine:"]
            };
            if !wanted.iter().any(|w| ns.starts_with(w)) {
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
        // Red Hat names binary rpms, with the EVR berth-scan records.
        Ecosystem::Rpm => {
            let ns = distro_ns.filter(|ns| ns.starts_with("rhel:"))?;
            Some((
                Key {
                    namespace: ns.to_owned(),
                    package: package.name.clone(),
                },
                package.version.clone(),
            ))
        }
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
    /// NVD's CVSS v3 score (the highest of its CVE ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
    /// Its EPSS score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<Epss>,
}

impl Vulnerability {
    /// The CVE ids it carries (its name and aliases).
    pub fn cve_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.name)
            .chain(&self.aliases)
            .map(String::as_str)
            .filter(|id| id.starts_with("CVE-"))
    }
}

/// The enrichment keys of a report's findings: (`nvd`, CVE) and
/// (`epss`, CVE) for every CVE id they carry.
pub fn enrichment_keys(report: &Report) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    for v in report.features.iter().flat_map(|f| &f.vulnerabilities) {
        for cve in v.cve_ids() {
            for namespace in [crate::feeds::nvd::NAMESPACE, crate::feeds::epss::NAMESPACE] {
                out.insert(Key {
                    namespace: namespace.to_owned(),
                    package: cve.to_owned(),
                });
            }
        }
    }
    out
}

/// Attach enrichment records (stored under [`enrichment_keys`]) to the
/// findings: the highest CVSS score of their CVE ids, as Quay picks it,
/// with its severity where the feed gave none; and the highest EPSS score.
pub fn enrich(report: &mut Report, records: &HashMap<Key, Vec<Advisory>>) {
    for v in report.features.iter_mut().flat_map(|f| &mut f.vulnerabilities) {
        let mut cvss: Option<Cvss> = None;
        let mut epss: Option<Epss> = None;
        for cve in v.cve_ids() {
            for namespace in [crate::feeds::nvd::NAMESPACE, crate::feeds::epss::NAMESPACE] {
                let key = Key {
                    namespace: namespace.to_owned(),
                    package: cve.to_owned(),
                };
                for record in records.get(&key).into_iter().flatten() {
                    match &record.affected {
                        Affected::Cvss(c)
                            if cvss.as_ref().is_none_or(|o| c.score_tenths > o.score_tenths) =>
                        {
                            cvss = Some(c.clone());
                        }
                        Affected::Epss(e)
                            if epss.as_ref().is_none_or(|o| {
                                e.epss.parse::<f64>().unwrap_or(0.0) > o.epss.parse::<f64>().unwrap_or(0.0)
                            }) =>
                        {
                            epss = Some(e.clone());
                        }
                        _ => {}
                    }
                }
            }
        }
        if v.severity == Severity::Unknown
            && let Some(c) = &cvss
        {
            v.severity = c.severity();
        }
        v.cvss = cvss;
        v.epss = epss;
    }
    for f in &mut report.features {
        f.vulnerabilities
            .sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.name.cmp(&b.name)));
    }
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
        cvss: None,
        epss: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Range};

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
    fn enrichment_fills_scores_and_unknown_severities() {
        let vuln = |name: &str, aliases: &[&str], severity| Vulnerability {
            name: name.into(),
            aliases: aliases.iter().map(|s| (*s).to_owned()).collect(),
            namespace: "osv:Go".into(),
            severity,
            fixed_by: None,
            will_not_fix: false,
            links: vec![],
            description: String::new(),
            cvss: None,
            epss: None,
        };
        let mut report: Report = serde_json::from_value(serde_json::json!({
            "features": [{"ecosystem": "go", "name": "stdlib", "version": "v1.19.8", "path": "/x", "added_by": "sha256:1"}]
        }))
        .unwrap();
        report.features[0].vulnerabilities = vec![
            vuln("GO-1", &["CVE-1", "CVE-2"], Severity::Unknown),
            vuln("CVE-3", &[], Severity::Low),
        ];
        let cvss = |cve: &str, tenths| Advisory {
            id: cve.into(),
            aliases: vec![],
            namespace: "nvd".into(),
            package: cve.into(),
            affected: Affected::Cvss(Cvss {
                version: "3.1".into(),
                vector: format!("v{tenths}"),
                score_tenths: tenths,
            }),
            severity: Severity::Unknown,
            links: vec![],
            description: String::new(),
        };
        let keys = enrichment_keys(&report);
        assert_eq!(keys.len(), 6);
        let mut records = HashMap::new();
        for (cve, tenths) in [("CVE-1", 45), ("CVE-2", 98), ("CVE-3", 75)] {
            records.insert(
                Key {
                    namespace: "nvd".into(),
                    package: cve.into(),
                },
                vec![cvss(cve, tenths)],
            );
        }
        enrich(&mut report, &records);
        let v = &report.features[0].vulnerabilities;
        // The highest score of GO-1's CVEs, and its severity as GO-1 had none;
        // CVE-3 keeps its own severity.
        assert_eq!((v[0].name.as_str(), v[0].severity), ("GO-1", Severity::Critical));
        assert_eq!(v[0].cvss.as_ref().map(|c| c.score_tenths), Some(98));
        assert_eq!((v[1].name.as_str(), v[1].severity), ("CVE-3", Severity::Low));
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
