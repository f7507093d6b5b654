//! Red Hat's CSAF VEX files (`<base>/YYYY/cve-YYYY-NNNN.json`, one per CVE),
//! each a source of the feed. The first update reads the archive named by
//! `archive_latest.txt` (a zstd tarball of every file, dated in its name),
//! then applies `changes.csv` and `deletions.csv` (`"path","timestamp"`
//! lines) after the archive's date; later updates only apply those two
//! lists after the time reached (kept in the `changes.csv` source's
//! validators), fetching each changed file. Parsing is in [`csaf`].

pub mod csaf;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use chrono::{DateTime, FixedOffset};

use super::{FeedError, FeedOutcome, SourceUpdate, fetch_source, format_error, join};
use crate::fetch::{Fetched, Fetcher, Validators};

/// The file naming the latest archive.
pub const LATEST: &str = "archive_latest.txt";
/// The list of changed files; its validators keep the time reached.
pub const CHANGES: &str = "changes.csv";
/// The list of deleted files.
pub const DELETIONS: &str = "deletions.csv";
/// Largest document accepted (kernel CVEs run to tens of MB).
const MAX_DOCUMENT: u64 = 128 << 20;
/// Most bytes an archive may inflate to.
const MAX_INFLATED: u64 = 64 << 30;
/// Most entries read from one list.
const MAX_LIST: usize = 2_000_000;

/// Fetch the feed under `base`: the archive on the first update, deltas after.
pub(super) async fn update(
    base: &str,
    fetcher: &Fetcher,
    previous: &BTreeMap<String, Validators>,
) -> Result<FeedOutcome, FeedError> {
    let mut sources: BTreeMap<String, SourceUpdate> = BTreeMap::new();
    let cursor = match previous.get(CHANGES).and_then(|v| v.cursor.clone()) {
        Some(cursor) => {
            // Every stored document stays unless a list says otherwise.
            for (source, validators) in previous {
                if is_document(source) {
                    sources.insert(source.clone(), unchanged(source, validators));
                }
            }
            cursor
        }
        None => {
            let url = join(base, LATEST);
            let Fetched::Body { bytes, .. } = fetcher.get(&url, None).await? else {
                return Err(FeedError::Missing(url));
            };
            let archive = String::from_utf8_lossy(&bytes).trim().to_owned();
            if archive.is_empty() || archive.len() > 200 || archive.contains('/') || archive.contains("..") {
                return Err(format_error(LATEST, "does not name an archive"));
            }
            let url = join(base, &archive);
            let Fetched::Body { bytes, .. } = fetcher.get(&url, None).await? else {
                return Err(FeedError::Missing(url));
            };
            for (source, advisories) in parse_archive(&archive, &bytes)? {
                sources.insert(
                    source.clone(),
                    SourceUpdate {
                        source,
                        validators: Validators::default(),
                        advisories: Some(advisories),
                    },
                );
            }
            archive_date(&archive)
        }
    };
    let since = time(CHANGES, &cursor)?;
    let mut reached = cursor.clone();
    // Changed documents after the cursor, fetched one by one.
    let changes = fetch_source(fetcher, &join(base, CHANGES), CHANGES, previous).await?;
    let changes_validators = match changes {
        None => previous.get(CHANGES).cloned().unwrap_or_default(),
        Some((bytes, validators)) => {
            let mut changed = BTreeSet::new();
            for (path, at) in parse_list(CHANGES, &bytes)? {
                let Some(t) = time(CHANGES, &at)? else { continue };
                if since.is_none_or(|s| t > s) {
                    changed.insert(path);
                }
                if time(CHANGES, &reached)?.is_none_or(|r| t > r) {
                    reached = at;
                }
            }
            for path in changed {
                let url = join(base, &path);
                let update = match fetcher.get(&url, None).await? {
                    Fetched::Body { bytes, validators } => SourceUpdate {
                        advisories: Some(csaf::parse(&path, &bytes)?),
                        source: path.clone(),
                        validators,
                    },
                    // Listed as changed, then removed: gone.
                    Fetched::Missing | Fetched::NotModified => {
                        sources.remove(&path);
                        continue;
                    }
                };
                sources.insert(path, update);
            }
            validators
        }
    };
    // Deleted documents after the cursor.
    let deletions = fetch_source(fetcher, &join(base, DELETIONS), DELETIONS, previous).await?;
    let deletions_validators = match deletions {
        None => previous.get(DELETIONS).cloned().unwrap_or_default(),
        Some((bytes, validators)) => {
            for (path, at) in parse_list(DELETIONS, &bytes)? {
                if since.is_none_or(|s| time(DELETIONS, &at).is_ok_and(|t| t.is_some_and(|t| t > s))) {
                    sources.remove(&path);
                }
            }
            validators
        }
    };
    let mut out: Vec<SourceUpdate> = sources.into_values().collect();
    out.push(SourceUpdate {
        source: CHANGES.to_owned(),
        validators: Validators {
            cursor: Some(reached),
            ..changes_validators
        },
        advisories: None,
    });
    out.push(SourceUpdate {
        source: DELETIONS.to_owned(),
        validators: deletions_validators,
        advisories: None,
    });
    Ok(FeedOutcome { sources: out })
}

fn unchanged(source: &str, validators: &Validators) -> SourceUpdate {
    SourceUpdate {
        source: source.to_owned(),
        validators: validators.clone(),
        advisories: None,
    }
}

/// Whether a source name is a document's path (`2023/cve-2023-38545.json`).
fn is_document(source: &str) -> bool {
    source.ends_with(".json") && source.contains('/')
}

/// The archive's date (`csaf_vex_2024-07-14.tar.zst`) as the cursor, or
/// empty (every listed change applies) when its name carries none.
fn archive_date(archive: &str) -> String {
    archive
        .split(['_', '.'])
        .find(|p| p.len() == 10 && chrono::NaiveDate::parse_from_str(p, "%Y-%m-%d").is_ok())
        .map(|d| format!("{d}T00:00:00+00:00"))
        .unwrap_or_default()
}

/// An RFC 3339 time; `None` for the empty cursor.
fn time(source: &str, s: &str) -> Result<Option<DateTime<FixedOffset>>, FeedError> {
    if s.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(s).map(Some).map_err(|e| {
        format_error(
            source,
            format!("time {:?}: {e}", s.chars().take(64).collect::<String>()),
        )
    })
}

/// `"path","timestamp"` lines (quotes optional).
pub fn parse_list(source: &str, bytes: &[u8]) -> Result<Vec<(String, String)>, FeedError> {
    let text = std::str::from_utf8(bytes).map_err(|e| format_error(source, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if out.len() >= MAX_LIST {
            return Err(format_error(source, format!("more than {MAX_LIST} lines")));
        }
        let bad = || format_error(source, format!("line {}: not \"path\",\"time\"", n + 1));
        let (path, at) = line.split_once(',').ok_or_else(bad)?;
        let path = path.trim().trim_matches('"');
        let at = at.trim().trim_matches('"');
        if !is_document(path) || path.len() > 200 || path.starts_with('/') || path.contains("..") {
            return Err(bad());
        }
        time(source, at)?;
        out.push((path.to_owned(), at.to_owned()));
    }
    Ok(out)
}

/// Every document of a zstd tarball, parsed: (path, advisories).
pub fn parse_archive(source: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<crate::Advisory>)>, FeedError> {
    let decoder = zstd::stream::read::Decoder::new(bytes).map_err(|e| format_error(source, e))?;
    let mut tar = tar::Archive::new(decoder.take(MAX_INFLATED));
    let mut out = Vec::new();
    for entry in tar.entries().map_err(|e| format_error(source, e))? {
        let entry = entry.map_err(|e| format_error(source, e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format_error(source, e))?
            .to_string_lossy()
            .trim_start_matches("./")
            .chars()
            .take(200)
            .collect::<String>();
        if !is_document(&path) {
            continue;
        }
        let mut buf = Vec::new();
        entry
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut buf)
            .map_err(|e| format_error(source, format!("{path}: {e}")))?;
        if buf.len() as u64 > MAX_DOCUMENT {
            return Err(format_error(
                source,
                format!("{path}: larger than {MAX_DOCUMENT} bytes"),
            ));
        }
        let advisories = csaf::parse(&format!("{source}:{path}"), &buf)?;
        out.push((path, advisories));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_dates() {
        let l = parse_list("c", b"\"2023/cve-2023-1.json\",\"2024-02-06T17:11:43+00:00\"\n\n").unwrap();
        assert_eq!(
            l,
            [(
                "2023/cve-2023-1.json".to_owned(),
                "2024-02-06T17:11:43+00:00".to_owned()
            )]
        );
        assert!(parse_list("c", b"\"../etc/passwd.json\",\"2024-02-06T17:11:43+00:00\"").is_err());
        assert!(parse_list("c", b"\"2023/cve-2023-1.json\",\"yesterday\"").is_err());
        assert_eq!(
            archive_date("csaf_vex_2024-07-14.tar.zst"),
            "2024-07-14T00:00:00+00:00"
        );
        assert_eq!(archive_date("latest.tar.zst"), "");
        assert!(parse_archive("a", b"\x28\xb5\x2f\xfdtruncated").is_err());
    }
}
