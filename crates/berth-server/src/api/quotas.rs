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
use berth_core::identity::{Action, Actor};
use berth_core::registry::{Quota, QuotaLimit, format_size, parse_size};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody};
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

/// 404 when `FEATURE_QUOTA_MANAGEMENT` is off, as Quay does not register
/// these endpoints then.
fn enabled(api: &Api) -> Result<(), ApiError> {
    if api.registry.config().quota.enabled {
        Ok(())
    } else {
        Err(ApiError::not_found("no such API endpoint"))
    }
}

/// A numeric id from the path; anything else names nothing.
fn id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no quota or limit {text:?}")))
}

/// Quay's limit view.
fn limit_view(limit: &QuotaLimit) -> Value {
    json!({ "id": limit.id, "type": limit.kind.as_str(), "limit_percent": limit.threshold_percent })
}

/// What a namespace uses against its quota (Quay's `quota_report`; usage is
/// computed when asked, so no backfill is ever pending).
async fn report(api: &Api, ns: &str, configured: i64) -> Result<Value, ApiError> {
    Ok(json!({
        "quota_bytes": api.registry.namespace_usage(ns).await?,
        "configured_quota": configured,
        "running_backfill": "complete",
        "backfill_status": "complete",
    }))
}

/// Quay's QuotaView, with the namespace's usage.
async fn quota_view(api: &Api, ns: &str, quota: &Quota) -> Result<Value, ApiError> {
    Ok(json!({
        "id": quota.id,
        "limit_bytes": quota.limit_bytes,
        "limit": format_size(quota.limit_bytes),
        "default_config": false,
        "limits": quota.limits.iter().map(limit_view).collect::<Vec<_>>(),
        "default_config_exists": api.registry.config().quota.default_reject_bytes > 0,
        "quota_report": report(api, ns, quota.limit_bytes).await?,
    }))
}

/// The namespace's quota as a list; without one, the system default
/// (`default_config: true`) when `with_default` and one is configured.
async fn quota_list(api: &Api, ns: &str, with_default: bool) -> Result<Json<Value>, ApiError> {
    if let Some(quota) = api.registry.quota(ns).await? {
        return Ok(Json(json!([quota_view(api, ns, &quota).await?])));
    }
    let default = api.registry.config().quota.default_reject_bytes;
    if !with_default || default == 0 {
        return Ok(Json(json!([])));
    }
    let default = i64::try_from(default).unwrap_or(i64::MAX);
    Ok(Json(json!([{
        "id": null,
        "limit_bytes": default,
        "limit": format_size(default),
        "default_config": true,
        "limits": [],
        "default_config_exists": true,
        "quota_report": report(api, ns, default).await?,
    }])))
}

/// Create `ns`'s quota and log it.
async fn create_quota(api: &Api, ns: &str, body: &QuotaSize) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = body.required_bytes()?;
    let quota_id = api.registry.create_quota(ns, bytes).await?;
    api.log(
        api.event("org_create_quota")
            .namespace(ns)
            .metadata(json!({ "quota_id": quota_id, "limit_bytes": bytes })),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!("Created"))))
}

/// Change `ns`'s quota (an empty body changes nothing) and log it.
async fn change_quota(
    api: &Api,
    ns: &str,
    quota_id: &str,
    body: &QuotaSize,
) -> Result<Json<Value>, ApiError> {
    let quota_id = id(quota_id)?;
    let quota = match body.bytes()? {
        None => api.registry.quota_by_id(ns, quota_id).await?,
        Some(bytes) => {
            let quota = api.registry.change_quota(ns, quota_id, bytes).await?;
            api.log(
                api.event("org_change_quota")
                    .namespace(ns)
                    .metadata(json!({ "quota_id": quota_id, "limit_bytes": bytes })),
            )
            .await?;
            quota
        }
    };
    Ok(Json(quota_view(api, ns, &quota).await?))
}

/// Delete `ns`'s quota and log it.
async fn delete_quota(api: &Api, ns: &str, quota_id: &str) -> Result<StatusCode, ApiError> {
    let quota_id = id(quota_id)?;
    api.registry.delete_quota(ns, quota_id).await?;
    api.log(
        api.event("org_delete_quota")
            .namespace(ns)
            .metadata(json!({ "quota_id": quota_id })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One limit of quota `quota_id` of `ns`, or 404.
async fn find_limit(api: &Api, ns: &str, quota_id: &str, limit_id: &str) -> Result<QuotaLimit, ApiError> {
    let limit_id = id(limit_id)?;
    api.registry
        .quota_by_id(ns, id(quota_id)?)
        .await?
        .limits
        .into_iter()
        .find(|l| l.id == limit_id)
        .ok_or_else(|| ApiError::not_found(format!("no quota limit {limit_id}")))
}

/// Members (and superusers) may read an organization's quota.
async fn authorize_read(api: &Api, orgname: &str) -> Result<(), ApiError> {
    enabled(api)?;
    api.authorize(Action::ViewNamespace(orgname)).await
}

/// Only superusers with full access may change it (Quay's
/// `allow_if_superuser_with_full_access`).
async fn authorize_change(api: &Api) -> Result<(), ApiError> {
    enabled(api)?;
    api.authorize(Action::SuperUserFullAccess).await
}

/// The organization's quota, or the system default if it has none.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/quota",
    operation_id = "listOrganizationQuota",
    tag = "namespacequota",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "A list of QuotaView"), (status = 403, description = "Not a member"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn list_organization_quota(api: Api, Path(orgname): Path<String>) -> Result<Json<Value>, ApiError> {
    authorize_read(&api, &orgname).await?;
    api.identity.organization(&orgname).await?;
    quota_list(&api, &orgname, true).await
}

/// Give the organization its quota (one per namespace).
#[utoipa::path(
    post,
    path = "/organization/{orgname}/quota",
    operation_id = "createOrganizationQuota",
    tag = "namespacequota",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = QuotaSize,
    responses((status = 201, description = "Created"), (status = 400, description = "Invalid, or a quota exists"), (status = 403, description = "Not a superuser with full access")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn create_organization_quota(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<QuotaSize>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authorize_change(&api).await?;
    api.identity.organization(&orgname).await?;
    create_quota(&api, &orgname, &body).await
}

/// One quota of the organization.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/quota/{quota_id}",
    operation_id = "getOrganizationQuota",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path)),
    responses((status = 200, description = "A QuotaView"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn get_organization_quota(
    api: Api,
    Path((orgname, quota_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    authorize_read(&api, &orgname).await?;
    let quota = api.registry.quota_by_id(&orgname, id(&quota_id)?).await?;
    Ok(Json(quota_view(&api, &orgname, &quota).await?))
}

/// Change the quota's size.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/quota/{quota_id}",
    operation_id = "changeOrganizationQuota",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path)),
    request_body = QuotaSize,
    responses((status = 200, description = "The QuotaView"), (status = 400, description = "Invalid"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn change_organization_quota(
    api: Api,
    Path((orgname, quota_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<QuotaSize>,
) -> Result<Json<Value>, ApiError> {
    authorize_change(&api).await?;
    change_quota(&api, &orgname, &quota_id, &body).await
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
    authorize_change(&api).await?;
    delete_quota(&api, &orgname, &quota_id).await
}

/// The quota's thresholds.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/quota/{quota_id}/limit",
    operation_id = "listOrganizationQuotaLimit",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path)),
    responses((status = 200, description = "A list of limits"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn list_organization_quota_limit(
    api: Api,
    Path((orgname, quota_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    authorize_read(&api, &orgname).await?;
    let quota = api.registry.quota_by_id(&orgname, id(&quota_id)?).await?;
    Ok(Json(json!(
        quota.limits.iter().map(limit_view).collect::<Vec<_>>()
    )))
}

/// Add a `Warning` or `Reject` threshold.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/quota/{quota_id}/limit",
    operation_id = "createOrganizationQuotaLimit",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path)),
    request_body = LimitBody,
    responses((status = 201, description = "Created"), (status = 400, description = "Invalid, or the limit exists"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn create_organization_quota_limit(
    api: Api,
    Path((orgname, quota_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<LimitBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authorize_change(&api).await?;
    let (Some(kind), Some(percent)) = (body.kind.as_deref(), body.threshold_percent) else {
        return Err(ApiError::invalid("type and threshold_percent are required"));
    };
    let quota_id = id(&quota_id)?;
    let limit_id = api
        .registry
        .create_quota_limit(&orgname, quota_id, kind, percent)
        .await?;
    api.log(
        api.event("org_create_quota_limit")
            .namespace(&orgname)
            .metadata(json!({
                "quota_id": quota_id, "limit_id": limit_id, "type": kind, "threshold_percent": percent,
            })),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!("Created"))))
}

/// One threshold.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
    operation_id = "getOrganizationQuotaLimit",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path), ("limit_id" = String, Path)),
    responses((status = 200, description = "The limit"), (status = 404, description = "No such limit")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn get_organization_quota_limit(
    api: Api,
    Path((orgname, quota_id, limit_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    authorize_read(&api, &orgname).await?;
    let limit = find_limit(&api, &orgname, &quota_id, &limit_id).await?;
    Ok(Json(limit_view(&limit)))
}

/// Change a threshold's type or percent.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
    operation_id = "changeOrganizationQuotaLimit",
    tag = "namespacequota",
    params(("orgname" = String, Path), ("quota_id" = String, Path), ("limit_id" = String, Path)),
    request_body = LimitBody,
    responses((status = 200, description = "The quota's QuotaView"), (status = 400, description = "Invalid, or a duplicate"), (status = 404, description = "No such limit")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn change_organization_quota_limit(
    api: Api,
    Path((orgname, quota_id, limit_id)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<LimitBody>,
) -> Result<Json<Value>, ApiError> {
    authorize_change(&api).await?;
    let (quota_id, limit_id) = (id(&quota_id)?, id(&limit_id)?);
    let quota = api
        .registry
        .change_quota_limit(
            &orgname,
            quota_id,
            limit_id,
            body.kind.as_deref(),
            body.threshold_percent,
        )
        .await?;
    api.log(api.event("org_change_quota_limit").namespace(&orgname).metadata(json!({
        "quota_id": quota_id, "limit_id": limit_id, "type": body.kind, "threshold_percent": body.threshold_percent,
    })))
    .await?;
    Ok(Json(quota_view(&api, &orgname, &quota).await?))
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
    authorize_change(&api).await?;
    let (quota_id, limit_id) = (id(&quota_id)?, id(&limit_id)?);
    api.registry
        .delete_quota_limit(&orgname, quota_id, limit_id)
        .await?;
    api.log(
        api.event("org_delete_quota_limit")
            .namespace(&orgname)
            .metadata(json!({ "quota_id": quota_id, "limit_id": limit_id })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The calling user's name, for `/user/quota` (Quay's `require_user_admin`).
async fn own_namespace(api: &Api) -> Result<String, ApiError> {
    enabled(api)?;
    api.authorize(Action::AdministerUser).await?;
    match &api.principal.actor {
        Actor::User(u) => Ok(u.name.clone()),
        _ => Err(ApiError::unauthenticated("Requires authentication")),
    }
}

/// The calling user's quota.
#[utoipa::path(
    get,
    path = "/user/quota",
    operation_id = "listUserQuota",
    tag = "namespacequota",
    responses((status = 200, description = "A list of QuotaView"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_user_quota(api: Api) -> Result<Json<Value>, ApiError> {
    let ns = own_namespace(&api).await?;
    quota_list(&api, &ns, false).await
}

/// One quota of the calling user.
#[utoipa::path(
    get,
    path = "/user/quota/{quota_id}",
    operation_id = "getUserQuota",
    tag = "namespacequota",
    params(("quota_id" = String, Path)),
    responses((status = 200, description = "A QuotaView"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_quota(api: Api, Path(quota_id): Path<String>) -> Result<Json<Value>, ApiError> {
    let ns = own_namespace(&api).await?;
    let quota = api.registry.quota_by_id(&ns, id(&quota_id)?).await?;
    Ok(Json(quota_view(&api, &ns, &quota).await?))
}

/// The thresholds of the calling user's quota.
#[utoipa::path(
    get,
    path = "/user/quota/{quota_id}/limit",
    operation_id = "listUserQuotaLimit",
    tag = "namespacequota",
    params(("quota_id" = String, Path)),
    responses((status = 200, description = "A list of limits"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_user_quota_limit(api: Api, Path(quota_id): Path<String>) -> Result<Json<Value>, ApiError> {
    let ns = own_namespace(&api).await?;
    let quota = api.registry.quota_by_id(&ns, id(&quota_id)?).await?;
    Ok(Json(json!(
        quota.limits.iter().map(limit_view).collect::<Vec<_>>()
    )))
}

/// One threshold of the calling user's quota.
#[utoipa::path(
    get,
    path = "/user/quota/{quota_id}/limit/{limit_id}",
    operation_id = "getUserQuotaLimit",
    tag = "namespacequota",
    params(("quota_id" = String, Path), ("limit_id" = String, Path)),
    responses((status = 200, description = "The limit"), (status = 404, description = "No such limit")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_quota_limit(
    api: Api,
    Path((quota_id, limit_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let ns = own_namespace(&api).await?;
    let limit = find_limit(&api, &ns, &quota_id, &limit_id).await?;
    Ok(Json(limit_view(&limit)))
}
