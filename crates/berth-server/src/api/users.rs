//! Users: the calling user (`GET /api/v1/user/`, and `PUT /api/v1/user/`
//! for the contact address and the namespace's time-machine window) and
//! any user's public view (`GET /api/v1/users/{username}`).

use axum::Json;
use axum::extract::Path;
use berth_core::identity::{Account, Action, Actor, UserChange};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody, avatar};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_logged_in_user, change_user_details))
        .routes(routes!(get_user_information))
}

/// The user the credentials belong to.
#[utoipa::path(
    get,
    path = "/user/",
    operation_id = "getLoggedInUser",
    tag = "user",
    responses((status = 200, description = "The user"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn get_logged_in_user(api: Api) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::ReadUser).await?;
    let Actor::User(user) = &api.principal.actor else {
        return Err(ApiError::unauthenticated("Requires authentication"));
    };
    let account = api
        .identity
        .account(&user.name)
        .await?
        .ok_or_else(|| ApiError::not_found("user not found"))?;
    user_view(&api, &account).await
}

/// What a user may change about their own account here.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UserDetails {
    /// New contact address.
    email: Option<String>,
    /// The time-machine window of the user's namespace, in seconds: one of
    /// the configured `TAG_EXPIRATION_OPTIONS`.
    tag_expiration_s: Option<i64>,
}

/// Change the calling user's contact address or time-machine window.
#[utoipa::path(
    put,
    path = "/user/",
    operation_id = "changeUserDetails",
    tag = "user",
    request_body = UserDetails,
    responses((status = 200, description = "The user"), (status = 400, description = "Invalid value"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn change_user_details(
    api: Api,
    JsonBody(body): JsonBody<UserDetails>,
) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::AdministerUser).await?;
    let account = api
        .identity
        .change_user(
            &api.caller,
            UserChange {
                email: body.email,
                tag_expiration_s: body.tag_expiration_s,
            },
        )
        .await?;
    user_view(&api, &account).await
}

/// The view of the calling user (Quay's `user_view` for oneself).
async fn user_view(api: &Api, account: &Account) -> Result<Json<Value>, ApiError> {
    let Actor::User(user) = &api.principal.actor else {
        return Err(ApiError::unauthenticated("Requires authentication"));
    };
    let organizations = api.identity.organizations_of(user.id).await?;
    let mut orgs = Vec::new();
    for org in organizations {
        let is_admin = api.may(Action::AdministerNamespace(&org)).await?;
        orgs.push(json!({
            "name": org,
            "avatar": avatar(&org, "org"),
            "can_create_repo": api.may(Action::CreateRepository(&org)).await?,
            "public": false,
            "is_org_admin": is_admin,
            "preferred_namespace": false,
        }));
    }
    Ok(Json(json!({
        "anonymous": false,
        "username": account.name,
        "avatar": avatar(&account.name, "user"),
        "can_create_repo": true,
        "is_me": true,
        "verified": true,
        "email": account.email,
        "logins": [],
        "invoice_email": false,
        "invoice_email_address": null,
        "preferred_namespace": false,
        "tag_expiration_s": api.identity.tag_expiration_s(account),
        "prompts": [],
        "company": null,
        "family_name": null,
        "given_name": null,
        "location": null,
        "is_free_account": true,
        "has_password_set": account.has_secret,
        "organizations": orgs,
        "super_user": user.super_user,
    })))
}

/// The public view of a user (not of an organization or robot).
#[utoipa::path(
    get,
    path = "/users/{username}",
    operation_id = "getUserInformation",
    tag = "user",
    params(("username" = String, Path, description = "The user")),
    responses((status = 200, description = "`{anonymous, username, avatar}`"), (status = 404, description = "No such user")),
)]
async fn get_user_information(api: Api, Path(username): Path<String>) -> Result<Json<Value>, ApiError> {
    let user = api.identity.user(&username).await?;
    Ok(Json(json!({
        "anonymous": false,
        "username": user.name,
        "avatar": avatar(&user.name, "user"),
    })))
}
