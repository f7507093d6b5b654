//! The superuser panel's user management: `/api/v1/superuser/users/...`.
//! A generated password is shown only in the answer that created it.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use berth_core::Identity;
use berth_core::identity::Action;
use berth_core::identity::users::UserUpdate;
use berth_store::metadata::AccountRow;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody, avatar};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_all_users, create_install_user))
        .routes(routes!(
            get_install_user,
            change_install_user,
            delete_install_user
        ))
}

/// Quay's superuser view of a user.
fn user_view(identity: &Identity, a: &AccountRow) -> Value {
    json!({
        "kind": "user",
        "name": a.name,
        "username": a.name,
        "email": a.email,
        "verified": true,
        "avatar": avatar(&a.name, "user"),
        "super_user": identity.is_super_user(a),
        "enabled": a.enabled,
    })
}

/// Query of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Include disabled users (default true).
    disabled: Option<bool>,
}

/// Every user.
#[utoipa::path(
    get,
    path = "/superuser/users/",
    operation_id = "listAllUsers",
    tag = "superuser",
    params(ListQuery),
    responses((status = 200, description = "`{users: [...]}`"), (status = 403, description = "Not a superuser")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn list_all_users(
    api: Api,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::SuperUser).await?;
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let with_disabled = query.disabled.unwrap_or(true);
    let users: Vec<Value> = api
        .identity
        .users()
        .await?
        .iter()
        .filter(|u| with_disabled || u.enabled)
        .map(|u| user_view(&api.identity, u))
        .collect();
    Ok(Json(json!({ "users": users })))
}

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewInstallUser {
    /// The user's name.
    username: String,
    /// Contact address.
    email: Option<String>,
}

/// Create a user with a generated password, shown only in this answer.
#[utoipa::path(
    post,
    path = "/superuser/users/",
    operation_id = "createInstallUser",
    tag = "superuser",
    request_body = NewInstallUser,
    responses((status = 200, description = "`{username, email, password}`"), (status = 400, description = "Invalid or taken name")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn create_install_user(
    api: Api,
    JsonBody(body): JsonBody<NewInstallUser>,
) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::SuperUser).await?;
    let email = body.email.filter(|e| !e.is_empty());
    let made = api
        .identity
        .create_user_with_password(&api.principal, &body.username, email.as_deref(), Some(api.ip))
        .await?;
    Ok(Json(json!({
        "username": made.account.name,
        "email": made.account.email,
        "password": made.password,
    })))
}

/// One user.
#[utoipa::path(
    get,
    path = "/superuser/users/{username}",
    operation_id = "getInstallUser",
    tag = "superuser",
    params(("username" = String, Path)),
    responses((status = 200, description = "The user"), (status = 404, description = "No such user")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn get_install_user(api: Api, Path(username): Path<String>) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::SuperUser).await?;
    let user = api.identity.user(&username).await?;
    Ok(Json(user_view(&api.identity, &user)))
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ChangeInstallUser {
    /// New password.
    password: Option<String>,
    /// New contact address.
    email: Option<String>,
    /// Allow or refuse logins.
    enabled: Option<bool>,
    /// Grant or revoke superuser.
    superuser: Option<bool>,
}

/// Change a user's password, email, enabled or superuser flag. A superuser
/// cannot disable or demote themselves.
#[utoipa::path(
    put,
    path = "/superuser/users/{username}",
    operation_id = "changeInstallUser",
    tag = "superuser",
    params(("username" = String, Path)),
    request_body = ChangeInstallUser,
    responses((status = 200, description = "The user"), (status = 400, description = "Invalid change")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn change_install_user(
    api: Api,
    Path(username): Path<String>,
    JsonBody(body): JsonBody<ChangeInstallUser>,
) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::SuperUser).await?;
    let update = UserUpdate {
        password: body.password,
        email: body.email,
        enabled: body.enabled,
        super_user: body.superuser,
    };
    let user = api
        .identity
        .update_user(&api.principal, &username, &update, Some(api.ip))
        .await?;
    Ok(Json(user_view(&api.identity, &user)))
}

/// Delete a user (not oneself, and not while the user's namespace holds
/// repositories).
#[utoipa::path(
    delete,
    path = "/superuser/users/{username}",
    operation_id = "deleteInstallUser",
    tag = "superuser",
    params(("username" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 400, description = "Oneself, or repositories remain"), (status = 404, description = "No such user")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn delete_install_user(api: Api, Path(username): Path<String>) -> Result<StatusCode, ApiError> {
    api.authorize(Action::SuperUser).await?;
    api.identity
        .delete_user(&api.principal, &username, Some(api.ip))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
