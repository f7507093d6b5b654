//! Pull statistics, as Quay's API shapes them (`FEATURE_IMAGE_PULL_STATS`):
//! `GET /api/v1/repository/{namespace}/{repository}/tag/{tag}/pull_statistics`
//! and `GET .../manifest/{digest}/pull_statistics`. Those who may pull the
//! repository may read them; with the feature off both answer 404.

use axum::Json;
use axum::extract::Path;
use berth_core::registry::{ManifestPullStatistics, TagPullStatistics};
use berth_oci::Digest;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, format_date};
use super::repositories::repo_path;
use super::tags::checked_tag;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tag_pull_statistics))
        .routes(routes!(manifest_pull_statistics))
}

/// A tag's pull statistics (Quay's `TagPullStatistics`).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TagPullStatisticsView {
    /// Tag name.
    tag_name: String,
    /// Pulls by this tag.
    tag_pull_count: i64,
    /// The latest pull by this tag; `null` if never pulled.
    last_tag_pull_date: Option<String>,
    /// The manifest the tag resolved to at its latest pull (if never
    /// pulled, the one it resolves to now, if any).
    current_manifest_digest: Option<String>,
    /// Pulls of that manifest, by any tag or by digest.
    manifest_pull_count: i64,
    /// The latest of them; `null` if never pulled.
    last_manifest_pull_date: Option<String>,
}

impl From<TagPullStatistics> for TagPullStatisticsView {
    fn from(s: TagPullStatistics) -> Self {
        TagPullStatisticsView {
            tag_name: s.tag_name,
            tag_pull_count: s.tag_pull_count,
            last_tag_pull_date: s.last_tag_pull_ms.map(format_date),
            current_manifest_digest: s.current_manifest_digest,
            manifest_pull_count: s.manifest_pull_count,
            last_manifest_pull_date: s.last_manifest_pull_ms.map(format_date),
        }
    }
}

/// A manifest's pull statistics (Quay's `ManifestPullStatistics`).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ManifestPullStatisticsView {
    /// The manifest's digest.
    manifest_digest: String,
    /// Pulls of it, by any tag or by digest.
    manifest_pull_count: i64,
    /// The latest; `null` if never pulled.
    last_manifest_pull_date: Option<String>,
}

impl From<ManifestPullStatistics> for ManifestPullStatisticsView {
    fn from(s: ManifestPullStatistics) -> Self {
        ManifestPullStatisticsView {
            manifest_digest: s.manifest_digest,
            manifest_pull_count: s.manifest_pull_count,
            last_manifest_pull_date: s.last_manifest_pull_ms.map(format_date),
        }
    }
}

/// How often and when a tag, and the manifest it resolved to at its latest
/// pull, were pulled. Pulls are written about once a second.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/tag/{tag}/pull_statistics",
    operation_id = "getTagPullStatistics",
    tag = "tag",
    params(("namespace" = String, Path), ("repository" = String, Path), ("tag" = String, Path)),
    responses((status = 200, description = "The tag's pull statistics", body = TagPullStatisticsView), (status = 400, description = "Bad tag name"), (status = 403, description = "Not allowed"), (status = 404, description = "No such repository or tag, or statistics are off")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn tag_pull_statistics(
    api: Api,
    Path((namespace, repository, tag)): Path<(String, String, String)>,
) -> Result<Json<TagPullStatisticsView>, ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    let tag = checked_tag(&tag)?;
    let stats = api.registry.tag_pull_statistics(&api.caller, &repo, &tag).await?;
    Ok(Json(stats.into()))
}

/// How often and when a manifest was pulled, by any tag or by digest.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/manifest/{manifestref}/pull_statistics",
    operation_id = "getManifestPullStatistics",
    tag = "manifest",
    params(("namespace" = String, Path), ("repository" = String, Path), ("manifestref" = String, Path, description = "The manifest's digest")),
    responses((status = 200, description = "The manifest's pull statistics", body = ManifestPullStatisticsView), (status = 400, description = "Bad digest"), (status = 403, description = "Not allowed"), (status = 404, description = "No such repository or manifest, or statistics are off")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn manifest_pull_statistics(
    api: Api,
    Path((namespace, repository, manifestref)): Path<(String, String, String)>,
) -> Result<Json<ManifestPullStatisticsView>, ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    let digest = manifestref
        .parse::<Digest>()
        .map_err(|e| ApiError::invalid(format!("invalid manifest digest {manifestref:?}: {e}")))?;
    let stats = api
        .registry
        .manifest_pull_statistics(&api.caller, &repo, &digest)
        .await?;
    Ok(Json(stats.into()))
}
