//! The Debian security tracker's JSON
//! (`{source package: {CVE: {description, releases: {codename: {status,
//! fixed_version, urgency, nodsa}}}}}`), keyed by source package and
//! release code name.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{FeedError, FeedOutcome, SourceUpdate, fetch_source, format_error, name, text};
use crate::fetch::{Fetcher, Validators};
use crate::{Advisory, Affected, Severity};

/// The feed's one source.
pub const SOURCE: &str = "json";

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    releases: BTreeMap<String, Release>,
}

#[derive(Deserialize)]
struct Release {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa: Option<String>,
}

/// Fetch and parse the tracker JSON at `url`.
pub(super) async fn update(
    url: &str,
    fetcher: &Fetcher,
    previous: &BTreeMap<String, Validators>,
) -> Result<FeedOutcome, FeedError> {
    let fetched = fetch_source(fetcher, url, SOURCE, previous).await?;
    let (validators, advisories) = match fetched {
        None => (previous.get(SOURCE).cloned().unwrap_or_default(), None),
        Some((bytes, validators)) => (validators, Some(parse(&bytes)?)),
    };
    Ok(FeedOutcome {
        sources: vec![SourceUpdate {
            source: SOURCE.to_owned(),
            validators,
            advisories,
        }],
    })
}

/// The tracker's urgency on Clair's scale (`low**` marks an urgency taken
/// from NVD; the asterisks are literal).
pub fn severity(urgency: &str) -> Severity {
    match urgency.trim_end_matches('*') {
        "unimportant" => Severity::Negligible,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        _ => Severity::Unknown,
    }
}

/// Parse the tracker JSON: one advisory per (source package, CVE, release)
/// that affects some version. `fixed_version "0"` (never affected) gives
/// none; an open entry without a fix is affected in every version, and a
/// `nodsa` note (no-dsa, ignored, postponed) marks it as not to be fixed.
pub fn parse(bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let doc: BTreeMap<String, BTreeMap<String, Entry>> =
        serde_json::from_slice(bytes).map_err(|e| format_error(SOURCE, e))?;
    let mut out = Vec::new();
    for (package, cves) in doc {
        let package = name(SOURCE, "package name", &package)?;
        for (id, entry) in cves {
            let id = name(SOURCE, "vulnerability id", &id)?;
            for (codename, release) in entry.releases {
                let codename = name(SOURCE, "release", &codename)?;
                let fixed = release.fixed_version.filter(|v| !v.is_empty());
                if fixed.as_deref() == Some("0") {
                    continue;
                }
                let status = release.status.as_deref().unwrap_or("open");
                if status == "resolved" && fixed.is_none() {
                    // Resolved without a version: nothing to compare.
                    continue;
                }
                out.push(Advisory {
                    id: id.clone(),
                    aliases: Vec::new(),
                    namespace: format!("debian:{codename}"),
                    package: package.clone(),
                    affected: Affected::Distro {
                        will_not_fix: fixed.is_none() && release.nodsa.is_some(),
                        fixed: fixed.map(|f| text(&f)),
                    },
                    severity: severity(release.urgency.as_deref().unwrap_or("")),
                    links: vec![format!("https://security-tracker.debian.org/tracker/{id}")],
                    description: entry.description.as_deref().map(text).unwrap_or_default(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_become_advisories() {
        let json = br#"{"xz-utils":{"CVE-2024-3094":{"releases":{"bookworm":{"status":"resolved","fixed_version":"0","urgency":"unimportant"}}}},
            "tar":{"CVE-2023-39804":{"releases":{"bookworm":{"status":"open","urgency":"not yet assigned","nodsa":"Minor issue","nodsa_reason":""}}},
                   "CVE-2005-2541":{"releases":{"bookworm":{"status":"open","urgency":"unimportant"}}}},
            "perl":{"CVE-2023-31484":{"releases":{"bookworm":{"status":"resolved","fixed_version":"5.36.0-7+deb12u3","urgency":"low**"}}}}}"#;
        let a = parse(json).unwrap();
        assert_eq!(a.len(), 3);
        let perl = a.iter().find(|a| a.package == "perl").unwrap();
        assert_eq!(perl.severity, Severity::Low);
        assert_eq!(perl.namespace, "debian:bookworm");
        let nodsa = a.iter().find(|a| a.id == "CVE-2023-39804").unwrap();
        assert_eq!(
            nodsa.affected,
            Affected::Distro {
                fixed: None,
                will_not_fix: true
            }
        );
        let open = a.iter().find(|a| a.id == "CVE-2005-2541").unwrap();
        assert_eq!(open.severity, Severity::Negligible);
    }

    #[test]
    fn hostile_input_is_an_error() {
        assert!(parse(b"{\"a\":{\"CVE-1\":{\"releases\":{\"bookworm\":{\"status\":7}}}}}").is_err());
        assert!(parse(b"{\"a\":").is_err());
        assert!(parse(b"[]").is_err());
        let long = format!("{{\"{}\":{{}}}}", "p".repeat(10 << 20));
        assert!(parse(long.as_bytes()).is_err());
    }
}
