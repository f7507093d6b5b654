//! Namespace quotas (Quay's `namespacequota.py`):
//! `/api/v1/organization/{orgname}/quota[/{quota_id}[/limit[/{limit_id}]]]`
//! (members read, superusers with full access change), `/api/v1/user/quota…`
//! (read only) and, in [`superuser`], `/api/v1/superuser/{users,
//! organization}/{namespace}/quota…`. Every change is written to the usage
//! log with Quay's `org_*_quota*` kinds.

mod superuser;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::Namespace;
use berth_core::registry::{QuotaLimit, QuotaOwner, QuotaStatus, format_size, parse_size};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, Done, JsonBody};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_organization_quota, create_organization_quota))
        .routes(routes!(
            get_organization_quota,
            change_organization_quota,
            delete_organization_quota
        ))
        .routes(routes!(
            list_organization_quota_limit,
            create_organization_quota_limit
        ))
        .routes(routes!(
            get_organization_quota_limit,
            change_organization_quota_limit,
            delete_organization_quota_limit
        ))
        .routes(routes!(list_user_quota))
        .routes(routes!(get_user_quota))
        .routes(routes!(list_user_quota_limit))
        .routes(routes!(get_user_quota_limit))
        .merge(superuser::routes())
}

/// A quota's size: `limit_bytes` or a size string such as `10 GiB`, not
/// both (Quay's `NewOrgQuota` / `UpdateOrgQuota`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct QuotaSize {
    /// Bytes the namespace may use.
    limit_bytes: Option<i64>,
    /// The same as a number and a unit: `B`, `KiB`…`EiB` (`Ki`…), or
    /// `KB`…`EB` (`K`…, powers of 1000).
    limit: Option<String>,
}

impl QuotaSize {
    /// The bytes asked for, if any.
    fn bytes(&self) -> Result<Option<i64>, ApiError> {
        match (self.limit_bytes, &self.limit) {
            (Some(_), Some(_)) => Err(ApiError::invalid("give limit_bytes or limit, not both")),
            (Some(bytes), None) => Ok(Some(bytes)),
            (None, Some(text)) => parse_size(text).map(Some).map_err(ApiError::invalid),
            (None, None) => Ok(None),
        }
    }

    /// The bytes asked for; one of the two fields is required.
    fn required_bytes(&self) -> Result<i64, ApiError> {
        self.bytes()?
            .ok_or_else(|| ApiError::invalid("limit_bytes or limit is required"))
    }
}

/// A quota threshold (Quay's `NewOrgQuotaLimit` / `UpdateOrgQuotaLimit`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitBody {
    /// `Warning` or `Reject`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Percent of the quota at which it applies, 1 to 100.
    threshold_percent: Option<i64>,
}

/// A numeric id from the path; anything else names nothing.
fn id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no quota or limit {text:?}")))
}

/// The organization a path names; an invalid name names nothing.
fn organization(orgname: &str) -> Result<QuotaOwner, ApiError> {
    Namespace::new(orgname)
        .map(QuotaOwner::Organization)
        .map_err(|_| ApiError::not_found(format!("organization {orgname} not found")))
}

/// Quay's view of a quota threshold.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QuotaLimitView {
    /// Id.
    id: i64,
    /// `Warning` or `Reject`.
    #[serde(rename = "type")]
    kind: String,
    /// Percent of the quota at which it applies.
    limit_percent: i32,
}

impl From<QuotaLimit> for QuotaLimitView {
    fn from(l: QuotaLimit) -> Self {
        QuotaLimitView {
            id: l.id,
            kind: l.kind.as_str().to_owned(),
            limit_percent: l.threshold_percent,
        }
    }
}

/// What a namespace uses against its quota (Quay's `quota_report`; usage
/// is computed when asked, so no backfill is ever pending).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QuotaReportView {
    /// Bytes the namespace uses.
    quota_bytes: u64,
    /// Bytes it may use.
    configured_quota: i64,
    /// Always `complete`.
    running_backfill: String,
    /// Always `complete`.
    backfill_status: String,
}

/// Quay's QuotaView, with the namespace's usage.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QuotaView {
    /// Id; `null` for the system default.
    id: Option<i64>,
    /// Bytes the namespace may use.
    limit_bytes: i64,
    /// The same, human-readable (`10.0 GiB`).
    limit: String,
    /// Whether this is the system default.
    default_config: bool,
    /// Thresholds, lowest first.
    limits: Vec<QuotaLimitView>,
    /// Whether a system default is configured.
    default_config_exists: bool,
    /// Usage.
    quota_report: QuotaReportView,
}

impl From<QuotaStatus> for QuotaView {
    fn from(q: QuotaStatus) -> Self {
        QuotaView {
            id: q.id,
            limit_bytes: q.limit_bytes,
            limit: format_size(q.limit_bytes),
            default_config: q.default_config,
            limits: q.limits.into_iter().map(QuotaLimitView::from).collect(),
            default_config_exists: q.default_config_exists,
            quota_report: QuotaReportView {
                quota_bytes: q.usage_bytes,
                configured_quota: q.limit_bytes,
                running_backfill: "complete".into(),
                backfill_status: "complete".into(),
            },
        }
    }
}

/// `owner`'s quota as a list (for organizations, the system default if
/// it has none).
async fn quota_list(api: &Api, owner: &QuotaOwner) -> Result<Json<Vec<QuotaView>>, ApiError> {
    let quotas = api.registry.quotas(&api.caller, owner).await?;
    Ok(Json(quotas.into_iter().map(QuotaView::from).collect()))
}

/// Create `owner`'s quota.
async fn create_quota(
    api: &Api,
    owner: &QuotaOwner,
    body: &QuotaSize,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let bytes = body.required_bytes()?;
    api.registry.create_quota(&api.caller, owner, bytes).await?;
    Ok((StatusCode::CREATED, Json(Done::Created)))
}

/// Change `owner`'s quota (an empty body changes nothing).
async fn change_quota(
    api: &Api,
    owner: &QuotaOwner,
    quota_id: &str,
    body: &QuotaSize,
) -> Result<Json<QuotaView>, ApiError> {
    let quota_id = id(quota_id)?;
    let bytes = body.bytes()?;
    let quota = api
        .registry
        .change_quota(&api.caller, owner, quota_id, bytes)
        .await?;
    Ok(Json(quota.into()))
}

/// Delete `owner`'s quota.
async fn delete_quota(api: &Api, owner: &QuotaOwner, quota_id: &str) -> Result<StatusCode, ApiError> {
    let quota_id = id(quota_id)?;
    api.registry.delete_quota(&api.caller, owner, quota_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The thresholds of quota `quota_id` of `owner`.
async fn limit_list(
    api: &Api,
    owner: &QuotaOwner,
    quota_id: &str,
) -> Result<Json<Vec<QuotaLimitView>>, ApiError> {
    let quota = api.registry.quota(&api.caller, owner, id(quota_id)?).await?;
    Ok(Json(quota.limits.into_iter().map(QuotaLimitView::from).collect()))
}

/// One threshold of quota `quota_id` of `owner`.
async fn limit(
    api: &Api,
    owner: &QuotaOwner,
    quota_id: &str,
    limit_id: &str,
) -> Result<Json<QuotaLimitView>, ApiError> {
    let limit = api
        .registry
        .quota_limit(&api.caller, owner, id(quota_id)?, id(limit_id)?)
        .await?;
    Ok(Json(limit.into()))
}

/// The organization's quota, or the system default if it has none.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/quota",
    operation_id = "listOrganizationQuota",
    tag = "namespacequota",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "A list of QuotaView", body = Vec<QuotaView>), (status = 403, description = "Not a member"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn list_organization_quota(
    api: Api,
    Path(orgname): Path<String>,
) -> Result<Json<Vec<QuotaView>>, ApiError> {
    quota_list(&api, &organization(&orgname)?).await
}

/// Give the organization its quota (one per namespace).
#[utoipa::path(
    post,
    path = "/organization/{orgname}/quota",
    operation_id = "createOrganizationQuota",
    tag = "namespacequota",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = QuotaSize,
    responses((status = 201, description = "Created", body = Done), (status = 400, description = "Invalid, or a quota exists"), (status = 403, description = "Not a superuser with full access")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn create_organization_quota(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<QuotaSize>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    create_quota(&api, &organization(&orgname)?, &body).await
}

/// One quota of the organization.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/quota/{quota_id}",
    operation_id = "getOrganizationQuota",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path)),
    responses((status = 200, description = "A QuotaView", body = QuotaView), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn get_organization_quota(
    api: Api,
    Path((orgname, quota_id)): Path<(String, String)>,
) -> Result<Json<QuotaView>, ApiError> {
    let owner = organization(&orgname)?;
    let quota = api.registry.quota(&api.caller, &owner, id(&quota_id)?).await?;
    Ok(Json(quota.into()))
}

/// Change the quota's size.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/quota/{quota_id}",
    operation_id = "changeOrganizationQuota",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path)),
    request_body = QuotaSize,
    responses((status = 200, description = "The QuotaView", body = QuotaView), (status = 400, description = "Invalid"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn change_organization_quota(
    api: Api,
    Path((orgname, quota_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<QuotaSize>,
) -> Result<Json<QuotaView>, ApiError> {
    change_quota(&api, &organization(&orgname)?, &quota_id, &body).await
}

/// Delete the quota and its limits.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/quota/{quota_id}",
    operation_id = "deleteOrganizationQuota",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn delete_organization_quota(
    api: Api,
    Path((orgname, quota_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    delete_quota(&api, &organization(&orgname)?, &quota_id).await
}

/// The quota's thresholds.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/quota/{quota_id}/limit",
    operation_id = "listOrganizationQuotaLimit",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path)),
    responses((status = 200, description = "A list of limits", body = Vec<QuotaLimitView>), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn list_organization_quota_limit(
    api: Api,
    Path((orgname, quota_id)): Path<(String, String)>,
) -> Result<Json<Vec<QuotaLimitView>>, ApiError> {
    limit_list(&api, &organization(&orgname)?, &quota_id).await
}

/// Add a `Warning` or `Reject` threshold.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/quota/{quota_id}/limit",
    operation_id = "createOrganizationQuotaLimit",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path)),
    request_body = LimitBody,
    responses((status = 201, description = "Created", body = Done), (status = 400, description = "Invalid, or the limit exists"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn create_organization_quota_limit(
    api: Api,
    Path((orgname, quota_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<LimitBody>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let owner = organization(&orgname)?;
    let (Some(kind), Some(percent)) = (body.kind.as_deref(), body.threshold_percent) else {
        return Err(ApiError::invalid("type and threshold_percent are required"));
    };
    api.registry
        .create_quota_limit(&api.caller, &owner, id(&quota_id)?, kind, percent)
        .await?;
    Ok((StatusCode::CREATED, Json(Done::Created)))
}

/// One threshold.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
    operation_id = "getOrganizationQuotaLimit",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path), ("limit_id" = String, Path)),
    responses((status = 200, description = "The limit", body = QuotaLimitView), (status = 404, description = "No such limit")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn get_organization_quota_limit(
    api: Api,
    Path((orgname, quota_id, limit_id)): Path<(String, String, String)>,
) -> Result<Json<QuotaLimitView>, ApiError> {
    limit(&api, &organization(&orgname)?, &quota_id, &limit_id).await
}

/// Change a threshold's type or percent.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
    operation_id = "changeOrganizationQuotaLimit",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path), ("limit_id" = String, Path)),
    request_body = LimitBody,
    responses((status = 200, description = "The quota's QuotaView", body = QuotaView), (status = 400, description = "Invalid, or a duplicate"), (status = 404, description = "No such limit")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn change_organization_quota_limit(
    api: Api,
    Path((orgname, quota_id, limit_id)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<LimitBody>,
) -> Result<Json<QuotaView>, ApiError> {
    let owner = organization(&orgname)?;
    let quota = api
        .registry
        .change_quota_limit(
            &api.caller,
            &owner,
            (id(&quota_id)?, id(&limit_id)?),
            body.kind.as_deref(),
            body.threshold_percent,
        )
        .await?;
    Ok(Json(quota.into()))
}

/// Delete a threshold.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
    operation_id = "deleteOrganizationQuotaLimit",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path), ("limit_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such limit")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn delete_organization_quota_limit(
    api: Api,
    Path((orgname, quota_id, limit_id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let owner = organization(&orgname)?;
    api.registry
        .delete_quota_limit(&api.caller, &owner, id(&quota_id)?, id(&limit_id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The calling user's quota.
#[utoipa::path(
    get,
    path = "/user/quota",
    operation_id = "listUserQuota",
    tag = "namespacequota",
    responses((status = 200, description = "A list of QuotaView", body = Vec<QuotaView>), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_user_quota(api: Api) -> Result<Json<Vec<QuotaView>>, ApiError> {
    quota_list(&api, &QuotaOwner::CallingUser).await
}

/// One quota of the calling user.
#[utoipa::path(
    get,
    path = "/user/quota/{quota_id}",
    operation_id = "getUserQuota",
    tag = "namespacequota",
    params(("quota_id" = String, Path)),
    responses((status = 200, description = "A QuotaView", body = QuotaView), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_quota(api: Api, Path(quota_id): Path<String>) -> Result<Json<QuotaView>, ApiError> {
    let quota = api
        .registry
        .quota(&api.caller, &QuotaOwner::CallingUser, id(&quota_id)?)
        .await?;
    Ok(Json(quota.into()))
}

/// The thresholds of the calling user's quota.
#[utoipa::path(
    get,
    path = "/user/quota/{quota_id}/limit",
    operation_id = "listUserQuotaLimit",
    tag = "namespacequota",
    params(("quota_id" = String, Path)),
    responses((status = 200, description = "A list of limits", body = Vec<QuotaLimitView>), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_user_quota_limit(
    api: Api,
    Path(quota_id): Path<String>,
) -> Result<Json<Vec<QuotaLimitView>>, ApiError> {
    limit_list(&api, &QuotaOwner::CallingUser, &quota_id).await
}

/// One threshold of the calling user's quota.
#[utoipa::path(
    get,
    path = "/user/quota/{quota_id}/limit/{limit_id}",
    operation_id = "getUserQuotaLimit",
    tag = "namespacequota",
    params(("quota_id" = String, Path), ("limit_id" = String, Path)),
    responses((status = 200, description = "The limit", body = QuotaLimitView), (status = 404, description = "No such limit")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_quota_limit(
    api: Api,
    Path((quota_id, limit_id)): Path<(String, String)>,
) -> Result<Json<QuotaLimitView>, ApiError> {
    limit(&api, &QuotaOwner::CallingUser, &quota_id, &limit_id).await
}
