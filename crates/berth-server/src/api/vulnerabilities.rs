//! Reports read across images: the per-severity summary each tag in a
//! listing carries (`security_summary`), and, beyond Quay,
//! `GET /api/v1/vulnerability/{id}/manifests`: the repositories, tags and
//! manifests a vulnerability affects (under its id or any alias), among
//! the repositories the caller may pull; and
//! `POST /api/v1/vulnerability/match`, the report of an image indexed
//! elsewhere (`berth scan vulns --registry`).

#![allow(non_snake_case)]

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use berth_core::registry::{AffectedManifests, SecuritySummary};
use berth_core::vulns::{Distribution, Inventory, InventoryEntry, Report, Severity};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(vulnerability_manifests))
        .routes(routes!(match_packages))
}

/// Findings per severity on Clair's scale.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(super) struct SeverityCounts {
    /// Critical findings.
    Critical: usize,
    /// High.
    High: usize,
    /// Medium.
    Medium: usize,
    /// Low.
    Low: usize,
    /// Negligible.
    Negligible: usize,
    /// Severity unknown.
    Unknown: usize,
}

/// Where a tag's manifest report stands, with its findings per severity.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SecuritySummaryView {
    /// `queued`, `scanned`, `failed` or `unsupported` (as the manifest's
    /// security report).
    status: String,
    /// Findings per severity (all zero unless `scanned`).
    vulnerabilities: SeverityCounts,
}

impl From<&SecuritySummary> for SecuritySummaryView {
    fn from(s: &SecuritySummary) -> Self {
        let n = |sev| s.counts.get(&sev).copied().unwrap_or(0);
        SecuritySummaryView {
            status: s.status.as_str().to_owned(),
            vulnerabilities: SeverityCounts {
                Critical: n(Severity::Critical),
                High: n(Severity::High),
                Medium: n(Severity::Medium),
                Low: n(Severity::Low),
                Negligible: n(Severity::Negligible),
                Unknown: n(Severity::Unknown),
            },
        }
    }
}

/// The summary of `digest` among `summaries`, for a view.
pub(super) fn summary_of(
    summaries: &BTreeMap<String, SecuritySummary>,
    digest: &str,
) -> Option<SecuritySummaryView> {
    summaries.get(digest).map(SecuritySummaryView::from)
}

/// A manifest the vulnerability affects.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AffectedManifestView {
    /// The repository (`namespace/name`).
    repository: String,
    /// Its namespace.
    namespace: String,
    /// Its name within the namespace.
    name: String,
    /// The manifest's digest.
    manifest_digest: String,
    /// The repository's tags that resolve to it now (empty if untagged).
    tags: Vec<String>,
}

/// What a vulnerability affects.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AffectedManifestsView {
    /// The id asked for.
    vulnerability: String,
    /// Every name it was looked up by: the id and its records' aliases.
    ids: Vec<String>,
    /// The affected manifests the caller may see, by repository and digest.
    manifests: Vec<AffectedManifestView>,
}

impl AffectedManifestsView {
    fn new(id: String, a: AffectedManifests) -> Self {
        AffectedManifestsView {
            vulnerability: id,
            ids: a.ids,
            manifests: a
                .manifests
                .into_iter()
                .map(|m| {
                    let (namespace, name) = match m.repository.split_once('/') {
                        Some((ns, n)) => (ns.to_owned(), n.to_owned()),
                        None => ("library".to_owned(), m.repository.clone()),
                    };
                    AffectedManifestView {
                        namespace,
                        name,
                        repository: m.repository,
                        manifest_digest: m.manifest_digest,
                        tags: m.tags,
                    }
                })
                .collect(),
        }
    }
}

/// The repositories, tags and manifests a vulnerability affects, found
/// under its id or any alias its records give (a CVE id finds an image
/// whose finding is named by a GHSA record, and back), among the
/// repositories the caller may pull.
#[utoipa::path(
    get,
    path = "/vulnerability/{id}/manifests",
    operation_id = "getVulnerabilityManifests",
    tag = "secscan",
    params(("id" = String, Path, description = "A vulnerability id or alias (CVE-2024-2961, GHSA-..., PYSEC-...)")),
    responses((status = 200, description = "The manifests it affects", body = AffectedManifestsView), (status = 400, description = "Not a vulnerability id"), (status = 404, description = "The scanner is off")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn vulnerability_manifests(
    api: Api,
    Path(id): Path<String>,
) -> Result<Json<AffectedManifestsView>, ApiError> {
    let affected = api.registry.vulnerability_manifests(&api.caller, &id).await?;
    Ok(Json(AffectedManifestsView::new(id, affected)))
}

/// An image's packages, as `berth scan index --format json` lists them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MatchRequest {
    /// The distribution (`id`, `version_id`, `version_codename`, ...), if any.
    #[schema(value_type = Option<Object>)]
    distribution: Option<Distribution>,
    /// The packages (`ecosystem`, `name`, `version`, `source`, `path`, `layer`).
    #[schema(value_type = Vec<Object>)]
    packages: Vec<InventoryEntry>,
}

/// The image's packages with their vulnerabilities.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MatchView {
    /// The distribution, as given.
    #[schema(value_type = Option<Object>)]
    distribution: Option<Distribution>,
    /// Every package with its vulnerabilities (`vulnerabilities[]`: `name`,
    /// `aliases`, `namespace`, `severity`, `fixed_by`, `links`, ...).
    #[schema(value_type = Vec<Object>)]
    features: Vec<berth_core::vulns::Feature>,
}

/// Match an image's packages (indexed elsewhere) against this registry's
/// vulnerability records; nothing is stored.
#[utoipa::path(
    post,
    path = "/vulnerability/match",
    operation_id = "matchVulnerabilities",
    tag = "secscan",
    request_body = MatchRequest,
    responses((status = 200, description = "The packages with their vulnerabilities", body = MatchView), (status = 400, description = "Not an inventory"), (status = 404, description = "The scanner is off")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn match_packages(
    api: Api,
    JsonBody(request): JsonBody<MatchRequest>,
) -> Result<Json<MatchView>, ApiError> {
    let inventory = Inventory {
        distribution: request.distribution,
        packages: request.packages,
        layers: Vec::new(),
        warnings: Vec::new(),
    };
    let Report {
        distribution,
        features,
    } = api.registry.match_packages(&api.caller, &inventory).await?;
    Ok(Json(MatchView {
        distribution,
        features,
    }))
}
