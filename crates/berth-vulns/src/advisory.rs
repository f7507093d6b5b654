//! The normalized advisory every feed produces, and the one rule deciding
//! whether it affects a version.

use std::cmp::Ordering;

use berth_scan::version::{Scheme, compare};
use serde::{Deserialize, Serialize};

use crate::Severity;

/// One vulnerability of one package in one namespace (a distribution
/// release such as `debian:bookworm`, or a language ecosystem such as
/// `osv:PyPI`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// The feed's id (`CVE-2024-2961`, `PYSEC-2023-1`, `ALPINE-13661`).
    pub id: String,
    /// Other ids of the same vulnerability (CVE, GHSA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Where the package lives: `<distribution>:<release>` or `osv:<ecosystem>`.
    pub namespace: String,
    /// Package name as matched: the source package for distributions, the
    /// normalized name for language ecosystems.
    pub package: String,
    /// Which versions are affected.
    pub affected: Affected,
    /// Severity on Clair's scale.
    pub severity: Severity,
    /// Reference links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Description (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// Which versions of the package an advisory affects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Affected {
    /// A distribution's "fixed in" statement: versions below `fixed` are
    /// affected; without a fix, every version is.
    Distro {
        /// The first fixed version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fixed: Option<String>,
        /// The distribution decided not to fix it (Debian `no-dsa`,
        /// `ignored`, `postponed`).
        #[serde(default)]
        will_not_fix: bool,
    },
    /// OSV ranges and listed versions.
    Ranges {
        /// `ECOSYSTEM` and `SEMVER` ranges (`GIT` ranges are dropped).
        #[serde(default)]
        ranges: Vec<Range>,
        /// Versions affected by enumeration.
        #[serde(default)]
        versions: Vec<String>,
    },
    /// Not a statement about versions: NVD's CVSS of the CVE named by the
    /// record's package (namespace `nvd`), which enriches findings.
    Cvss(Cvss),
    /// FIRST's exploit prediction score of the CVE (namespace `epss`).
    Epss(Epss),
}

/// A CVSS v3 base score as NVD publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cvss {
    /// `3.1` or `3.0`.
    pub version: String,
    /// The vector string.
    pub vector: String,
    /// The base score in tenths (`75` is 7.5), so records compare exactly.
    pub score_tenths: u16,
}

impl Cvss {
    /// The base score.
    pub fn score(&self) -> f64 {
        f64::from(self.score_tenths) / 10.0
    }

    /// Quay's severity of a score, for findings whose source gives none.
    pub fn severity(&self) -> Severity {
        match self.score_tenths {
            0 => Severity::Unknown,
            1..=39 => Severity::Low,
            40..=69 => Severity::Medium,
            70..=89 => Severity::High,
            _ => Severity::Critical,
        }
    }
}

/// An EPSS score row, kept as the feed writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epss {
    /// Probability of exploitation in the next 30 days (`0.91963`).
    pub epss: String,
    /// Its percentile among all CVEs.
    pub percentile: String,
    /// The scores' date.
    pub date: String,
    /// The model that computed them.
    pub model_version: String,
}

/// One OSV range: its events in the feed's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// The events.
    pub events: Vec<Event>,
}

/// An OSV range event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Affected from this version on (`0`: from the first version).
    Introduced(String),
    /// Fixed in this version.
    Fixed(String),
    /// Affected up to and including this version.
    LastAffected(String),
    /// Versions from here on are outside the range.
    Limit(String),
}

/// How an affected package can be fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixState {
    /// Upgrade to this version.
    FixedIn(String),
    /// No fix is available yet.
    NotFixed,
    /// The distribution will not fix it.
    WillNotFix,
}

impl FixState {
    /// The version that fixes it, if any.
    pub fn fixed_by(&self) -> Option<&str> {
        match self {
            FixState::FixedIn(v) => Some(v),
            _ => None,
        }
    }
}

/// `a < b`, `a <= b` etc. in `scheme`; `None` when either does not parse,
/// so an unreadable bound never makes a finding on its own.
fn cmp(scheme: Scheme, a: &str, b: &str) -> Option<Ordering> {
    match scheme {
        // Go ranges in OSV are written without the module `v`.
        Scheme::Go => compare(scheme, &go_version(a), &go_version(b)).ok(),
        _ => compare(scheme, a, b).ok(),
    }
}

fn go_version(v: &str) -> String {
    if v.starts_with('v') {
        v.to_owned()
    } else {
        format!("v{v}")
    }
}

impl Affected {
    /// Whether `version` (in `scheme`) is affected, and how it is fixed.
    pub fn affects(&self, scheme: Scheme, version: &str) -> Option<FixState> {
        match self {
            Affected::Distro { fixed, will_not_fix } => match fixed {
                Some(f) => (cmp(scheme, version, f)? == Ordering::Less).then(|| FixState::FixedIn(f.clone())),
                None if *will_not_fix => Some(FixState::WillNotFix),
                None => Some(FixState::NotFixed),
            },
            Affected::Cvss(_) | Affected::Epss(_) => None,
            Affected::Ranges { ranges, versions } => {
                for range in ranges {
                    if let Some(state) = range.affects(scheme, version) {
                        return Some(state);
                    }
                }
                versions
                    .iter()
                    .any(|v| v == version || cmp(scheme, v, version) == Some(Ordering::Equal))
                    .then_some(FixState::NotFixed)
            }
        }
    }
}

impl Range {
    /// Events pair up in the feed's order: each `introduced` opens an
    /// interval that the next `fixed`, `last_affected` or `limit` closes.
    fn affects(&self, scheme: Scheme, version: &str) -> Option<FixState> {
        let mut open: Option<&str> = None;
        for event in &self.events {
            match event {
                Event::Introduced(v) => {
                    if let Some(start) = open
                        && at_or_after(scheme, version, start)
                    {
                        return Some(FixState::NotFixed);
                    }
                    open = Some(v);
                }
                Event::Fixed(end) | Event::Limit(end) => {
                    if let Some(start) = open.take()
                        && at_or_after(scheme, version, start)
                        && cmp(scheme, version, end) == Some(Ordering::Less)
                    {
                        return Some(match event {
                            Event::Fixed(_) => FixState::FixedIn(end.clone()),
                            _ => FixState::NotFixed,
                        });
                    }
                }
                Event::LastAffected(end) => {
                    if let Some(start) = open.take()
                        && at_or_after(scheme, version, start)
                        && matches!(cmp(scheme, version, end), Some(Ordering::Less | Ordering::Equal))
                    {
                        return Some(FixState::NotFixed);
                    }
                }
            }
        }
        match open {
            Some(start) if at_or_after(scheme, version, start) => Some(FixState::NotFixed),
            _ => None,
        }
    }
}

/// `version >= start`, where `0` (and rustsec's `0.0.0-0`) means every version.
fn at_or_after(scheme: Scheme, version: &str, start: &str) -> bool {
    start == "0"
        || start == "0.0.0-0"
        || matches!(
            cmp(scheme, version, start),
            Some(Ordering::Greater | Ordering::Equal)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(events: Vec<Event>) -> Affected {
        Affected::Ranges {
            ranges: vec![Range { events }],
            versions: vec![],
        }
    }

    #[test]
    fn osv_intervals_pair_in_order() {
        let a = ranges(vec![
            Event::Introduced("0".into()),
            Event::Fixed("1.2".into()),
            Event::Introduced("2.0".into()),
            Event::Fixed("2.3".into()),
            Event::Introduced("3.0".into()),
            Event::LastAffected("3.1".into()),
        ]);
        let s = Scheme::Pep440;
        assert_eq!(a.affects(s, "1.0"), Some(FixState::FixedIn("1.2".into())));
        assert_eq!(a.affects(s, "1.2"), None);
        assert_eq!(a.affects(s, "2.1"), Some(FixState::FixedIn("2.3".into())));
        assert_eq!(a.affects(s, "2.3"), None);
        assert_eq!(a.affects(s, "3.1"), Some(FixState::NotFixed));
        assert_eq!(a.affects(s, "3.2"), None);
        let open = ranges(vec![Event::Introduced("4.0".into())]);
        assert_eq!(open.affects(s, "5"), Some(FixState::NotFixed));
        assert_eq!(open.affects(s, "3"), None);
        let go = ranges(vec![Event::Introduced("0".into()), Event::Fixed("0.23.0".into())]);
        assert!(go.affects(Scheme::Go, "v0.22.0").is_some());
        assert!(go.affects(Scheme::Go, "v0.23.0").is_none());
    }

    #[test]
    fn distro_fixes_and_garbage() {
        let a = Affected::Distro {
            fixed: Some("2.36-9+deb12u4".into()),
            will_not_fix: false,
        };
        assert!(a.affects(Scheme::Dpkg, "2.36-9+deb12u3").is_some());
        assert!(a.affects(Scheme::Dpkg, "2.36-9+deb12u14").is_none());
        // A version that does not parse is not reported affected.
        assert!(a.affects(Scheme::Dpkg, "").is_none());
        let wnf = Affected::Distro {
            fixed: None,
            will_not_fix: true,
        };
        assert_eq!(wnf.affects(Scheme::Dpkg, "1"), Some(FixState::WillNotFix));
    }
}
