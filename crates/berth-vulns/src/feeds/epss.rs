//! FIRST's EPSS scores: one gzip-compressed CSV
//! (`#model_version:…,score_date:…`, then `cve,epss,percentile` rows),
//! fetched conditionally (its ETag is the fingerprint). A record per CVE
//! (namespace `epss`, package the CVE id).

use std::collections::BTreeMap;
use std::io::Read;

use super::{FeedError, FeedOutcome, SourceUpdate, fetch_source, format_error, name};
use crate::fetch::{Fetcher, Validators};
use crate::{Advisory, Affected, Epss, Severity};

/// The namespace of EPSS records.
pub const NAMESPACE: &str = "epss";
/// The feed's one source.
pub const SOURCE: &str = "scores";
/// Most bytes the CSV may inflate to.
const MAX_INFLATED: u64 = 1 << 30;

/// Fetch and parse the scores at `url`.
pub(super) async fn update(
    url: &str,
    fetcher: &Fetcher,
    previous: &BTreeMap<String, Validators>,
) -> Result<FeedOutcome, FeedError> {
    let (validators, advisories) = match fetch_source(fetcher, url, SOURCE, previous).await? {
        None => (previous.get(SOURCE).cloned().unwrap_or_default(), None),
        Some((bytes, validators)) => (validators, Some(parse_gz(&bytes)?)),
    };
    Ok(FeedOutcome {
        sources: vec![SourceUpdate {
            source: SOURCE.to_owned(),
            validators,
            advisories,
        }],
    })
}

/// The gzip-compressed CSV.
pub fn parse_gz(bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let mut csv = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut csv)
        .map_err(|e| format_error(SOURCE, e))?;
    if csv.len() as u64 > MAX_INFLATED {
        return Err(format_error(
            SOURCE,
            format!("inflates to more than {MAX_INFLATED} bytes"),
        ));
    }
    parse(&csv)
}

fn score(line: usize, s: &str) -> Result<String, FeedError> {
    let v: f64 = s.parse().map_err(|_| {
        format_error(
            SOURCE,
            format!(
                "line {line}: {:?} is no score",
                s.chars().take(32).collect::<String>()
            ),
        )
    })?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format_error(
            SOURCE,
            format!("line {line}: score {v} out of range"),
        ));
    }
    Ok(s.to_owned())
}

/// The CSV: the comment line names the model and date, the header the
/// columns.
pub fn parse(bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let text = std::str::from_utf8(bytes).map_err(|e| format_error(SOURCE, e))?;
    let mut lines = text.lines().enumerate();
    let mut model_version = String::new();
    let mut date = String::new();
    let mut header = None;
    for (_, line) in lines.by_ref() {
        if let Some(comment) = line.strip_prefix('#') {
            for field in comment.split(',') {
                match field.split_once(':') {
                    Some(("model_version", v)) => model_version = name(SOURCE, "model version", v)?,
                    Some(("score_date", v)) => date = name(SOURCE, "score date", v)?,
                    _ => {}
                }
            }
            continue;
        }
        header = Some(line.trim());
        break;
    }
    if header != Some("cve,epss,percentile") {
        return Err(format_error(SOURCE, "no `cve,epss,percentile` header"));
    }
    let mut out = Vec::new();
    for (n, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut f = line.split(',');
        let (Some(cve), Some(epss), Some(percentile), None) = (f.next(), f.next(), f.next(), f.next()) else {
            return Err(format_error(
                SOURCE,
                format!("line {}: not cve,epss,percentile", n + 1),
            ));
        };
        let id = name(SOURCE, "cve id", cve)?;
        out.push(Advisory {
            id: id.clone(),
            aliases: Vec::new(),
            namespace: NAMESPACE.to_owned(),
            package: id,
            affected: Affected::Epss(Epss {
                epss: score(n + 1, epss)?,
                percentile: score(n + 1, percentile)?,
                date: date.clone(),
                model_version: model_version.clone(),
            }),
            severity: Severity::Unknown,
            links: Vec::new(),
            description: String::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_refusals() {
        let csv = b"#model_version:v2023.03.01,score_date:2024-10-25T00:00:00+0000\ncve,epss,percentile\nCVE-1999-0005,0.91963,0.99030\n";
        let a = parse(csv).unwrap();
        let Affected::Epss(e) = &a[0].affected else {
            panic!()
        };
        assert_eq!(
            (a[0].package.as_str(), e.epss.as_str(), e.date.as_str()),
            ("CVE-1999-0005", "0.91963", "2024-10-25T00:00:00+0000")
        );
        assert!(parse(b"cve,epss,percentile\nCVE-1,2.5,0.1\n").is_err());
        assert!(parse(b"cve,epss\nCVE-1,0.5\n").is_err());
        assert!(parse(b"cve,epss,percentile\nCVE-1,0.5\n").is_err());
        assert!(parse_gz(b"\x1f\x8b\x08\x00trunc").is_err());
    }
}
