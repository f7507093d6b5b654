//! In-app notifications (method `quay_notification`), as Quay serves
//! them: `GET /api/v1/user/notifications`, `GET` and `PUT
//! /api/v1/user/notifications/{uuid}` (`{"dismissed": true}` marks one
//! read).

use axum::Json;
use axum::extract::Path;
use berth_core::notify::UserNotification;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::ApiError;
use super::super::extract::{Api, JsonBody, format_date};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_in_app))
        .routes(routes!(get_in_app, update_in_app))
}

/// An in-app notification (Quay's user notification view).
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::api) struct UserNotificationView {
    /// Its id.
    id: String,
    /// The namespace of the event.
    organization: Option<String>,
    /// The event kind.
    kind: String,
    /// When.
    created: String,
    /// The event data.
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    /// Whether it was dismissed (read).
    dismissed: bool,
}

impl From<UserNotification> for UserNotificationView {
    fn from(n: UserNotification) -> Self {
        UserNotificationView {
            id: n.uuid,
            organization: n
                .metadata
                .get("namespace")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            kind: n.kind,
            created: format_date(n.created_ms),
            metadata: n.metadata,
            dismissed: n.dismissed,
        }
    }
}

/// The caller's in-app notifications.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::api) struct UserNotificationListView {
    /// Newest first.
    notifications: Vec<UserNotificationView>,
    /// Always false: the newest 500 are listed.
    additional: bool,
}

/// Mark an in-app notification read or unread.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::api) struct UserNotificationUpdate {
    /// Dismissed (read).
    dismissed: bool,
}

/// The calling user's in-app notifications (method `quay_notification`).
#[utoipa::path(
    get,
    path = "/user/notifications",
    operation_id = "listUserNotifications",
    tag = "user",
    responses((status = 200, description = "Newest first", body = UserNotificationListView), (status = 401, description = "Not logged in")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn list_in_app(api: Api) -> Result<Json<UserNotificationListView>, ApiError> {
    let list = api.registry.user_notifications(&api.caller).await?;
    Ok(Json(UserNotificationListView {
        notifications: list.into_iter().map(UserNotificationView::from).collect(),
        additional: false,
    }))
}

/// One in-app notification.
#[utoipa::path(
    get,
    path = "/user/notifications/{uuid}",
    operation_id = "getUserNotification",
    tag = "user",
    params(("uuid" = String, Path)),
    responses((status = 200, description = "The notification", body = UserNotificationView), (status = 401, description = "Not logged in"), (status = 404, description = "No such notification")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn get_in_app(api: Api, Path(uuid): Path<String>) -> Result<Json<UserNotificationView>, ApiError> {
    let list = api.registry.user_notifications(&api.caller).await?;
    list.into_iter()
        .find(|n| n.uuid == uuid)
        .map(|n| Json(n.into()))
        .ok_or_else(|| ApiError::not_found(format!("No such notification: {uuid}")))
}

/// Mark an in-app notification read (`dismissed: true`) or unread.
#[utoipa::path(
    put,
    path = "/user/notifications/{uuid}",
    operation_id = "updateUserNotification",
    tag = "user",
    params(("uuid" = String, Path)),
    request_body = UserNotificationUpdate,
    responses((status = 200, description = "The notification", body = UserNotificationView), (status = 401, description = "Not logged in"), (status = 404, description = "No such notification")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn update_in_app(
    api: Api,
    Path(uuid): Path<String>,
    JsonBody(body): JsonBody<UserNotificationUpdate>,
) -> Result<Json<UserNotificationView>, ApiError> {
    let n = api
        .registry
        .dismiss_user_notification(&api.caller, &uuid, body.dismissed)
        .await?;
    Ok(Json(n.into()))
}
