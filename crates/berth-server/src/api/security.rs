//! Quay's security API:
//! `GET /api/v1/repository/{namespace}/{repository}/manifest/{digest}/security`,
//! the report of an image's packages and their vulnerabilities in the
//! shape Quay keeps from Clair v2 (`data.Layer.Features[]`). Those who may
//! pull the repository may read it.

#![allow(non_snake_case)]

use axum::Json;
use axum::extract::Path;
use berth_core::registry::{SecurityReport, SecurityStatus};
use berth_core::vulns::{Feature, Report, Vulnerability, version_format};
use berth_oci::Digest;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, ApiQuery};
use super::repositories::repo_path;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(manifest_security))
}

/// Query of the security report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SecurityQuery {
    /// Include each package's vulnerabilities (default true).
    vulnerabilities: Option<bool>,
}

/// A manifest's security report (Quay's `SecurityReport`).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SecurityView {
    /// `queued`, `scanned`, `failed` or `unsupported`.
    status: String,
    /// The report when `scanned`, else null.
    data: Option<SecurityData>,
}

/// The report's data.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SecurityData {
    /// The image as one layer (Clair v2's shape).
    Layer: LayerView,
}

/// The image, named by its manifest digest.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LayerView {
    /// The manifest digest.
    Name: String,
    /// Always empty.
    ParentName: String,
    /// Always empty.
    NamespaceName: String,
    /// Always 4.
    IndexedByVersion: i32,
    /// Every package of the image.
    Features: Vec<FeatureView>,
}

/// One package.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FeatureView {
    /// Package name.
    Name: String,
    /// Version ordering (`dpkg`, `apk`, `pep440`...).
    VersionFormat: String,
    /// Where it was matched (`debian:bookworm`, `osv:PyPI`), or empty.
    NamespaceName: String,
    /// The digest of the layer that introduced it.
    AddedBy: String,
    /// Installed version.
    Version: String,
    /// CVSS base scores of its vulnerabilities (from NVD).
    BaseScores: Vec<f64>,
    /// CVE ids of its vulnerabilities.
    CVEIds: Vec<String>,
    /// Its vulnerabilities, most severe first.
    Vulnerabilities: Vec<VulnerabilityView>,
}

/// One vulnerability of a package.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct VulnerabilityView {
    /// Id (`CVE-2024-2961`, `PYSEC-2021-9`).
    Name: String,
    /// The advisories' namespace.
    NamespaceName: String,
    /// Description.
    Description: String,
    /// Links, space-separated.
    Link: String,
    /// `Unknown`, `Negligible`, `Low`, `Medium`, `High` or `Critical`.
    Severity: String,
    /// The version that fixes it; empty when none does.
    FixedBy: String,
    /// Where the finding comes from.
    Metadata: VulnerabilityMetadata,
}

/// Where a finding comes from.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct VulnerabilityMetadata {
    /// The feed.
    UpdatedBy: String,
    /// The package repository of language packages (`pypi`).
    RepoName: Option<String>,
    /// Its URL.
    RepoLink: Option<String>,
    /// The distribution's name, for distribution packages.
    DistroName: Option<String>,
    /// The distribution's version.
    DistroVersion: Option<String>,
    /// CVSS from NVD (empty without enrichment).
    NVD: NvdView,
    /// The EPSS score, when that feed runs (Clair's EPSS record).
    #[serde(skip_serializing_if = "Option::is_none")]
    EPSS: Option<EpssView>,
}

/// CVSS data (empty without enrichment).
#[derive(Debug, Default, Serialize, ToSchema)]
pub(super) struct NvdView {
    /// The CVSS v3 vector and base score.
    #[serde(skip_serializing_if = "Option::is_none")]
    CVSSv3: Option<CvssView>,
}

/// A CVSS v3 score.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CvssView {
    /// The vector string.
    Vectors: String,
    /// The base score.
    Score: f64,
}

/// An EPSS score, with Clair's field names.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct EpssView {
    /// The CVE scored.
    cve: String,
    /// Probability of exploitation in the next 30 days.
    epss: f64,
    /// Its percentile among all CVEs.
    percentile: f64,
    /// The scores' date.
    date: String,
    /// The model that computed them.
    model_version: String,
}

/// The language repository of an OSV namespace, as Clair names it.
fn repository(namespace: &str) -> Option<(&'static str, &'static str)> {
    Some(match namespace.strip_prefix("osv:")? {
        "PyPI" => ("pypi", "https://pypi.org/simple"),
        "npm" => ("npm", "https://registry.npmjs.org"),
        "Go" => ("go", "https://pkg.go.dev"),
        "Maven" => ("maven", "https://repo1.maven.apache.org/maven2"),
        "crates.io" => ("crates.io", "https://crates.io"),
        "RubyGems" => ("rubygems", "https://rubygems.org/gems/"),
        _ => return None,
    })
}

fn vulnerability(v: &Vulnerability, report: &Report) -> VulnerabilityView {
    // The updater's name, as Clair gives it.
    let feed = match v.namespace.split(':').next().unwrap_or_default() {
        "rhel" => "rhel-vex".to_owned(),
        other => other.to_owned(),
    };
    let repo = repository(&v.namespace);
    let distro = report.distribution.as_ref().filter(|_| repo.is_none());
    VulnerabilityView {
        Name: v.name.clone(),
        NamespaceName: v.namespace.clone(),
        Description: v.description.clone(),
        Link: v.links.join(" "),
        Severity: v.severity.as_str().to_owned(),
        FixedBy: v.fixed_by.clone().unwrap_or_default(),
        Metadata: VulnerabilityMetadata {
            UpdatedBy: feed,
            RepoName: repo.map(|r| r.0.to_owned()),
            RepoLink: repo.map(|r| r.1.to_owned()),
            DistroName: distro.and_then(|d| d.pretty_name.clone().or_else(|| Some(d.id.clone()))),
            DistroVersion: distro.and_then(|d| d.version_id.clone()),
            NVD: NvdView {
                CVSSv3: v.cvss.as_ref().map(|c| CvssView {
                    Vectors: c.vector.clone(),
                    Score: c.score(),
                }),
            },
            EPSS: v.epss.as_ref().map(|e| EpssView {
                cve: v.cve_ids().next().unwrap_or(&v.name).to_owned(),
                epss: e.epss.parse().unwrap_or(0.0),
                percentile: e.percentile.parse().unwrap_or(0.0),
                date: e.date.clone(),
                model_version: e.model_version.clone(),
            }),
        },
    }
}

fn feature(f: &Feature, report: &Report, with_vulnerabilities: bool) -> FeatureView {
    let vulnerabilities: Vec<VulnerabilityView> = if with_vulnerabilities {
        f.vulnerabilities
            .iter()
            .map(|v| vulnerability(v, report))
            .collect()
    } else {
        Vec::new()
    };
    let mut cves: Vec<String> = f
        .vulnerabilities
        .iter()
        .flat_map(|v| std::iter::once(&v.name).chain(&v.aliases))
        .filter(|id| id.starts_with("CVE-"))
        .cloned()
        .collect();
    cves.sort();
    cves.dedup();
    FeatureView {
        Name: f.package.name.clone(),
        VersionFormat: version_format(&f.package).to_owned(),
        NamespaceName: f
            .vulnerabilities
            .first()
            .map(|v| v.namespace.clone())
            .unwrap_or_default(),
        AddedBy: f.added_by.clone(),
        Version: f.package.version.clone(),
        BaseScores: f
            .vulnerabilities
            .iter()
            .filter_map(|v| v.cvss.as_ref().map(|c| c.score()))
            .collect(),
        CVEIds: cves,
        Vulnerabilities: vulnerabilities,
    }
}

impl SecurityView {
    fn new(r: SecurityReport, with_vulnerabilities: bool) -> SecurityView {
        let data = match (&r.status, &r.report) {
            (SecurityStatus::Scanned, Some(report)) => Some(SecurityData {
                Layer: LayerView {
                    Name: r.manifest_digest.clone(),
                    ParentName: String::new(),
                    NamespaceName: String::new(),
                    IndexedByVersion: 4,
                    Features: report
                        .features
                        .iter()
                        .map(|f| feature(f, report, with_vulnerabilities))
                        .collect(),
                },
            }),
            _ => None,
        };
        SecurityView {
            status: r.status.as_str().to_owned(),
            data,
        }
    }
}

/// The security report of a manifest: its packages and their
/// vulnerabilities once the image is indexed (`status` `scanned`).
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/manifest/{manifestref}/security",
    operation_id = "getRepoManifestSecurity",
    tag = "secscan",
    params(("namespace" = String, Path), ("repository" = String, Path), ("manifestref" = String, Path, description = "The manifest's digest"), SecurityQuery),
    responses((status = 200, description = "The manifest's security report", body = SecurityView), (status = 400, description = "Bad digest"), (status = 403, description = "Not allowed"), (status = 404, description = "No such repository or manifest, or the scanner is off")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn manifest_security(
    api: Api,
    Path((namespace, repository, manifestref)): Path<(String, String, String)>,
    ApiQuery(query): ApiQuery<SecurityQuery>,
) -> Result<Json<SecurityView>, ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    let digest = manifestref
        .parse::<Digest>()
        .map_err(|e| ApiError::invalid(format!("invalid manifest digest {manifestref:?}: {e}")))?;
    let report = api.registry.security_report(&api.caller, &repo, &digest).await?;
    Ok(Json(SecurityView::new(
        report,
        query.vulnerabilities.unwrap_or(true),
    )))
}
