//! OSV: one `all.zip` per ecosystem (`PyPI/all.zip`), a record per JSON
//! file. Withdrawn records are dropped, `ECOSYSTEM` and `SEMVER` ranges
//! kept with their events in order, `GIT` ranges dropped (commits are no
//! versions), PyPI names normalized as PEP 503 says.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use serde::Deserialize;

use super::{FeedError, FeedOutcome, SourceUpdate, fetch_source, format_error, join, name, text};
use crate::fetch::{Fetcher, Validators};
use crate::{Advisory, Affected, Event, Range, Severity};

/// The ecosystems fetched unless configured otherwise.
pub const DEFAULT_ECOSYSTEMS: [&str; 6] = ["PyPI", "npm", "Go", "Maven", "crates.io", "RubyGems"];
/// Most files one archive may hold.
const MAX_ENTRIES: usize = 1_000_000;
/// Largest record file.
const MAX_RECORD: u64 = 8 << 20;
/// Most bytes all records of one archive may inflate to.
const MAX_INFLATED: u64 = 4 << 30;
/// Most links kept per record.
const MAX_LINKS: usize = 32;

#[derive(Deserialize)]
pub(super) struct Record {
    pub(super) id: String,
    #[serde(default)]
    pub(super) withdrawn: Option<String>,
    #[serde(default)]
    pub(super) aliases: Option<Vec<String>>,
    #[serde(default)]
    pub(super) summary: Option<String>,
    #[serde(default)]
    pub(super) details: Option<String>,
    #[serde(default)]
    pub(super) references: Option<Vec<Reference>>,
    #[serde(default)]
    pub(super) affected: Option<Vec<AffectedEntry>>,
    #[serde(default)]
    pub(super) database_specific: Option<serde_json::Value>,
    /// Ubuntu: the CVE (or record) ids a record is about.
    #[serde(default)]
    pub(super) upstream: Option<Vec<String>>,
    /// `[{type, score}]`: CVSS vectors, and Ubuntu's priority.
    #[serde(default)]
    pub(super) severity: Option<Vec<SeverityEntry>>,
}

#[derive(Deserialize)]
pub(super) struct SeverityEntry {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) score: String,
}

#[derive(Deserialize)]
pub(super) struct Reference {
    #[serde(default)]
    pub(super) url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct AffectedEntry {
    #[serde(default)]
    pub(super) package: Option<PackageRef>,
    #[serde(default)]
    pub(super) ranges: Option<Vec<RawRange>>,
    #[serde(default)]
    pub(super) versions: Option<Vec<String>>,
    #[serde(default)]
    pub(super) ecosystem_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(super) struct PackageRef {
    pub(super) ecosystem: String,
    pub(super) name: String,
}

#[derive(Deserialize)]
pub(super) struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<BTreeMap<String, String>>,
}

/// The name under which `ecosystem`'s packages are matched.
pub fn package_key(ecosystem: &str, name: &str) -> String {
    match ecosystem {
        "PyPI" => berth_scan::detect::normalize_python_name(name),
        _ => name.to_owned(),
    }
}

/// Fetch `<ecosystem>/all.zip` for each ecosystem.
pub(super) async fn update(
    base: &str,
    ecosystems: Option<&[String]>,
    fetcher: &Fetcher,
    previous: &BTreeMap<String, Validators>,
) -> Result<FeedOutcome, FeedError> {
    let ecosystems: Vec<String> = match ecosystems {
        Some(e) => e.to_vec(),
        None => DEFAULT_ECOSYSTEMS.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut sources = Vec::new();
    for ecosystem in ecosystems {
        let source = format!("{ecosystem}/all.zip");
        let url = join(base, &source);
        let (validators, advisories) = match fetch_source(fetcher, &url, &source, previous).await? {
            None => (previous.get(&source).cloned().unwrap_or_default(), None),
            Some((bytes, validators)) => {
                let source_name = source.clone();
                let parsed = parse_archive(&source_name, &ecosystem, &bytes)?;
                (validators, Some(parsed))
            }
        };
        sources.push(SourceUpdate {
            source,
            validators,
            advisories,
        });
    }
    Ok(FeedOutcome { sources })
}

/// Parse an ecosystem's archive of records.
pub fn parse_archive(source: &str, ecosystem: &str, bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let mut out = Vec::new();
    each_record(source, bytes, |member, buf| {
        out.extend(parse_record(&format!("{source}:{member}"), ecosystem, buf)?);
        Ok(())
    })?;
    Ok(out)
}

/// Call `f` with each `.json` member of a zip archive (name, bytes), under
/// the entry, record and inflation caps. Members are inflated by one
/// inflater into one buffer, reused: a fresh inflater per member (its
/// window is large and aligned) between the records kept from the last
/// one left the heap fragmented, several hundred MiB for the OSV feeds.
pub(super) fn each_record(
    source: &str,
    bytes: &[u8],
    mut f: impl FnMut(&str, &[u8]) -> Result<(), FeedError>,
) -> Result<(), FeedError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format_error(source, e))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format_error(source, format!("more than {MAX_ENTRIES} files")));
    }
    let mut inflater = flate2::Decompress::new(false);
    let mut raw = Vec::new();
    let mut buf = Vec::new();
    let mut inflated = 0u64;
    for i in 0..zip.len() {
        let mut file = zip.by_index_raw(i).map_err(|e| format_error(source, e))?;
        let member: String = match file.name() {
            Ok(n) => n.chars().take(200).collect(),
            Err(e) => return Err(format_error(source, e)),
        };
        if !file.is_file() || !member.ends_with(".json") {
            continue;
        }
        if file.encrypted() {
            return Err(format_error(source, format!("{member}: encrypted")));
        }
        let (method, crc) = (file.compression(), file.crc32());
        raw.clear();
        // Raw reads stop at the member's compressed size, within `bytes`.
        file.read_to_end(&mut raw)
            .map_err(|e| format_error(source, format!("{member}: {e}")))?;
        drop(file);
        buf.clear();
        match method {
            zip::CompressionMethod::Stored => buf.extend_from_slice(&raw),
            zip::CompressionMethod::Deflated => inflate(&mut inflater, &raw, &mut buf)
                .map_err(|e| format_error(source, format!("{member}: {e}")))?,
            other => {
                return Err(format_error(
                    source,
                    format!("{member}: unsupported compression {other}"),
                ));
            }
        }
        if buf.len() as u64 > MAX_RECORD {
            return Err(format_error(
                source,
                format!("{member}: larger than {MAX_RECORD} bytes"),
            ));
        }
        let mut sum = flate2::Crc::new();
        sum.update(&buf);
        if sum.sum() != crc {
            return Err(format_error(source, format!("{member}: CRC-32 mismatch")));
        }
        inflated += buf.len() as u64;
        if inflated > MAX_INFLATED {
            return Err(format_error(
                source,
                format!("inflates to more than {MAX_INFLATED} bytes"),
            ));
        }
        f(&member, &buf)?;
    }
    Ok(())
}

/// Inflate one raw deflate stream into `out`, stopping one byte past
/// [`MAX_RECORD`] (the declared size is not trusted).
fn inflate(inflater: &mut flate2::Decompress, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    inflater.reset(false);
    let cap = MAX_RECORD as usize + 1;
    loop {
        if out.len() >= cap {
            return Ok(());
        }
        out.reserve((64 << 10).min(cap - out.len()));
        let consumed = usize::try_from(inflater.total_in()).map_err(|e| e.to_string())?;
        let before = (inflater.total_in(), out.len());
        let status = inflater
            .decompress_vec(
                input.get(consumed..).unwrap_or_default(),
                out,
                flate2::FlushDecompress::Finish,
            )
            .map_err(|e| e.to_string())?;
        if status == flate2::Status::StreamEnd {
            return Ok(());
        }
        if (inflater.total_in(), out.len()) == before {
            return Err("truncated deflate stream".into());
        }
    }
}

/// Parse one OSV record into one advisory per affected package of
/// `ecosystem` (none if withdrawn).
pub fn parse_record(source: &str, ecosystem: &str, bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let record: Record = serde_json::from_slice(bytes).map_err(|e| format_error(source, e))?;
    if is_withdrawn(&record) {
        return Ok(Vec::new());
    }
    let id = name(source, "id", &record.id)?;
    let aliases = names(source, "alias", record.aliases.as_deref())?;
    let severity = record
        .database_specific
        .as_ref()
        .and_then(|d| d.get("severity"))
        .and_then(|s| s.as_str())
        .and_then(Severity::parse)
        .unwrap_or_default();
    let links = links(&record);
    let description = description(&record);
    let mut by_package: BTreeMap<String, (Vec<Range>, Vec<String>)> = BTreeMap::new();
    for entry in record.affected.unwrap_or_default() {
        let Some(package) = &entry.package else { continue };
        if package.ecosystem != ecosystem {
            continue;
        }
        let key = package_key(ecosystem, &name(source, "package name", &package.name)?);
        let slot = by_package.entry(key).or_default();
        add_ranges(source, entry, slot)?;
    }
    Ok(by_package
        .into_iter()
        // A package with only GIT ranges cannot be matched by version.
        .filter(|(_, (ranges, versions))| !ranges.is_empty() || !versions.is_empty())
        .map(|(package, (ranges, versions))| Advisory {
            id: id.clone(),
            aliases: aliases.clone(),
            namespace: format!("osv:{ecosystem}"),
            package,
            affected: Affected::Ranges { ranges, versions },
            severity,
            links: links.clone(),
            description: description.clone(),
        })
        .collect())
}

/// Whether the record was withdrawn (it then affects nothing).
pub(super) fn is_withdrawn(record: &Record) -> bool {
    record.withdrawn.as_deref().is_some_and(|w| !w.is_empty())
}

/// Checked copies of a list of ids.
pub(super) fn names(source: &str, what: &str, list: Option<&[String]>) -> Result<Vec<String>, FeedError> {
    list.unwrap_or_default()
        .iter()
        .map(|a| name(source, what, a))
        .collect()
}

/// The record's reference links, bounded.
pub(super) fn links(record: &Record) -> Vec<String> {
    record
        .references
        .iter()
        .flatten()
        .filter_map(|r| r.url.as_deref())
        .take(MAX_LINKS)
        .map(text)
        .collect()
}

/// The summary, else the details.
pub(super) fn description(record: &Record) -> String {
    text(
        record
            .summary
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(record.details.as_deref())
            .unwrap_or(""),
    )
}

/// Add an affected entry's `ECOSYSTEM` and `SEMVER` ranges and its listed
/// versions to `slot` (`GIT` ranges are skipped: commits are no versions).
pub(super) fn add_ranges(
    source: &str,
    entry: AffectedEntry,
    slot: &mut (Vec<Range>, Vec<String>),
) -> Result<(), FeedError> {
    for range in entry.ranges.unwrap_or_default() {
        if range.kind != "ECOSYSTEM" && range.kind != "SEMVER" {
            continue;
        }
        let mut events = Vec::with_capacity(range.events.len());
        for event in range.events {
            for (kind, version) in event {
                let version = name(source, "range event", &version)?;
                events.push(match kind.as_str() {
                    "introduced" => Event::Introduced(version),
                    "fixed" => Event::Fixed(version),
                    "last_affected" => Event::LastAffected(version),
                    "limit" => Event::Limit(version),
                    _ => continue,
                });
            }
        }
        slot.0.push(Range { events });
    }
    for v in entry.versions.unwrap_or_default() {
        slot.1.push(name(source, "version", &v)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_ranges_and_withdrawal() {
        let rec = br#"{"id":"PYSEC-1","aliases":["CVE-1"],"affected":[{"package":{"name":"Django_X","ecosystem":"PyPI"},
            "ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"abc"}]},{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2"}]}]}]}"#;
        let a = parse_record("s", "PyPI", rec).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].package, "django-x");
        let Affected::Ranges { ranges, .. } = &a[0].affected else {
            panic!()
        };
        assert_eq!(ranges.len(), 1);
        let gone = br#"{"id":"PYSEC-2","withdrawn":"2023-06-06T10:37:00Z","affected":[]}"#;
        assert!(parse_record("s", "PyPI", gone).unwrap().is_empty());
        assert!(parse_record("s", "PyPI", br#"{"id":5}"#).is_err());
        assert!(parse_archive("s", "PyPI", b"PK\x03\x04truncated").is_err());
    }

    fn archive(members: &[(&str, zip::CompressionMethod, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, method, body) in members {
            let options = zip::write::SimpleFileOptions::default().compression_method(*method);
            zip.start_file(*name, options).unwrap();
            zip.write_all(body).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn members_inflate_with_one_inflater() {
        let rec = |id: &str| {
            format!(
                r#"{{"id":"{id}","details":"{}","affected":[{{"package":{{"name":"p","ecosystem":"PyPI"}},
                "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"2"}}]}}]}}]}}"#,
                "x".repeat(100_000)
            )
        };
        let (a, b, c) = (rec("A-1"), rec("A-2"), rec("A-3"));
        let zip = archive(&[
            ("A-1.json", zip::CompressionMethod::Deflated, a.as_bytes()),
            ("A-2.json", zip::CompressionMethod::Stored, b.as_bytes()),
            ("README", zip::CompressionMethod::Deflated, b"not a record"),
            ("A-3.json", zip::CompressionMethod::Deflated, c.as_bytes()),
        ]);
        let ids: Vec<String> = parse_archive("s", "PyPI", &zip)
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, ["A-1", "A-2", "A-3"]);
        // A flipped byte in a stored member fails its CRC-32.
        let mut bad = zip.clone();
        let at = bad.windows(5).position(|w| w == b"\"A-2\"").unwrap();
        bad[at + 1] = b'B';
        assert!(parse_archive("s", "PyPI", &bad).is_err());
        // An archive cut short is an error, not records.
        let cut = archive(&[("A-1.json", zip::CompressionMethod::Deflated, a.as_bytes())]);
        let mut short = cut.clone();
        let body = short.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        short.drain(body - 40..body);
        assert!(parse_archive("s", "PyPI", &short).is_err());
    }
}
