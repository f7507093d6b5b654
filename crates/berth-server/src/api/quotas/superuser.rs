//! Quotas through the superuser panel (Quay's `*QuotaSuperUser`):
//! `/api/v1/superuser/organization/{namespace}/quota[/{quota_id}]` and
//! `/api/v1/superuser/users/{namespace}/quota[/{quota_id}]`. Any superuser
//! may use them, without `FEATURE_SUPERUSERS_FULL_ACCESS`; as in Quay, both
//! paths accept a user or an organization.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::Namespace;
use berth_core::registry::QuotaOwner;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{QuotaSize, QuotaView, change_quota, create_quota, delete_quota, quota_list};
use crate::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{Api, Done, JsonBody};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            list_organization_quota_super_user,
            create_organization_quota_super_user
        ))
        .routes(routes!(
            change_organization_quota_super_user,
            delete_organization_quota_super_user
        ))
        .routes(routes!(list_user_quota_super_user, create_user_quota_super_user))
        .routes(routes!(
            change_user_quota_super_user,
            delete_user_quota_super_user
        ))
}

/// The namespace a path names, as the superuser panel reaches it (any
/// superuser; the namespace must exist); an invalid name names nothing.
fn panel(ns: &str) -> Result<QuotaOwner, ApiError> {
    Namespace::new(ns)
        .map(QuotaOwner::Panel)
        .map_err(|_| ApiError::not_found(format!("namespace {ns} not found")))
}

/// A namespace's quota.
#[utoipa::path(
    get,
    path = "/superuser/organization/{namespace}/quota",
    operation_id = "listOrganizationQuotaSuperUser",
    tag = "superuser",
    params(("namespace" = String, Path)),
    responses((status = 200, description = "A list of QuotaView", body = Vec<QuotaView>), (status = 403, description = "Not a superuser"), (status = 404, description = "No such namespace")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn list_organization_quota_super_user(
    api: Api,
    Path(namespace): Path<String>,
) -> Result<Json<Vec<QuotaView>>, ApiError> {
    quota_list(&api, &panel(&namespace)?).await
}

/// Give a namespace its quota.
#[utoipa::path(
    post,
    path = "/superuser/organization/{namespace}/quota",
    operation_id = "createOrganizationQuotaSuperUser",
    tag = "superuser",
    params(("namespace" = String, Path)),
    request_body = QuotaSize,
    responses((status = 201, description = "Created", body = Done), (status = 400, description = "Invalid, or a quota exists"), (status = 403, description = "Not a superuser")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn create_organization_quota_super_user(
    api: Api,
    Path(namespace): Path<String>,
    JsonBody(body): JsonBody<QuotaSize>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    create_quota(&api, &panel(&namespace)?, &body).await
}

/// Change a namespace's quota.
#[utoipa::path(
    put,
    path = "/superuser/organization/{namespace}/quota/{quota_id}",
    operation_id = "changeOrganizationQuotaSuperUser",
    tag = "superuser",
    params(("namespace" = String, Path), ("quota_id" = String, Path)),
    request_body = QuotaSize,
    responses((status = 200, description = "The QuotaView", body = QuotaView), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn change_organization_quota_super_user(
    api: Api,
    Path((namespace, quota_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<QuotaSize>,
) -> Result<Json<QuotaView>, ApiError> {
    change_quota(&api, &panel(&namespace)?, &quota_id, &body).await
}

/// Delete a namespace's quota.
#[utoipa::path(
    delete,
    path = "/superuser/organization/{namespace}/quota/{quota_id}",
    operation_id = "deleteOrganizationQuotaSuperUser",
    tag = "superuser",
    params(("namespace" = String, Path), ("quota_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn delete_organization_quota_super_user(
    api: Api,
    Path((namespace, quota_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    delete_quota(&api, &panel(&namespace)?, &quota_id).await
}

/// A user namespace's quota.
#[utoipa::path(
    get,
    path = "/superuser/users/{namespace}/quota",
    operation_id = "listUserQuotaSuperUser",
    tag = "superuser",
    params(("namespace" = String, Path)),
    responses((status = 200, description = "A list of QuotaView", body = Vec<QuotaView>), (status = 403, description = "Not a superuser"), (status = 404, description = "No such namespace")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn list_user_quota_super_user(
    api: Api,
    Path(namespace): Path<String>,
) -> Result<Json<Vec<QuotaView>>, ApiError> {
    quota_list(&api, &panel(&namespace)?).await
}

/// Give a user namespace its quota.
#[utoipa::path(
    post,
    path = "/superuser/users/{namespace}/quota",
    operation_id = "createUserQuotaSuperUser",
    tag = "superuser",
    params(("namespace" = String, Path)),
    request_body = QuotaSize,
    responses((status = 201, description = "Created", body = Done), (status = 400, description = "Invalid, or a quota exists"), (status = 403, description = "Not a superuser")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn create_user_quota_super_user(
    api: Api,
    Path(namespace): Path<String>,
    JsonBody(body): JsonBody<QuotaSize>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    create_quota(&api, &panel(&namespace)?, &body).await
}

/// Change a user namespace's quota.
#[utoipa::path(
    put,
    path = "/superuser/users/{namespace}/quota/{quota_id}",
    operation_id = "changeUserQuotaSuperUser",
    tag = "superuser",
    params(("namespace" = String, Path), ("quota_id" = String, Path)),
    request_body = QuotaSize,
    responses((status = 200, description = "The QuotaView", body = QuotaView), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn change_user_quota_super_user(
    api: Api,
    Path((namespace, quota_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<QuotaSize>,
) -> Result<Json<QuotaView>, ApiError> {
    change_quota(&api, &panel(&namespace)?, &quota_id, &body).await
}

/// Delete a user namespace's quota.
#[utoipa::path(
    delete,
    path = "/superuser/users/{namespace}/quota/{quota_id}",
    operation_id = "deleteUserQuotaSuperUser",
    tag = "superuser",
    params(("namespace" = String, Path), ("quota_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such quota")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn delete_user_quota_super_user(
    api: Api,
    Path((namespace, quota_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    delete_quota(&api, &panel(&namespace)?, &quota_id).await
}
