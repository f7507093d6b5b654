//! Alpine's secdb: one directory per release (`v3.20/`), listed by the
//! index page, each with `main.json` and `community.json`
//! (`{packages: [{pkg: {name, secfixes: {"<fixed version>": [ids]}}}]}`),
//! keyed by source (origin) package name and release.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{FeedError, FeedOutcome, SourceUpdate, format_error, join, name};
use crate::fetch::{Fetched, Fetcher, Validators};
use crate::{Advisory, Affected, Severity};

/// The source holding the index listing (no records of its own).
pub const INDEX: &str = "index";
/// Most releases one listing may name.
const MAX_RELEASES: usize = 256;

#[derive(Deserialize)]
struct SecDb {
    #[serde(default)]
    packages: Vec<PackageEntry>,
}

#[derive(Deserialize)]
struct PackageEntry {
    pkg: Pkg,
}

#[derive(Deserialize)]
struct Pkg {
    name: String,
    #[serde(default)]
    secfixes: BTreeMap<String, Option<Vec<String>>>,
}

/// The releases an index page links to (`v3.20/`, `edge/` is skipped: it
/// is no release an image names).
pub fn releases_in_listing(html: &str) -> Vec<String> {
    let mut out: Vec<String> = html
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|h| h.trim_end_matches('/'))
        .filter(|h| is_release(h))
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out.truncate(MAX_RELEASES);
    out
}

fn is_release(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.len() < 6 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// Fetch the releases (from `releases`, else the index listing) and each
/// release's `main.json` and `community.json`.
pub(super) async fn update(
    base: &str,
    releases: Option<&[String]>,
    fetcher: &Fetcher,
    previous: &BTreeMap<String, Validators>,
) -> Result<FeedOutcome, FeedError> {
    let mut sources = Vec::new();
    let releases: Vec<String> = match releases {
        Some(r) => r.to_vec(),
        None => {
            let url = join(base, "");
            let index = match fetcher.get(&url, previous.get(INDEX)).await? {
                Fetched::NotModified => previous.get(INDEX).cloned().unwrap_or_default(),
                Fetched::Missing => return Err(FeedError::Missing(url)),
                Fetched::Body {
                    bytes,
                    mut validators,
                } => {
                    validators.members = releases_in_listing(&String::from_utf8_lossy(&bytes));
                    validators
                }
            };
            let releases = index.members.clone();
            sources.push(SourceUpdate {
                source: INDEX.to_owned(),
                validators: index,
                advisories: None,
            });
            releases
        }
    };
    for release in releases {
        if !is_release(&release) {
            return Err(format_error(
                INDEX,
                format!("{release:?} is not a release like v3.20"),
            ));
        }
        for repo in ["main", "community"] {
            let source = format!("{release}/{repo}.json");
            let url = join(base, &source);
            let (validators, advisories) = match fetcher.get(&url, previous.get(&source)).await? {
                Fetched::NotModified => (previous.get(&source).cloned().unwrap_or_default(), None),
                // Not every release has both repositories.
                Fetched::Missing => continue,
                Fetched::Body { bytes, validators } => (validators, Some(parse(&source, &release, &bytes)?)),
            };
            sources.push(SourceUpdate {
                source,
                validators,
                advisories,
            });
        }
    }
    Ok(FeedOutcome { sources })
}

/// Parse one secdb file of `release`: each id listed under a version is
/// fixed in that version; the key `"0"` means never affected.
pub fn parse(source: &str, release: &str, bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let db: SecDb = serde_json::from_slice(bytes).map_err(|e| format_error(source, e))?;
    let mut by_key: BTreeMap<(String, String), Advisory> = BTreeMap::new();
    let mut never: Vec<(String, String)> = Vec::new();
    for entry in db.packages {
        let package = name(source, "package name", &entry.pkg.name)?;
        for (fixed, ids) in entry.pkg.secfixes {
            for raw in ids.unwrap_or_default() {
                // Entries may carry a note after the id.
                let Some(id) = raw.split_whitespace().next() else {
                    continue;
                };
                let id = name(source, "vulnerability id", id)?;
                let key = (package.clone(), id.clone());
                if fixed == "0" {
                    never.push(key);
                    continue;
                }
                let fixed = name(source, "fixed version", &fixed)?;
                by_key.entry(key).or_insert_with(|| Advisory {
                    id: id.clone(),
                    aliases: Vec::new(),
                    namespace: format!("alpine:{release}"),
                    package: package.clone(),
                    affected: Affected::Distro {
                        fixed: Some(fixed),
                        will_not_fix: false,
                    },
                    severity: Severity::Unknown,
                    links: vec![format!("https://security.alpinelinux.org/vuln/{id}")],
                    description: String::new(),
                });
            }
        }
    }
    for key in never {
        by_key.remove(&key);
    }
    Ok(by_key.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_and_records() {
        let html = r#"<a href="../">../</a><a href="edge/">edge/</a><a href="v3.19/">v3.19/</a><a href="v3.2/">v3.2/</a><a href="last-update">x</a>"#;
        assert_eq!(releases_in_listing(html), ["v3.19", "v3.2"]);
        let json = br#"{"distroversion":"v3.19","packages":[{"pkg":{"name":"busybox","secfixes":{"0":["CVE-2021-42373"],"1.36.1-r6":["CVE-2023-42363 (note)"]}}}]}"#;
        let a = parse("v3.19/main.json", "v3.19", json).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].id, "CVE-2023-42363");
        assert_eq!(a[0].namespace, "alpine:v3.19");
        assert!(parse("x", "v3.19", br#"{"packages":[{"pkg":{"name":1}}]}"#).is_err());
    }
}
