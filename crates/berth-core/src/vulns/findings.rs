//! What a report says beyond its features: counts per severity, every id
//! and alias of its findings (for looking manifests up by vulnerability),
//! the findings a new match added to an older one, and the
//! `vulnerability_found` events those record.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use berth_scan::Ecosystem;
use berth_store::Db;
use berth_store::metadata::{EventScope, NewEvent};
use berth_vulns::matching::{Feature, Report, Vulnerability};

use super::{Severity, VulnError};
use crate::notify::{RepoEvent, Site};

/// Findings per severity, on Clair's scale (absent severities are zero).
pub type Summary = BTreeMap<Severity, usize>;

/// Every id and alias of the findings of `features`.
pub(crate) fn ids<'a>(features: impl IntoIterator<Item = &'a Feature>) -> BTreeSet<String> {
    features
        .into_iter()
        .flat_map(|f| &f.vulnerabilities)
        .flat_map(|v| std::iter::once(&v.name).chain(&v.aliases))
        .cloned()
        .collect()
}

type PackageKey = (Ecosystem, String, String);

/// The vulnerabilities `new` finds that `old` did not, for the same
/// package, under none of their names; one per vulnerability name.
pub(crate) fn added(old: &Report, new: &Report) -> Vec<Vulnerability> {
    let mut known: std::collections::HashMap<PackageKey, HashSet<&str>> = Default::default();
    for f in &old.features {
        let set = known
            .entry((
                f.package.ecosystem,
                f.package.name.clone(),
                f.package.version.clone(),
            ))
            .or_default();
        for v in &f.vulnerabilities {
            set.insert(&v.name);
            set.extend(v.aliases.iter().map(String::as_str));
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for f in &new.features {
        let key = (
            f.package.ecosystem,
            f.package.name.clone(),
            f.package.version.clone(),
        );
        let before = known.get(&key);
        for v in &f.vulnerabilities {
            let old = before.is_some_and(|s| {
                std::iter::once(&v.name)
                    .chain(&v.aliases)
                    .any(|id| s.contains(id.as_str()))
            });
            if !old && seen.insert(v.name.clone()) {
                out.push(v.clone());
            }
        }
    }
    out
}

/// The findings of `report` at or above `min`, one per vulnerability name.
pub(crate) fn at_or_above(report: &Report, min: Severity) -> Vec<Vulnerability> {
    let mut seen = BTreeSet::new();
    report
        .features
        .iter()
        .flat_map(|f| &f.vulnerabilities)
        .filter(|v| v.severity >= min && seen.insert(v.name.clone()))
        .cloned()
        .collect()
}

/// The vulnerability as Quay's `vulnerability_found` payload gives it.
fn event_vulnerability(v: &Vulnerability) -> crate::notify::Vulnerability {
    crate::notify::Vulnerability {
        id: v.name.clone(),
        description: v.description.clone(),
        link: v.links.join(" "),
        priority: v.severity.as_str().to_owned(),
        has_fix: v.fixed_by.is_some(),
    }
}

/// Queue `vulnerability_found` for each finding of `found`, a list of
/// (manifest digest, findings), in every repository holding the manifest
/// (only `repository` if given), naming the tags that resolve to it (its
/// digest when untagged). Returns the events queued (before fan-out to
/// each repository's notifications).
pub(crate) async fn record_found(
    db: &Db,
    site: &Site,
    found: &[(String, Vec<Vulnerability>)],
    on_new_index: bool,
    repository: Option<&str>,
) -> Result<usize, VulnError> {
    let digests: Vec<String> = found
        .iter()
        .filter(|(_, vulns)| !vulns.is_empty())
        .map(|(digest, _)| digest.clone())
        .collect();
    if digests.is_empty() {
        return Ok(0);
    }
    let mut placements = db.manifests_placements(&digests).await?;
    let mut rows = Vec::new();
    for (digest, vulns) in found {
        for place in placements.remove(digest).unwrap_or_default() {
            if repository.is_some_and(|r| r != place.repository) {
                continue;
            }
            let tags = if place.tags.is_empty() {
                vec![digest.clone()]
            } else {
                place.tags.clone()
            };
            for v in vulns {
                let event = RepoEvent::VulnerabilityFound {
                    tags: tags.clone(),
                    vulnerability: event_vulnerability(v),
                    on_new_index,
                };
                rows.push(NewEvent {
                    delivery: uuid::Uuid::new_v4().to_string(),
                    scope: EventScope::Repository(place.repository_id),
                    event: event.kind().name().to_owned(),
                    payload: event.payload(site, &place.repository).to_string(),
                });
            }
        }
    }
    if !rows.is_empty() {
        db.enqueue_events(&rows).await?;
    }
    Ok(rows.len())
}

/// A PyPI finding, for tests.
#[cfg(test)]
pub(super) fn vuln(name: &str, aliases: &[&str], severity: Severity) -> Vulnerability {
    Vulnerability {
        name: name.into(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        namespace: "osv:PyPI".into(),
        severity,
        fixed_by: None,
        will_not_fix: false,
        links: vec![],
        description: String::new(),
        cvss: None,
        epss: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_vulns::matching::Feature;

    fn report(packages: &[(&str, &str, Vec<Vulnerability>)]) -> Report {
        let features = packages
            .iter()
            .map(|(name, version, vulns)| {
                let package = serde_json::from_value(serde_json::json!({
                    "ecosystem": "pypi", "name": name, "version": version
                }))
                .unwrap_or_else(|e| panic!("{e}"));
                Feature {
                    package,
                    added_by: "sha256:1".into(),
                    vulnerabilities: vulns.clone(),
                }
            })
            .collect();
        Report {
            distribution: None,
            features,
        }
    }

    #[test]
    fn only_findings_new_under_every_name_are_added() {
        let old = report(&[
            (
                "django",
                "3.2.0",
                vec![vuln("PYSEC-1", &["CVE-1"], Severity::Low)],
            ),
            ("redis", "4.5.1", vec![]),
        ]);
        let new = report(&[
            (
                "django",
                "3.2.0",
                // Renamed by a merged GHSA record: the same vulnerability.
                vec![
                    vuln("GHSA-x", &["CVE-1", "PYSEC-1"], Severity::High),
                    vuln("CVE-2", &[], Severity::Medium),
                ],
            ),
            // The same id in another package is a new finding there.
            ("redis", "4.5.1", vec![vuln("CVE-2", &[], Severity::Medium)]),
        ]);
        let added: Vec<String> = added(&old, &new).into_iter().map(|v| v.name).collect();
        assert_eq!(added, ["CVE-2"]);
        assert!(super::added(&new, &new).is_empty());
        let high: Vec<String> = at_or_above(&new, Severity::Medium)
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(high, ["GHSA-x", "CVE-2"]);
        assert_eq!(
            ids(&new.features),
            ["CVE-1", "CVE-2", "GHSA-x", "PYSEC-1"]
                .map(String::from)
                .into_iter()
                .collect()
        );
    }
}
