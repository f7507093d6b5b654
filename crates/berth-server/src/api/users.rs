//! Users: the calling user (`GET /api/v1/user/`, and `PUT /api/v1/user/`
//! for the contact address and the namespace's time-machine window) and
//! any user's public view (`GET /api/v1/users/{username}`).

use axum::Json;
use axum::extract::Path;
use berth_core::Namespace;
use berth_core::identity::{UserChange, UserOrganization, UserProfile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, Avatar, JsonBody, avatar};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_logged_in_user, change_user_details))
        .routes(routes!(get_user_information))
}

/// An organization of the calling user, as Quay shows it in the user view.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserOrganizationView {
    /// The organization.
    name: String,
    /// Its avatar.
    avatar: Avatar,
    /// Whether the user may create repositories in it.
    can_create_repo: bool,
    /// Always false: Berth has no public organizations listing.
    public: bool,
    /// Whether the user administers it.
    is_org_admin: bool,
    /// Always false.
    preferred_namespace: bool,
}

/// Quay's view of the calling user. Fields Berth does not keep are shown
/// with Quay's defaults.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserView {
    /// Always false.
    anonymous: bool,
    /// The user's name.
    username: String,
    /// The user's avatar.
    avatar: Avatar,
    /// Always true: a user may create repositories in their namespace.
    can_create_repo: bool,
    /// Always true.
    is_me: bool,
    /// Always true.
    verified: bool,
    /// Contact address.
    email: Option<String>,
    /// External logins: none.
    logins: Vec<String>,
    /// Always false.
    invoice_email: bool,
    /// Always null.
    invoice_email_address: Option<String>,
    /// Always false.
    preferred_namespace: bool,
    /// The namespace's time-machine window in seconds.
    tag_expiration_s: i64,
    /// Always empty.
    prompts: Vec<String>,
    /// Always null.
    company: Option<String>,
    /// Always null.
    family_name: Option<String>,
    /// Always null.
    given_name: Option<String>,
    /// Always null.
    location: Option<String>,
    /// Always true.
    is_free_account: bool,
    /// Whether a password is set.
    has_password_set: bool,
    /// The organizations the user is in.
    organizations: Vec<UserOrganizationView>,
    /// Whether the user is a superuser.
    super_user: bool,
}

impl From<UserProfile> for UserView {
    fn from(p: UserProfile) -> UserView {
        let a = p.account;
        UserView {
            anonymous: false,
            avatar: avatar(&a.name, "user"),
            username: a.name,
            can_create_repo: true,
            is_me: true,
            verified: true,
            email: a.email,
            logins: Vec::new(),
            invoice_email: false,
            invoice_email_address: None,
            preferred_namespace: false,
            tag_expiration_s: p.tag_expiration_s,
            prompts: Vec::new(),
            company: None,
            family_name: None,
            given_name: None,
            location: None,
            is_free_account: true,
            has_password_set: a.has_secret,
            organizations: p
                .organizations
                .into_iter()
                .map(UserOrganizationView::from)
                .collect(),
            super_user: p.super_user,
        }
    }
}

impl From<UserOrganization> for UserOrganizationView {
    fn from(o: UserOrganization) -> UserOrganizationView {
        UserOrganizationView {
            avatar: avatar(&o.name, "org"),
            name: o.name,
            can_create_repo: o.can_create_repo,
            public: false,
            is_org_admin: o.is_admin,
            preferred_namespace: false,
        }
    }
}

/// The user the credentials belong to.
#[utoipa::path(
    get,
    path = "/user/",
    operation_id = "getLoggedInUser",
    tag = "user",
    responses((status = 200, description = "The user", body = UserView), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:read"]))
)]
async fn get_logged_in_user(api: Api) -> Result<Json<UserView>, ApiError> {
    let profile = api.identity.logged_in_user(&api.caller).await?;
    Ok(Json(profile.into()))
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
    responses((status = 200, description = "The user", body = UserView), (status = 400, description = "Invalid value"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn change_user_details(
    api: Api,
    JsonBody(body): JsonBody<UserDetails>,
) -> Result<Json<UserView>, ApiError> {
    let change = UserChange {
        email: body.email,
        tag_expiration_s: body.tag_expiration_s,
    };
    let profile = api.identity.change_user(&api.caller, change).await?;
    Ok(Json(profile.into()))
}

/// Quay's public view of a user.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PublicUserView {
    /// Always false.
    anonymous: bool,
    /// The user's name.
    username: String,
    /// The user's avatar.
    avatar: Avatar,
}

/// The public view of a user (not of an organization or robot).
#[utoipa::path(
    get,
    path = "/users/{username}",
    operation_id = "getUserInformation",
    tag = "user",
    params(("username" = String, Path, description = "The user")),
    responses((status = 200, description = "The user", body = PublicUserView), (status = 404, description = "No such user")),
)]
async fn get_user_information(
    api: Api,
    Path(username): Path<String>,
) -> Result<Json<PublicUserView>, ApiError> {
    // An invalid name names no user.
    let name = Namespace::new(username).map_err(|e| ApiError::not_found(e.to_string()))?;
    let user = api.identity.user(&name).await?;
    Ok(Json(PublicUserView {
        anonymous: false,
        avatar: avatar(&user.name, "user"),
        username: user.name,
    }))
}
