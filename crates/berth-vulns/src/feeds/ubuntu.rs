//! Ubuntu: Canonical's OSV records, `Ubuntu/all.zip` on the OSV bucket.
//! Each affected entry names a source package in an `Ubuntu:<version>`
//! ecosystem (`Ubuntu:22.04:LTS`, `Ubuntu:25.10`); `Ubuntu:Pro:<version>`
//! entries are the same release's packages whose fixes ship through Ubuntu
//! Pro (ESM), so they are kept under the same release: an image of that
//! release is affected, and the fix named is the Pro one. Variants a
//! container cannot be told to run (`Ubuntu:Pro:FIPS…`, kernels of other
//! flavours) are skipped. Ranges are in dpkg order.

use std::collections::BTreeMap;

use super::osv::{self, Record};
use super::{FeedError, FeedOutcome, SourceUpdate, fetch_source, format_error, join, name};
use crate::fetch::{Fetcher, Validators};
use crate::{Advisory, Affected, Range, Severity};

/// The feed's one source, at the OSV bucket's root.
pub const SOURCE: &str = "Ubuntu/all.zip";

/// Fetch and parse `Ubuntu/all.zip` under `base`.
pub(super) async fn update(
    base: &str,
    fetcher: &Fetcher,
    previous: &BTreeMap<String, Validators>,
) -> Result<FeedOutcome, FeedError> {
    let url = join(base, SOURCE);
    let (validators, advisories) = match fetch_source(fetcher, &url, SOURCE, previous).await? {
        None => (previous.get(SOURCE).cloned().unwrap_or_default(), None),
        Some((bytes, validators)) => (validators, Some(parse_archive(&bytes)?)),
    };
    Ok(FeedOutcome {
        sources: vec![SourceUpdate {
            source: SOURCE.to_owned(),
            validators,
            advisories,
        }],
    })
}

/// Parse the archive of Ubuntu records.
pub fn parse_archive(bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let mut out = Vec::new();
    osv::each_record(SOURCE, bytes, |member, buf| {
        out.extend(parse_record(&format!("{SOURCE}:{member}"), buf)?);
        Ok(())
    })?;
    Ok(out)
}

/// The namespace (`ubuntu:22.04`) of an OSV ecosystem, if it is a
/// release's (standard or Pro).
pub fn namespace(ecosystem: &str) -> Option<String> {
    let rest = ecosystem.strip_prefix("Ubuntu:")?;
    let rest = rest.strip_prefix("Pro:").unwrap_or(rest);
    let mut parts = rest.split(':');
    let version = parts.next()?;
    let (major, minor) = version.split_once('.')?;
    let numeric = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    if !numeric(major) || !numeric(minor) {
        return None;
    }
    match (parts.next(), parts.next()) {
        (None, _) | (Some("LTS"), None) => Some(format!("ubuntu:{version}")),
        _ => None,
    }
}

/// Ubuntu's priority (`negligible` … `critical`) on Clair's scale.
fn priority(s: &str) -> Severity {
    Severity::parse(s).unwrap_or_default()
}

/// Parse one record: an advisory per (release, source package). A
/// `UBUNTU-CVE-…` record (`upstream` or only `related` naming the CVE) is
/// named by its CVE (as Ubuntu's own tracker and
/// the other distributions name it) with the record id as an alias; a
/// USN names the records it covers in `upstream`, so its finding merges
/// with theirs.
pub fn parse_record(source: &str, bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let record: Record = serde_json::from_slice(bytes).map_err(|e| format_error(source, e))?;
    if osv::is_withdrawn(&record) {
        return Ok(Vec::new());
    }
    let record_id = name(source, "id", &record.id)?;
    let upstream = osv::names(source, "upstream id", record.upstream.as_deref())?;
    let mut aliases = osv::names(source, "alias", record.aliases.as_deref())?;
    let cve = record_id
        .strip_prefix("UBUNTU-")
        .filter(|c| c.starts_with("CVE-"))
        .map(str::to_owned);
    let id = match cve {
        Some(cve) => {
            aliases.push(record_id.clone());
            cve
        }
        None => record_id.clone(),
    };
    aliases.extend(upstream.into_iter().filter(|u| *u != id));
    aliases.sort();
    aliases.dedup();
    let record_priority = record
        .severity
        .iter()
        .flatten()
        .find(|s| s.kind == "Ubuntu")
        .map(|s| priority(&s.score))
        .unwrap_or_default();
    let links = osv::links(&record);
    let description = osv::description(&record);
    type Slot = ((Vec<Range>, Vec<String>), Severity);
    let mut by_key: BTreeMap<(String, String), Slot> = BTreeMap::new();
    for entry in record.affected.unwrap_or_default() {
        let Some(package) = &entry.package else { continue };
        let Some(ns) = namespace(&package.ecosystem) else {
            continue;
        };
        let package = name(source, "package name", &package.name)?;
        let severity = entry
            .ecosystem_specific
            .as_ref()
            .and_then(|e| e.get("ubuntu_priority"))
            .and_then(|p| p.as_str())
            .map(priority)
            .unwrap_or(record_priority);
        let slot = by_key.entry((ns, package)).or_default();
        slot.1 = slot.1.max(severity);
        osv::add_ranges(source, entry, &mut slot.0)?;
    }
    Ok(by_key
        .into_iter()
        .filter(|(_, ((ranges, versions), _))| !ranges.is_empty() || !versions.is_empty())
        .map(
            |((namespace, package), ((ranges, versions), severity))| Advisory {
                id: id.clone(),
                aliases: aliases.clone(),
                namespace,
                package,
                affected: Affected::Ranges { ranges, versions },
                severity,
                links: links.clone(),
                description: description.clone(),
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems_map_to_releases() {
        assert_eq!(namespace("Ubuntu:22.04:LTS").as_deref(), Some("ubuntu:22.04"));
        assert_eq!(namespace("Ubuntu:Pro:16.04:LTS").as_deref(), Some("ubuntu:16.04"));
        assert_eq!(namespace("Ubuntu:25.10").as_deref(), Some("ubuntu:25.10"));
        assert_eq!(namespace("Ubuntu:Pro:FIPS:22.04:LTS"), None);
        assert_eq!(namespace("Ubuntu:22.04:LTS:Realtime:Kernel"), None);
        assert_eq!(namespace("Debian:12"), None);
    }

    #[test]
    fn records_named_by_cve_with_priorities() {
        let rec = br#"{"id":"UBUNTU-CVE-2021-3782","upstream":["CVE-2021-3782"],"severity":[{"type":"Ubuntu","score":"medium"}],
            "affected":[{"package":{"ecosystem":"Ubuntu:Pro:16.04:LTS","name":"wayland"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.12.0-1~ubuntu16.04.3+esm1"}]}]},
                        {"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"wayland"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}],"ecosystem_specific":{"ubuntu_priority":"high"}}]}"#;
        let a = parse_record("s", rec).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].id, "CVE-2021-3782");
        assert_eq!(a[0].aliases, ["UBUNTU-CVE-2021-3782"]);
        assert_eq!(a[0].namespace, "ubuntu:16.04");
        assert_eq!(a[0].severity, Severity::Medium);
        assert_eq!(a[1].severity, Severity::High);
        let usn = br#"{"id":"USN-5614-1","upstream":["UBUNTU-CVE-2021-3782"],"affected":[]}"#;
        assert!(parse_record("s", usn).unwrap().is_empty());
        let gone = br#"{"id":"UBUNTU-CVE-1","withdrawn":"2025-07-18T16:42:51Z","affected":[{"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"x"},"versions":["1"]}]}"#;
        assert!(parse_record("s", gone).unwrap().is_empty());
        assert!(parse_record("s", br#"{"id":"x","upstream":"CVE-1"}"#).is_err());
        assert!(parse_archive(b"PK\x03\x04truncated").is_err());
    }
}
