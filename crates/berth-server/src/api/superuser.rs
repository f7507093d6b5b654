//! The superuser panel's user management: `/api/v1/superuser/users/...`.
//! A generated password is shown only in the answer that created it.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::users::UserUpdate;
use berth_core::identity::{Account, Action};
use berth_core::{Identity, Namespace};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, ApiQuery, Avatar, JsonBody, avatar};
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
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct InstallUserView {
    /// Always `user`.
    kind: &'static str,
    /// The user's name.
    name: String,
    /// The user's name again, as Quay shows it.
    username: String,
    /// Contact address.
    email: Option<String>,
    /// Always true.
    verified: bool,
    /// The user's avatar.
    avatar: Avatar,
    /// Superuser by flag or by configuration.
    super_user: bool,
    /// Whether the user may log in.
    enabled: bool,
}

impl InstallUserView {
    fn new(identity: &Identity, a: Account) -> InstallUserView {
        InstallUserView {
            kind: "user",
            super_user: identity.is_super_user(&a),
            avatar: avatar(&a.name, "user"),
            username: a.name.clone(),
            name: a.name,
            email: a.email,
            verified: true,
            enabled: a.enabled,
        }
    }
}

/// The user list.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct InstallUserListView {
    /// The users, by name.
    users: Vec<InstallUserView>,
}

/// A user that was just created, with the generated password.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NewInstallUserView {
    /// The user's name.
    username: String,
    /// Contact address.
    email: Option<String>,
    /// The generated password, shown only here.
    password: String,
}

/// A user name from the path; an invalid one names no user (404).
fn username(s: String) -> Result<Namespace, ApiError> {
    Namespace::new(s).map_err(|e| ApiError::not_found(e.to_string()))
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
    responses((status = 200, description = "The users", body = InstallUserListView), (status = 403, description = "Not a superuser")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn list_all_users(
    api: Api,
    query: Result<ApiQuery<ListQuery>, ApiError>,
) -> Result<Json<InstallUserListView>, ApiError> {
    // A malformed query is reported only to those who may ask at all, as
    // before: refusals come first.
    let query = match query {
        Ok(ApiQuery(q)) => q,
        Err(e) => return Err(refused_first(&api, e).await),
    };
    let users = api
        .identity
        .users(&api.caller, query.disabled.unwrap_or(true))
        .await?
        .into_iter()
        .map(|u| InstallUserView::new(&api.identity, u))
        .collect();
    Ok(Json(InstallUserListView { users }))
}

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewInstallUser {
    /// The user's name.
    #[schema(value_type = String)]
    username: Namespace,
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
    responses((status = 200, description = "The user, with its password", body = NewInstallUserView), (status = 400, description = "Invalid or taken name")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn create_install_user(
    api: Api,
    body: Result<JsonBody<NewInstallUser>, ApiError>,
) -> Result<Json<NewInstallUserView>, ApiError> {
    let body = match body {
        Ok(JsonBody(b)) => b,
        Err(e) => return Err(refused_first(&api, e).await),
    };
    let email = body.email.filter(|e| !e.is_empty());
    let made = api
        .identity
        .create_user_with_password(&api.caller, &body.username, email.as_deref())
        .await?;
    Ok(Json(NewInstallUserView {
        username: made.account.name,
        email: made.account.email,
        password: made.password,
    }))
}

/// One user.
#[utoipa::path(
    get,
    path = "/superuser/users/{username}",
    operation_id = "getInstallUser",
    tag = "superuser",
    params(("username" = String, Path)),
    responses((status = 200, description = "The user", body = InstallUserView), (status = 404, description = "No such user")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn get_install_user(api: Api, Path(name): Path<String>) -> Result<Json<InstallUserView>, ApiError> {
    let name = username(name)?;
    let user = api.identity.install_user(&api.caller, &name).await?;
    Ok(Json(InstallUserView::new(&api.identity, user)))
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    responses((status = 200, description = "The user", body = InstallUserView), (status = 400, description = "Invalid change or unknown field")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn change_install_user(
    api: Api,
    Path(name): Path<String>,
    body: Result<JsonBody<ChangeInstallUser>, ApiError>,
) -> Result<Json<InstallUserView>, ApiError> {
    let body = match body {
        Ok(JsonBody(b)) => b,
        Err(e) => return Err(refused_first(&api, e).await),
    };
    let name = username(name)?;
    let update = UserUpdate {
        password: body.password,
        email: body.email,
        enabled: body.enabled,
        super_user: body.superuser,
    };
    let user = api.identity.update_user(&api.caller, &name, &update).await?;
    Ok(Json(InstallUserView::new(&api.identity, user)))
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
async fn delete_install_user(api: Api, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    let name = username(name)?;
    api.identity.delete_user(&api.caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The answer to a request whose body or query could not be read: the
/// refusal if the caller may not use the panel at all (so a caller who
/// may not ask learns nothing, and refusals keep their status whatever
/// the body), else `invalid`.
async fn refused_first(api: &Api, invalid: ApiError) -> ApiError {
    match api
        .identity
        .authorize(&api.caller.principal, Action::SuperUser)
        .await
    {
        Ok(()) => invalid,
        Err(refusal) => refusal.into(),
    }
}
