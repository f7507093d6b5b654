//! A manifest's page (`/repository/{name}/manifest/{digest}`): its
//! layers and sizes, the commands of its config's history, the platforms
//! of an index (each linking to its own page), the artifacts that refer
//! to it, and its vulnerabilities from the scanner's report (the same
//! report as the API's `.../manifest/{digest}/security`), filtered by
//! severity and fixability and grouped by package.

use askama::Template;
use axum::response::Response;
use berth_core::RepositoryName;
use berth_core::registry::SecurityStatus;
use berth_core::vulns::{Report, Severity};
use berth_oci::Digest;
use serde::Deserialize;

use super::error::{ConsoleError, page};
use super::session::Visitor;
use super::view::{Chrome, short_digest, size};

/// Severities, most severe first, as the filter offers them.
const SEVERITIES: [&str; 6] = ["Critical", "High", "Medium", "Low", "Negligible", "Unknown"];

/// The vulnerability filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ManifestQuery {
    /// Only vulnerabilities at least this severe.
    #[serde(default)]
    severity: Option<String>,
    /// Only vulnerabilities some version fixes (a checkbox: present or not).
    #[serde(default)]
    fixable: Option<String>,
}

/// A blob row (a layer or the config).
struct BlobRow {
    digest: String,
    short: String,
    media_type: String,
    size: String,
}

/// A step of the config's history.
struct StepRow {
    command: String,
    created: String,
    empty: bool,
}

/// A manifest an index or a referrer names.
struct LinkRow {
    label: String,
    digest: String,
    short: String,
    size: String,
}

/// A vulnerability of a package.
struct VulnRow {
    id: String,
    severity: &'static str,
    fixed_by: String,
    link: Option<String>,
    description: String,
}

/// A package with its vulnerabilities that pass the filter.
struct PackageRow {
    name: String,
    version: String,
    added_by: String,
    vulns: Vec<VulnRow>,
}

/// The manifest page.
#[derive(Template)]
#[template(path = "console/manifest.html")]
struct ManifestPage {
    chrome: Chrome,
    name: String,
    digest: String,
    short: String,
    media_type: String,
    artifact_type: String,
    size: String,
    platform: String,
    is_index: bool,
    subject: Option<String>,
    config: Option<BlobRow>,
    layers: Vec<BlobRow>,
    total: String,
    history: Vec<StepRow>,
    platforms: Vec<LinkRow>,
    referrers: Vec<LinkRow>,
    /// `scanned`, `queued`, `failed`, `unsupported` or `off`.
    security: &'static str,
    /// Why there is no report, when there is none.
    security_message: String,
    /// Findings per severity, most severe first (unfiltered).
    summary: Vec<(&'static str, usize)>,
    packages: Vec<PackageRow>,
    /// Vulnerabilities the filter kept.
    shown: usize,
    severities: [&'static str; 6],
    severity: String,
    fixable: bool,
}

fn blob_row(b: berth_core::registry::BlobEntry) -> BlobRow {
    BlobRow {
        short: short_digest(&b.digest),
        size: size(b.size),
        digest: b.digest,
        media_type: b.media_type,
    }
}

/// `GET /repository/{name}/manifest/{digest}`: 404 for anyone who may
/// not pull the repository.
pub(crate) async fn show(
    visitor: Visitor,
    repo: RepositoryName,
    digest: Digest,
    query: ManifestQuery,
) -> Result<Response, ConsoleError> {
    let details = visitor
        .registry
        .manifest_details(&visitor.caller, &repo, &digest)
        .await
        .map_err(|e| ConsoleError::from(e).hiding("manifest"))?;
    let minimum = query
        .severity
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| Severity::parse(s).ok_or_else(|| ConsoleError::invalid(format!("{s:?} is not a severity"))))
        .transpose()?;
    let fixable = query.fixable.is_some();
    let (security, security_message, report) = match visitor
        .registry
        .security_report(&visitor.caller, &repo, &digest)
        .await
    {
        Ok(r) => match (r.status, r.report) {
            (SecurityStatus::Scanned, Some(report)) => ("scanned", String::new(), Some(report)),
            (SecurityStatus::Failed, _) => (
                "failed",
                "The scanner could not index this image.".to_owned(),
                None,
            ),
            (SecurityStatus::Unsupported, _) => (
                "unsupported",
                if details.is_index {
                    "An index is not scanned itself: open one of its platforms below.".to_owned()
                } else {
                    "Not an image the scanner reads (an artifact).".to_owned()
                },
                None,
            ),
            _ => (
                "queued",
                "Not scanned yet: the scanner has it queued.".to_owned(),
                None,
            ),
        },
        // The manifest exists (read above), so "not found" here is the
        // scanner being off; its message says so.
        Err(e) => {
            let e = ConsoleError::from(e);
            if !e.is_not_found() {
                return Err(e);
            }
            ("off", e.message().to_owned(), None)
        }
    };
    let summary = report.as_ref().map(severity_counts).unwrap_or_default();
    let packages = report
        .as_ref()
        .map(|r| by_package(r, minimum, fixable))
        .unwrap_or_default();
    let total: i64 = details.layers.iter().map(|l| l.size).sum();
    let link = |label: String, digest: String, bytes: i64| LinkRow {
        label,
        short: short_digest(&digest),
        size: size(bytes),
        digest,
    };
    page(&ManifestPage {
        chrome: visitor.chrome(),
        name: repo.to_string(),
        short: short_digest(&details.digest),
        digest: details.digest,
        media_type: details.media_type,
        artifact_type: details.artifact_type.unwrap_or_default(),
        size: size(details.size),
        platform: details.platform.unwrap_or_default(),
        is_index: details.is_index,
        subject: details.subject,
        config: details.config.map(blob_row),
        total: size(total),
        layers: details.layers.into_iter().map(blob_row).collect(),
        history: details
            .history
            .into_iter()
            .map(|h| StepRow {
                command: h.created_by,
                created: h.created.unwrap_or_default(),
                empty: h.empty_layer,
            })
            .collect(),
        platforms: details
            .platforms
            .into_iter()
            .map(|p| {
                let label = if p.platform.is_empty() {
                    "unnamed".to_owned()
                } else {
                    p.platform
                };
                link(label, p.digest, p.size)
            })
            .collect(),
        referrers: details
            .referrers
            .into_iter()
            .map(|r| link(r.artifact_type.unwrap_or(r.media_type), r.digest, r.size))
            .collect(),
        security,
        security_message,
        summary,
        shown: packages.iter().map(|p| p.vulns.len()).sum(),
        packages,
        severities: SEVERITIES,
        severity: minimum.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        fixable,
    })
}

/// Findings per severity, most severe first, leaving out those with none.
fn severity_counts(report: &Report) -> Vec<(&'static str, usize)> {
    let counts = report.summary();
    let mut out: Vec<(&'static str, usize)> = counts.into_iter().map(|(s, n)| (s.as_str(), n)).collect();
    out.reverse();
    out
}

/// The packages with vulnerabilities at least `minimum` severe (and,
/// with `fixable`, fixed by some version), most severe first.
fn by_package(report: &Report, minimum: Option<Severity>, fixable: bool) -> Vec<PackageRow> {
    let mut out: Vec<(Severity, PackageRow)> = report
        .features
        .iter()
        .filter_map(|f| {
            let kept: Vec<_> = f
                .vulnerabilities
                .iter()
                .filter(|v| minimum.is_none_or(|m| v.severity >= m))
                .filter(|v| !fixable || v.fixed_by.as_deref().is_some_and(|x| !x.is_empty()))
                .collect();
            let worst = kept.iter().map(|v| v.severity).max()?;
            Some((
                worst,
                PackageRow {
                    name: f.package.name.clone(),
                    version: f.package.version.clone(),
                    added_by: short_digest(&f.added_by),
                    vulns: kept
                        .into_iter()
                        .map(|v| VulnRow {
                            id: v.name.clone(),
                            severity: v.severity.as_str(),
                            fixed_by: v.fixed_by.clone().unwrap_or_default(),
                            link: v.links.first().filter(|l| l.starts_with("https://")).cloned(),
                            description: v.description.chars().take(300).collect(),
                        })
                        .collect(),
                },
            ))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    out.into_iter().map(|(_, p)| p).collect()
}
