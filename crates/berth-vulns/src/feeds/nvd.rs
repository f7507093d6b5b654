//! NVD's yearly CVE 2.0 feeds (`nvdcve-2.0-YYYY.json.gz`), for the CVSS
//! of each CVE. Each year's `.meta` is fetched conditionally; its sha256 is
//! the year's fingerprint, so the archive is fetched only when it changed.
//! A record per CVE with a CVSS v3 score (namespace `nvd`, package the CVE
//! id): NVD's own (`Primary`) v3.1 score first, then its v3.0 one, then
//! another source's.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;

use super::{FeedError, FeedOutcome, SourceUpdate, fetch_source, format_error, join, name};
use crate::fetch::{Fetched, Fetcher, Validators};
use crate::{Advisory, Affected, Cvss};

/// The namespace of NVD's records.
pub const NAMESPACE: &str = "nvd";
/// The first year NVD publishes.
const FIRST_YEAR: u16 = 2002;
/// Most bytes a year's feed may inflate to.
const MAX_INFLATED: u64 = 2 << 30;

#[derive(Deserialize)]
struct FeedFile {
    #[serde(default)]
    vulnerabilities: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    cve: Cve,
}

#[derive(Deserialize)]
struct Cve {
    id: String,
    #[serde(default)]
    metrics: Option<Metrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    #[serde(default)]
    cvss_metric_v31: Vec<Metric>,
    #[serde(default)]
    cvss_metric_v30: Vec<Metric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    cvss_data: CvssData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CvssData {
    version: String,
    vector_string: String,
    base_score: f64,
}

/// The years fetched unless configured: 2002 to this year.
pub fn default_years() -> Vec<u16> {
    let now = chrono::Datelike::year(&chrono::Utc::now());
    let last = u16::try_from(now).unwrap_or(FIRST_YEAR);
    (FIRST_YEAR..=last).collect()
}

/// Fetch each year's `.meta`, and its archive when the sha256 changed.
pub(super) async fn update(
    base: &str,
    years: Option<&[u16]>,
    fetcher: &Fetcher,
    previous: &BTreeMap<String, Validators>,
) -> Result<FeedOutcome, FeedError> {
    let years = years.map_or_else(default_years, <[u16]>::to_vec);
    let mut sources = Vec::new();
    for year in years {
        let meta = format!("nvdcve-2.0-{year}.meta");
        let archive = format!("nvdcve-2.0-{year}.json.gz");
        let unchanged = |source: &str| SourceUpdate {
            source: source.to_owned(),
            validators: previous.get(source).cloned().unwrap_or_default(),
            advisories: None,
        };
        let Some((bytes, meta_validators)) =
            fetch_source(fetcher, &join(base, &meta), &meta, previous).await?
        else {
            sources.push(unchanged(&meta));
            sources.push(unchanged(&archive));
            continue;
        };
        let sha = sha256_of_meta(&meta, &bytes)?;
        let known = previous.get(&archive).and_then(|v| v.cursor.as_deref()) == Some(sha.as_str());
        let update = if known {
            unchanged(&archive)
        } else {
            let url = join(base, &archive);
            let Fetched::Body { bytes, .. } = fetcher.get(&url, None).await? else {
                return Err(FeedError::Missing(url));
            };
            SourceUpdate {
                advisories: Some(parse_gz(&archive, &bytes)?),
                source: archive.clone(),
                validators: Validators {
                    cursor: Some(sha),
                    ..Validators::default()
                },
            }
        };
        sources.push(SourceUpdate {
            source: meta,
            validators: meta_validators,
            advisories: None,
        });
        sources.push(update);
    }
    Ok(FeedOutcome { sources })
}

/// The `sha256:` line of a `.meta` file.
pub fn sha256_of_meta(source: &str, bytes: &[u8]) -> Result<String, FeedError> {
    let text = std::str::from_utf8(bytes).map_err(|e| format_error(source, e))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("sha256:"))
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format_error(source, "no sha256 line"))
}

/// A gzip-compressed yearly feed.
pub fn parse_gz(source: &str, bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut json)
        .map_err(|e| format_error(source, e))?;
    if json.len() as u64 > MAX_INFLATED {
        return Err(format_error(
            source,
            format!("inflates to more than {MAX_INFLATED} bytes"),
        ));
    }
    parse(source, &json)
}

/// One CVSS record per CVE that has a v3 score.
pub fn parse(source: &str, json: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let feed: FeedFile = serde_json::from_slice(json).map_err(|e| format_error(source, e))?;
    let mut out = Vec::new();
    for item in feed.vulnerabilities {
        let Some(metrics) = item.cve.metrics else { continue };
        let primary = |m: &&Metric| m.kind.as_deref() == Some("Primary");
        let chosen = metrics
            .cvss_metric_v31
            .iter()
            .find(primary)
            .or_else(|| metrics.cvss_metric_v30.iter().find(primary))
            .or_else(|| metrics.cvss_metric_v31.first())
            .or_else(|| metrics.cvss_metric_v30.first());
        let Some(m) = chosen else { continue };
        let score = m.cvss_data.base_score;
        if !(0.0..=10.0).contains(&score) {
            return Err(format_error(
                source,
                format!("{}: base score {score} out of range", item.cve.id),
            ));
        }
        let id = name(source, "cve id", &item.cve.id)?;
        out.push(Advisory {
            id: id.clone(),
            aliases: Vec::new(),
            namespace: NAMESPACE.to_owned(),
            package: id,
            affected: Affected::Cvss(Cvss {
                version: name(source, "cvss version", &m.cvss_data.version)?,
                vector: name(source, "cvss vector", &m.cvss_data.vector_string)?,
                // In range, so the rounded tenths fit.
                score_tenths: (score * 10.0).round() as u16,
            }),
            severity: crate::Severity::Unknown,
            links: vec![format!("https://nvd.nist.gov/vuln/detail/{}", item.cve.id)],
            description: String::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_v3_scores() {
        let json = br#"{"vulnerabilities":[
            {"cve":{"id":"CVE-2016-2781","metrics":{
                "cvssMetricV31":[{"type":"Secondary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:L","baseScore":4.6}}],
                "cvssMetricV30":[{"type":"Primary","cvssData":{"version":"3.0","vectorString":"CVSS:3.0/AV:L","baseScore":6.5}}]}}},
            {"cve":{"id":"CVE-2016-3197"}}]}"#;
        let a = parse("s", json).unwrap();
        assert_eq!(a.len(), 1);
        let Affected::Cvss(c) = &a[0].affected else {
            panic!()
        };
        assert_eq!((c.version.as_str(), c.score_tenths), ("3.0", 65));
        assert!(parse("s", br#"{"vulnerabilities":[{"cve":{"id":"C","metrics":{"cvssMetricV31":[{"cvssData":{"version":"3.1","vectorString":"v","baseScore":1e300}}]}}}]}"#).is_err());
        assert!(parse_gz("s", b"\x1f\x8b\x08\x00trunc").is_err());
        assert!(sha256_of_meta("m", b"lastModifiedDate:x\nsha256:zz\n").is_err());
    }
}
