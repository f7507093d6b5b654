//! Event notifications (Quay's `repositorynotification.py` and the
//! namespace notifications of quota events): create, list, read, delete,
//! reset (`POST .../{uuid}`) and test a repository's notifications under
//! `/repository/{namespace}/{repository}/notification/`, an organization's
//! under `/organization/{orgname}/notifications` and the calling user's
//! under `/user/namespacenotifications`; each notification's delivery log
//! (Berth's own). In-app notifications are in `notifications/inbox.rs`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::Namespace;
use berth_core::notify::{Created, DeliveryRecord, Notification, NotificationInput, NotificationScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody, format_date};
use super::repositories::repo_path;
use crate::AppState;

mod inbox;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_repo, create_repo))
        .routes(routes!(get_repo, delete_repo, reset_repo))
        .routes(routes!(test_repo))
        .routes(routes!(deliveries_repo))
        .routes(routes!(list_org, create_org))
        .routes(routes!(get_org, delete_org, reset_org))
        .routes(routes!(test_org))
        .routes(routes!(list_user_ns, create_user_ns))
        .routes(routes!(get_user_ns, delete_user_ns, reset_user_ns))
        .routes(routes!(test_user_ns))
        .merge(inbox::routes())
}

/// A notification to create (Quay's `NotificationCreateRequest`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NotificationRequest {
    /// `repo_push`, `vulnerability_found`, `repo_mirror_sync_started`,
    /// `repo_mirror_sync_success`, `repo_mirror_sync_failed`,
    /// `repo_image_expiry`; for namespaces `quota_warning`, `quota_error`.
    event: String,
    /// `webhook`, `slack`, `email` or `quay_notification`.
    method: String,
    /// The method's settings: `url` (webhook, slack; `cloudevents: true`
    /// sends a CloudEvents 1.0 envelope), `email`, or `target: {kind,
    /// name}` (quay_notification).
    #[schema(value_type = Object)]
    config: serde_json::Value,
    /// The event's filters: `level` (vulnerability_found), `days`
    /// (repo_image_expiry).
    #[serde(rename = "eventConfig")]
    #[schema(value_type = Object)]
    event_config: serde_json::Value,
    /// A title.
    #[serde(default)]
    title: Option<String>,
}

/// A notification (Quay's `NotificationView`).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NotificationView {
    /// Its id.
    uuid: String,
    /// Its title.
    title: Option<String>,
    /// The event kind.
    event: String,
    /// The method.
    method: String,
    /// The method's settings.
    #[schema(value_type = Object)]
    config: serde_json::Value,
    /// The event's filters.
    #[schema(value_type = Object)]
    event_config: serde_json::Value,
    /// Failures in a row; at 3 the notification is disabled until reset.
    number_of_failures: i32,
    /// The webhook's signing secret (`X-Berth-Signature-256`): only in the
    /// answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        NotificationView {
            uuid: n.uuid,
            title: n.title,
            event: n.event,
            method: n.method,
            config: n.config,
            event_config: n.event_config,
            number_of_failures: n.number_of_failures,
            webhook_secret: None,
        }
    }
}

impl From<Created> for NotificationView {
    fn from(c: Created) -> Self {
        NotificationView {
            webhook_secret: c.webhook_secret,
            ..c.notification.into()
        }
    }
}

/// A list of notifications.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NotificationListView {
    /// The notifications, oldest first.
    notifications: Vec<NotificationView>,
}

/// Quay's empty answer.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EmptyView {}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DeliveryView {
    /// The event's id (`X-Berth-Delivery`).
    delivery: String,
    /// Which try of it.
    attempt: i32,
    /// When.
    datetime: String,
    /// Whether it was delivered.
    success: bool,
    /// The receiver's HTTP status, if it answered.
    status: Option<i32>,
    /// How long it took, in milliseconds.
    latency_ms: i64,
    /// Why it failed.
    error: Option<String>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(r: DeliveryRecord) -> Self {
        DeliveryView {
            delivery: r.delivery,
            attempt: r.attempt,
            datetime: format_date(r.time_ms),
            success: r.success,
            status: r.status,
            latency_ms: r.latency_ms,
            error: r.error,
        }
    }
}

/// A notification's delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DeliveryListView {
    /// Attempts, newest first (the latest 100).
    deliveries: Vec<DeliveryView>,
}

fn repo_scope(namespace: &str, repository: &str) -> Result<NotificationScope, ApiError> {
    repo_path(namespace, repository).map(NotificationScope::Repository)
}

fn org_scope(orgname: &str) -> Result<NotificationScope, ApiError> {
    Namespace::new(orgname)
        .map(NotificationScope::Namespace)
        .map_err(|_| ApiError::not_found(format!("organization {orgname} not found")))
}

/// The calling user's own namespace.
fn user_scope(api: &Api) -> Result<NotificationScope, ApiError> {
    let name = api.caller.name().unwrap_or("");
    Namespace::new(name)
        .map(NotificationScope::Namespace)
        .map_err(|_| ApiError::unauthenticated("Requires authentication"))
}

async fn list(api: &Api, scope: NotificationScope) -> Result<Json<NotificationListView>, ApiError> {
    let list = api.registry.list_notifications(&api.caller, &scope).await?;
    Ok(Json(NotificationListView {
        notifications: list.into_iter().map(NotificationView::from).collect(),
    }))
}

async fn create(
    api: &Api,
    scope: NotificationScope,
    body: NotificationRequest,
) -> Result<(StatusCode, Json<NotificationView>), ApiError> {
    let input = NotificationInput {
        event: body.event,
        method: body.method,
        config: body.config,
        event_config: body.event_config,
        title: body.title,
    };
    let created = api
        .registry
        .create_notification(&api.caller, &scope, input)
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

async fn get_one(
    api: &Api,
    scope: NotificationScope,
    uuid: &str,
) -> Result<Json<NotificationView>, ApiError> {
    let n = api.registry.get_notification(&api.caller, &scope, uuid).await?;
    Ok(Json(n.into()))
}

async fn delete(api: &Api, scope: NotificationScope, uuid: &str) -> Result<StatusCode, ApiError> {
    api.registry
        .delete_notification(&api.caller, &scope, uuid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset(api: &Api, scope: NotificationScope, uuid: &str) -> Result<StatusCode, ApiError> {
    api.registry.reset_notification(&api.caller, &scope, uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(api: &Api, scope: NotificationScope, uuid: &str) -> Result<Json<EmptyView>, ApiError> {
    api.registry.test_notification(&api.caller, &scope, uuid).await?;
    Ok(Json(EmptyView {}))
}

/// A repository's notifications.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/notification/",
    operation_id = "listRepoNotifications",
    tag = "repositorynotification",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses((status = 200, description = "The notifications", body = NotificationListView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn list_repo(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<Json<NotificationListView>, ApiError> {
    list(&api, repo_scope(&namespace, &repository)?).await
}

/// Create a repository notification. A webhook's answer carries its
/// signing secret, shown only here.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/notification/",
    operation_id = "createRepoNotification",
    tag = "repositorynotification",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    request_body = NotificationRequest,
    responses((status = 201, description = "Created", body = NotificationView), (status = 400, description = "Unknown event or method, or an invalid configuration"), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn create_repo(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<NotificationRequest>,
) -> Result<(StatusCode, Json<NotificationView>), ApiError> {
    create(&api, repo_scope(&namespace, &repository)?, body).await
}

/// A repository notification.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/notification/{uuid}",
    operation_id = "getRepoNotification",
    tag = "repositorynotification",
    params(("namespace" = String, Path), ("repository" = String, Path), ("uuid" = String, Path)),
    responses((status = 200, description = "The notification", body = NotificationView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or notification")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_repo(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<Json<NotificationView>, ApiError> {
    get_one(&api, repo_scope(&namespace, &repository)?, &uuid).await
}

/// Delete a repository notification and its queued deliveries.
#[utoipa::path(
    delete,
    path = "/repository/{namespace}/{repository}/notification/{uuid}",
    operation_id = "deleteRepoNotification",
    tag = "repositorynotification",
    params(("namespace" = String, Path), ("repository" = String, Path), ("uuid" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or notification")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn delete_repo(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    delete(&api, repo_scope(&namespace, &repository)?, &uuid).await
}

/// Reset a repository notification's failure count (enabling it again).
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/notification/{uuid}",
    operation_id = "resetRepositoryNotificationFailures",
    tag = "repositorynotification",
    params(("namespace" = String, Path), ("repository" = String, Path), ("uuid" = String, Path)),
    responses((status = 204, description = "Reset"), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or notification")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn reset_repo(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    reset(&api, repo_scope(&namespace, &repository)?, &uuid).await
}

/// Queue a sample of the notification's event for it.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/notification/{uuid}/test",
    operation_id = "testRepoNotification",
    tag = "repositorynotification",
    params(("namespace" = String, Path), ("repository" = String, Path), ("uuid" = String, Path)),
    responses((status = 200, description = "Queued", body = EmptyView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or notification")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn test_repo(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<Json<EmptyView>, ApiError> {
    test(&api, repo_scope(&namespace, &repository)?, &uuid).await
}

/// A repository notification's delivery log: every attempt's time,
/// outcome, receiver status, latency and error (the latest 100).
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/notification/{uuid}/deliveries",
    operation_id = "listRepoNotificationDeliveries",
    tag = "repositorynotification",
    params(("namespace" = String, Path), ("repository" = String, Path), ("uuid" = String, Path)),
    responses((status = 200, description = "The attempts, newest first", body = DeliveryListView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or notification")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn deliveries_repo(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<Json<DeliveryListView>, ApiError> {
    let scope = repo_scope(&namespace, &repository)?;
    let log = api
        .registry
        .notification_deliveries(&api.caller, &scope, &uuid)
        .await?;
    Ok(Json(DeliveryListView {
        deliveries: log.into_iter().map(DeliveryView::from).collect(),
    }))
}

/// An organization's notifications (quota events).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/notifications",
    operation_id = "listOrgNotifications",
    tag = "organization",
    params(("orgname" = String, Path)),
    responses((status = 200, description = "The notifications", body = NotificationListView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn list_org(api: Api, Path(orgname): Path<String>) -> Result<Json<NotificationListView>, ApiError> {
    list(&api, org_scope(&orgname)?).await
}

/// Create an organization notification (`quota_warning`, `quota_error`).
#[utoipa::path(
    post,
    path = "/organization/{orgname}/notifications",
    operation_id = "createOrgNotification",
    tag = "organization",
    params(("orgname" = String, Path)),
    request_body = NotificationRequest,
    responses((status = 201, description = "Created", body = NotificationView), (status = 400, description = "Unknown event or method, or an invalid configuration"), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_org(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<NotificationRequest>,
) -> Result<(StatusCode, Json<NotificationView>), ApiError> {
    create(&api, org_scope(&orgname)?, body).await
}

/// An organization notification.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/notifications/{uuid}",
    operation_id = "getOrgNotification",
    tag = "organization",
    params(("orgname" = String, Path), ("uuid" = String, Path)),
    responses((status = 200, description = "The notification", body = NotificationView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or notification")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org(
    api: Api,
    Path((orgname, uuid)): Path<(String, String)>,
) -> Result<Json<NotificationView>, ApiError> {
    get_one(&api, org_scope(&orgname)?, &uuid).await
}

/// Delete an organization notification.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/notifications/{uuid}",
    operation_id = "deleteOrgNotification",
    tag = "organization",
    params(("orgname" = String, Path), ("uuid" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or notification")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_org(api: Api, Path((orgname, uuid)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    delete(&api, org_scope(&orgname)?, &uuid).await
}

/// Reset an organization notification's failure count.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/notifications/{uuid}",
    operation_id = "resetOrgNotificationFailures",
    tag = "organization",
    params(("orgname" = String, Path), ("uuid" = String, Path)),
    responses((status = 204, description = "Reset"), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or notification")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn reset_org(api: Api, Path((orgname, uuid)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    reset(&api, org_scope(&orgname)?, &uuid).await
}

/// Queue a sample of the notification's event for it.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/notifications/{uuid}/test",
    operation_id = "testOrgNotification",
    tag = "organization",
    params(("orgname" = String, Path), ("uuid" = String, Path)),
    responses((status = 200, description = "Queued", body = EmptyView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or notification")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn test_org(
    api: Api,
    Path((orgname, uuid)): Path<(String, String)>,
) -> Result<Json<EmptyView>, ApiError> {
    test(&api, org_scope(&orgname)?, &uuid).await
}

/// The calling user's namespace notifications (quota events).
#[utoipa::path(
    get,
    path = "/user/namespacenotifications",
    operation_id = "listUserNamespaceNotifications",
    tag = "user",
    responses((status = 200, description = "The notifications", body = NotificationListView), (status = 401, description = "Not logged in")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_user_ns(api: Api) -> Result<Json<NotificationListView>, ApiError> {
    let scope = user_scope(&api)?;
    list(&api, scope).await
}

/// Create a notification of the calling user's namespace.
#[utoipa::path(
    post,
    path = "/user/namespacenotifications",
    operation_id = "createUserNamespaceNotification",
    tag = "user",
    request_body = NotificationRequest,
    responses((status = 201, description = "Created", body = NotificationView), (status = 400, description = "Unknown event or method, or an invalid configuration"), (status = 401, description = "Not logged in")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn create_user_ns(
    api: Api,
    JsonBody(body): JsonBody<NotificationRequest>,
) -> Result<(StatusCode, Json<NotificationView>), ApiError> {
    let scope = user_scope(&api)?;
    create(&api, scope, body).await
}

/// A notification of the calling user's namespace.
#[utoipa::path(
    get,
    path = "/user/namespacenotifications/{uuid}",
    operation_id = "getUserNamespaceNotification",
    tag = "user",
    params(("uuid" = String, Path)),
    responses((status = 200, description = "The notification", body = NotificationView), (status = 401, description = "Not logged in"), (status = 404, description = "No such notification")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_ns(api: Api, Path(uuid): Path<String>) -> Result<Json<NotificationView>, ApiError> {
    let scope = user_scope(&api)?;
    get_one(&api, scope, &uuid).await
}

/// Delete a notification of the calling user's namespace.
#[utoipa::path(
    delete,
    path = "/user/namespacenotifications/{uuid}",
    operation_id = "deleteUserNamespaceNotification",
    tag = "user",
    params(("uuid" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, description = "Not logged in"), (status = 404, description = "No such notification")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn delete_user_ns(api: Api, Path(uuid): Path<String>) -> Result<StatusCode, ApiError> {
    let scope = user_scope(&api)?;
    delete(&api, scope, &uuid).await
}

/// Reset a notification's failure count.
#[utoipa::path(
    post,
    path = "/user/namespacenotifications/{uuid}",
    operation_id = "resetUserNamespaceNotificationFailures",
    tag = "user",
    params(("uuid" = String, Path)),
    responses((status = 204, description = "Reset"), (status = 401, description = "Not logged in"), (status = 404, description = "No such notification")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn reset_user_ns(api: Api, Path(uuid): Path<String>) -> Result<StatusCode, ApiError> {
    let scope = user_scope(&api)?;
    reset(&api, scope, &uuid).await
}

/// Queue a sample of the notification's event for it.
#[utoipa::path(
    post,
    path = "/user/namespacenotifications/{uuid}/test",
    operation_id = "testUserNamespaceNotification",
    tag = "user",
    params(("uuid" = String, Path)),
    responses((status = 200, description = "Queued", body = EmptyView), (status = 401, description = "Not logged in"), (status = 404, description = "No such notification")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn test_user_ns(api: Api, Path(uuid): Path<String>) -> Result<Json<EmptyView>, ApiError> {
    let scope = user_scope(&api)?;
    test(&api, scope, &uuid).await
}
