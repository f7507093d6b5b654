//! Tags of a repository, as Quay's API shapes them: `GET
//! /api/v1/repository/{namespace}/{repository}/tag/` (history, filtered and
//! paged), `PUT .../tag/{tag}` (create or move a tag, plan its expiry),
//! `DELETE .../tag/{tag}` and `POST .../tag/{tag}/restore` (the time
//! machine). Deleting or moving a tag ends its row; its history stays.
//! An immutable tag refuses moves, deletes and expirations with 409
//! `tag_immutable`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::TagName;
use berth_core::registry::{TagChange, TagFilter, TagQuery, TagRecord};
use berth_oci::Digest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiErrorBody};
use super::extract::{Api, ApiQuery, Done, JsonBody, format_date, present, truthy};
use super::repositories::repo_path;
use super::vulnerabilities::{SecuritySummaryView, summary_of};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_repo_tags))
        .routes(routes!(change_tag, delete_full_tag))
        .routes(routes!(restore_tag))
}

/// A tag history row as Quay shows it (`_tag_dict`).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TagView {
    /// Tag name.
    name: String,
    /// Whether a restore created the row.
    reversion: bool,
    /// The manifest it points (or pointed) to.
    manifest_digest: String,
    /// Whether that manifest is an index or manifest list.
    is_manifest_list: bool,
    /// The manifest's size plus the blobs it references directly.
    size: i64,
    /// When the row started, in seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    start_ts: Option<i64>,
    /// When the row started.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    /// When it ended, or will (or did) expire, in seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    end_ts: Option<i64>,
    /// The same as a date.
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
    /// Whether the tag is immutable (set on it, by the `quay.immutable`
    /// label, or by an immutability policy).
    immutable: bool,
    /// Pulls by this tag name (every row of the tag shows them; 0 with
    /// pull statistics off).
    pull_count: i64,
    /// The latest pull by this tag name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_pulled: Option<String>,
    /// The manifest's vulnerabilities per severity, while the scanner is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    security_summary: Option<SecuritySummaryView>,
    /// For an index: whether some of its children are absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    is_sparse: Option<bool>,
    /// For an index: how many children it lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    child_manifest_count: Option<usize>,
    /// For an index: how many of them are stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    present_child_count: Option<usize>,
    /// For an index: each child's digest and whether it is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    child_manifests_presence: Option<BTreeMap<String, bool>>,
}

impl From<TagRecord> for TagView {
    fn from(t: TagRecord) -> Self {
        let started = (t.start_ms > 0).then_some(t.start_ms);
        let index = t.is_manifest_list;
        let present = t.children.iter().filter(|(_, p)| *p).count();
        let count = t.children.len();
        TagView {
            is_sparse: index.then_some(present < count),
            child_manifest_count: index.then_some(count),
            present_child_count: index.then_some(present),
            child_manifests_presence: index.then(|| t.children.iter().cloned().collect()),
            start_ts: started.map(|ms| ms / 1000),
            last_modified: started.map(format_date),
            end_ts: t.end_ms.map(|ms| ms / 1000),
            expiration: t.end_ms.map(format_date),
            name: t.name,
            reversion: t.reversion,
            manifest_digest: t.manifest_digest,
            is_manifest_list: t.is_manifest_list,
            size: t.size,
            immutable: t.immutable,
            pull_count: t.pulls.count,
            last_pulled: t.pulls.last_ms.map(format_date),
            security_summary: None,
        }
    }
}

/// A page of a repository's tag history.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TagListView {
    /// The rows, newest first.
    tags: Vec<TagView>,
    /// The page, from 1.
    page: u32,
    /// Whether a next page has rows.
    has_additional: bool,
}

/// A tag name from the path, or 400.
pub(super) fn checked_tag(tag: &str) -> Result<TagName, ApiError> {
    TagName::new(tag).map_err(|_| {
        ApiError::invalid(
            "Invalid tag: must match [A-Za-z0-9_.-], NOT start with \".\" or \"-\", and can contain 1-128 characters",
        )
    })
}

/// A manifest digest from a request body, or 400.
fn checked_digest(digest: &str) -> Result<Digest, ApiError> {
    digest
        .parse::<Digest>()
        .map_err(|e| ApiError::invalid(format!("invalid manifest_digest {digest:?}: {e}")))
}

/// Query of the tag listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct TagListQuery {
    /// Only rows of this tag.
    #[serde(rename = "specificTag")]
    specific_tag: Option<String>,
    /// `like:<text>` (names containing it) or `eq:<name>`.
    filter_tag_name: Option<String>,
    /// Rows per page, 1 to 100 (default 50).
    limit: Option<i64>,
    /// Page, from 1.
    page: Option<i64>,
    /// Only tags that resolve now (no history).
    #[serde(rename = "onlyActiveTags", default, deserialize_with = "truthy")]
    #[param(value_type = Option<bool>)]
    only_active_tags: Option<bool>,
}

/// A repository's tags: live ones and their history (deleted, moved-away
/// and expired rows), newest first.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/tag/",
    operation_id = "listRepoTags",
    tag = "tag",
    params(("namespace" = String, Path), ("repository" = String, Path), TagListQuery),
    responses((status = 200, description = "A page of tag history", body = TagListView), (status = 400, description = "Bad filter"), (status = 403, description = "Not allowed"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn list_repo_tags(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<TagListQuery>,
) -> Result<Json<TagListView>, ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    let filter = match query.filter_tag_name.as_deref() {
        None => None,
        Some(f) => Some(if let Some(text) = f.strip_prefix("like:") {
            TagFilter::Contains(text.to_owned())
        } else if let Some(name) = f.strip_prefix("eq:") {
            TagFilter::Exact(name.to_owned())
        } else {
            return Err(ApiError::invalid(
                "Invalid filter_tag_name: use like:<text> or eq:<name>",
            ));
        }),
    };
    let page = query.page.unwrap_or(1).clamp(1, i64::from(u32::MAX)) as u32;
    let limit = query.limit.unwrap_or(50).clamp(1, 100) as u32;
    let history = api
        .registry
        .tag_history(
            &api.caller,
            &repo,
            &TagQuery {
                specific: query.specific_tag,
                filter,
                only_active: query.only_active_tags.unwrap_or(false),
                page,
                limit,
            },
        )
        .await?;
    let digests: Vec<String> = history.tags.iter().map(|t| t.manifest_digest.clone()).collect();
    let summaries = api
        .registry
        .security_summaries(&api.caller, &repo, &digests)
        .await?;
    Ok(Json(TagListView {
        tags: history
            .tags
            .into_iter()
            .map(|t| {
                let summary = summary_of(&summaries, &t.manifest_digest);
                TagView {
                    security_summary: summary,
                    ..TagView::from(t)
                }
            })
            .collect(),
        page,
        has_additional: history.has_additional,
    }))
}

/// A change to a tag (Quay's `ChangeTag`); every field is optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeTag {
    /// Point the tag at this manifest of the repository (creating or
    /// moving it).
    manifest_digest: Option<String>,
    /// When the tag expires, in seconds since the epoch (must be in the
    /// future); `null` cancels a planned expiry.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    expiration: Option<Option<f64>>,
    /// Legacy image ids are not supported.
    image: Option<String>,
    /// Make the tag immutable (writers may) or release it (administrators
    /// may).
    immutable: Option<bool>,
}

/// Create or move a tag, make it immutable (or release it), or plan its
/// expiry.
///
/// A move is done first, then the immutability change, then the
/// expiration, so each applies to the tag as the earlier ones leave it.
#[utoipa::path(
    put,
    path = "/repository/{namespace}/{repository}/tag/{tag}",
    operation_id = "changeTag",
    tag = "tag",
    params(("namespace" = String, Path), ("repository" = String, Path), ("tag" = String, Path)),
    request_body = ChangeTag,
    responses((status = 201, description = "Updated", body = Done), (status = 400, description = "Bad tag name or expiration"), (status = 403, description = "Not allowed (releasing an immutable tag takes an administrator)"), (status = 404, description = "No such tag or manifest"), (status = 409, description = "The tag is immutable: it cannot be moved or set to expire", body = ApiErrorBody)),
    security(("basic" = []), ("oauth2_bearer" = ["repo:write"]))
)]
async fn change_tag(
    api: Api,
    Path((namespace, repository, tag)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<ChangeTag>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    let tag = checked_tag(&tag)?;
    if body.image.is_some() && body.manifest_digest.is_none() {
        return Err(ApiError::invalid(
            "legacy image ids are not supported: use manifest_digest",
        ));
    }
    // Checked before anything changes.
    let expiration_ms = match body.expiration {
        None => None,
        Some(None) => Some(None),
        Some(Some(seconds)) => {
            let ms = seconds * 1000.0;
            if !ms.is_finite() || ms > i64::MAX as f64 || ms <= berth_core::now_ms() as f64 {
                return Err(ApiError::invalid("expiration must be a time in the future"));
            }
            Some(Some(ms as i64))
        }
    };
    let change = TagChange {
        manifest_digest: body.manifest_digest.as_deref().map(checked_digest).transpose()?,
        expiration_ms,
        immutable: body.immutable,
    };
    api.registry.change_tag(&api.caller, &repo, &tag, &change).await?;
    Ok((StatusCode::CREATED, Json(Done::Updated)))
}

/// Delete a tag: it stops resolving and stays restorable for the
/// namespace's time-machine window.
#[utoipa::path(
    delete,
    path = "/repository/{namespace}/{repository}/tag/{tag}",
    operation_id = "deleteFullTag",
    tag = "tag",
    params(("namespace" = String, Path), ("repository" = String, Path), ("tag" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not allowed"), (status = 404, description = "No such tag"), (status = 409, description = "The tag is immutable", body = ApiErrorBody)),
    security(("basic" = []), ("oauth2_bearer" = ["repo:write"]))
)]
async fn delete_full_tag(
    api: Api,
    Path((namespace, repository, tag)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    let tag = checked_tag(&tag)?;
    api.registry.delete_tag(&api.caller, &repo, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which manifest to restore a tag to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RestoreTag {
    /// A manifest the tag pointed at within the time-machine window.
    manifest_digest: Option<String>,
}

/// The answer to a restore: `{}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RestoredView {}

/// Point a tag back at a manifest it pointed at within the namespace's
/// time-machine window (after a delete, move or expiry).
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/tag/{tag}/restore",
    operation_id = "restoreTag",
    tag = "tag",
    params(("namespace" = String, Path), ("repository" = String, Path), ("tag" = String, Path)),
    request_body = RestoreTag,
    responses((status = 200, description = "Restored", body = RestoredView), (status = 400, description = "Missing or bad manifest_digest"), (status = 403, description = "Not allowed"), (status = 404, description = "Nothing to restore: outside the window, or collected"), (status = 409, description = "The tag is immutable", body = ApiErrorBody)),
    security(("basic" = []), ("oauth2_bearer" = ["repo:write"]))
)]
async fn restore_tag(
    api: Api,
    Path((namespace, repository, tag)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<RestoreTag>,
) -> Result<Json<RestoredView>, ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    let tag = checked_tag(&tag)?;
    let digest = body
        .manifest_digest
        .as_deref()
        .ok_or_else(|| ApiError::invalid("Missing manifest_digest"))?;
    let digest = checked_digest(digest)?;
    api.registry
        .restore_tag(&api.caller, &repo, &tag, &digest)
        .await?;
    Ok(Json(RestoredView {}))
}
