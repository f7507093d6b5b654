//! Robot accounts of the calling user (`/api/v1/user/robots/...`) and of
//! organizations (`/api/v1/organization/{orgname}/robots/...`).
//!
//! Tokens are stored only as hashes, so a token appears only in the answer
//! that made it: creation and regeneration. The `token` query parameter of
//! the list is accepted for Quay compatibility and changes nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::Namespace;
use berth_core::identity::robots::{Robot, RobotListing, RobotOwner, RobotPermission};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, ApiQuery, Avatar, avatar, format_date};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_user_robots))
        .routes(routes!(get_user_robot, create_user_robot, delete_user_robot))
        .routes(routes!(get_user_robot_permissions))
        .routes(routes!(regenerate_user_robot_token))
        .routes(routes!(get_org_robots))
        .routes(routes!(get_org_robot, create_org_robot, delete_org_robot))
        .routes(routes!(get_org_robot_permissions))
        .routes(routes!(regenerate_org_robot_token))
}

/// An organization named by the path; an invalid name names none (404).
fn org_name(orgname: String) -> Result<Namespace, ApiError> {
    Namespace::new(orgname).map_err(|e| ApiError::not_found(e.to_string()))
}

/// Query of robot lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RobotListQuery {
    /// Include each robot's teams and repositories.
    #[serde(default)]
    permissions: bool,
    /// Accepted for compatibility; tokens are never listed (they are
    /// stored hashed and shown only on creation and regeneration).
    #[allow(dead_code)]
    token: Option<bool>,
    /// At most this many robots.
    limit: Option<usize>,
}

/// A new robot's optional details.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRobot {
    /// Free text, at most 255 characters.
    description: Option<String>,
    /// Any JSON object, kept with the robot.
    #[schema(value_type = Option<Object>)]
    unstructured_metadata: Option<Value>,
}

/// Quay's robot view; `token` only right after it was made.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RobotView {
    /// The full name, `namespace+short`.
    name: String,
    /// When it was made.
    created: String,
    /// When it was last used, if ever.
    last_accessed: Option<String>,
    /// Free text.
    description: String,
    /// The JSON object given at creation.
    #[schema(value_type = Object)]
    unstructured_metadata: Value,
    /// The token, only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl RobotView {
    fn new(robot: Robot, token: Option<String>) -> RobotView {
        let a = robot.account;
        RobotView {
            name: a.name,
            created: format_date(a.created_ms),
            last_accessed: a.last_accessed_ms.map(format_date),
            description: a.description,
            unstructured_metadata: robot.metadata,
            token,
        }
    }
}

/// A team a robot is in.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RobotTeamView {
    /// The team's name.
    name: String,
    /// The team's avatar.
    avatar: Avatar,
}

/// A robot in a list, never with its token.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RobotSummaryView {
    /// The full name, `namespace+short`.
    name: String,
    /// When it was made.
    created: String,
    /// When it was last used, if ever.
    last_accessed: Option<String>,
    /// Free text.
    description: String,
    /// With `permissions=true`: the teams it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    teams: Option<Vec<RobotTeamView>>,
    /// With `permissions=true`: the repositories it holds a role on.
    #[serde(skip_serializing_if = "Option::is_none")]
    repositories: Option<Vec<String>>,
}

impl From<RobotListing> for RobotSummaryView {
    fn from(r: RobotListing) -> RobotSummaryView {
        let a = r.account;
        RobotSummaryView {
            name: a.name,
            created: format_date(a.created_ms),
            last_accessed: a.last_accessed_ms.map(format_date),
            description: a.description,
            teams: r.teams.map(|teams| {
                teams
                    .into_iter()
                    .map(|t| RobotTeamView {
                        avatar: avatar(&t, "team"),
                        name: t,
                    })
                    .collect()
            }),
            repositories: r.repositories,
        }
    }
}

/// A robot list.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RobotListView {
    /// The robots, by name.
    robots: Vec<RobotSummaryView>,
}

/// A repository as a robot's permission names it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PermissionRepositoryView {
    /// Relative to the owner's namespace.
    name: String,
    /// Whether anyone may pull it.
    is_public: bool,
}

/// One role of a robot.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RobotPermissionView {
    /// The repository.
    repository: PermissionRepositoryView,
    /// `read`, `write` or `admin`.
    role: &'static str,
}

impl From<RobotPermission> for RobotPermissionView {
    fn from(p: RobotPermission) -> RobotPermissionView {
        RobotPermissionView {
            repository: PermissionRepositoryView {
                name: p.repository,
                is_public: p.visibility.is_public(),
            },
            role: p.role.as_str(),
        }
    }
}

/// A robot's roles.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RobotPermissionsView {
    /// By repository.
    permissions: Vec<RobotPermissionView>,
}

async fn list(
    api: Api,
    owner: RobotOwner<'_>,
    query: RobotListQuery,
) -> Result<Json<RobotListView>, ApiError> {
    let robots = api
        .identity
        .robots(&api.caller, owner, query.permissions, query.limit)
        .await?;
    Ok(Json(RobotListView {
        robots: robots.into_iter().map(RobotSummaryView::from).collect(),
    }))
}

async fn get_one(api: Api, owner: RobotOwner<'_>, short: &str) -> Result<Json<RobotView>, ApiError> {
    let robot = api.identity.robot(&api.caller, owner, short).await?;
    Ok(Json(RobotView::new(robot, None)))
}

async fn create(
    api: Api,
    owner: RobotOwner<'_>,
    short: &str,
    body: Bytes,
) -> Result<(StatusCode, Json<RobotView>), ApiError> {
    // The body is optional: Quay's clients often send none.
    let body: NewRobot = if body.iter().all(u8::is_ascii_whitespace) {
        NewRobot::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))?
    };
    let made = api
        .identity
        .create_robot(
            &api.caller,
            owner,
            short,
            body.description.as_deref().unwrap_or_default(),
            body.unstructured_metadata.as_ref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RobotView::new(made.robot, Some(made.token))),
    ))
}

async fn delete(api: Api, owner: RobotOwner<'_>, short: &str) -> Result<StatusCode, ApiError> {
    api.identity.delete_robot(&api.caller, owner, short).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn permissions(
    api: Api,
    owner: RobotOwner<'_>,
    short: &str,
) -> Result<Json<RobotPermissionsView>, ApiError> {
    let perms = api.identity.robot_permissions(&api.caller, owner, short).await?;
    Ok(Json(RobotPermissionsView {
        permissions: perms.into_iter().map(RobotPermissionView::from).collect(),
    }))
}

async fn regenerate(api: Api, owner: RobotOwner<'_>, short: &str) -> Result<Json<RobotView>, ApiError> {
    let made = api
        .identity
        .regenerate_robot_token(&api.caller, owner, short)
        .await?;
    Ok(Json(RobotView::new(made.robot, Some(made.token))))
}

/// The calling user's robots.
#[utoipa::path(
    get,
    path = "/user/robots",
    operation_id = "getUserRobots",
    tag = "robot",
    params(RobotListQuery),
    responses((status = 200, description = "The robots; never with tokens", body = RobotListView)),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_robots(
    api: Api,
    ApiQuery(query): ApiQuery<RobotListQuery>,
) -> Result<Json<RobotListView>, ApiError> {
    list(api, RobotOwner::Caller, query).await
}

/// One robot of the calling user (without its token).
#[utoipa::path(
    get,
    path = "/user/robots/{robot_shortname}",
    operation_id = "getUserRobot",
    tag = "robot",
    params(("robot_shortname" = String, Path, description = "The robot's short name")),
    responses((status = 200, description = "The robot", body = RobotView), (status = 404, description = "No such robot")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_robot(api: Api, Path(short): Path<String>) -> Result<Json<RobotView>, ApiError> {
    get_one(api, RobotOwner::Caller, &short).await
}

/// Create a robot of the calling user; the answer holds its token, shown
/// only this once.
#[utoipa::path(
    put,
    path = "/user/robots/{robot_shortname}",
    operation_id = "createUserRobot",
    tag = "robot",
    params(("robot_shortname" = String, Path, description = "The robot's short name")),
    request_body(content = NewRobot, description = "Optional"),
    responses((status = 201, description = "Created, with `token`", body = RobotView), (status = 400, description = "Invalid name or exists")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn create_user_robot(
    api: Api,
    Path(short): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<RobotView>), ApiError> {
    create(api, RobotOwner::Caller, &short, body).await
}

/// Delete a robot of the calling user.
#[utoipa::path(
    delete,
    path = "/user/robots/{robot_shortname}",
    operation_id = "deleteUserRobot",
    tag = "robot",
    params(("robot_shortname" = String, Path, description = "The robot's short name")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such robot")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn delete_user_robot(api: Api, Path(short): Path<String>) -> Result<StatusCode, ApiError> {
    delete(api, RobotOwner::Caller, &short).await
}

/// The repository roles granted to a robot of the calling user.
#[utoipa::path(
    get,
    path = "/user/robots/{robot_shortname}/permissions",
    operation_id = "getUserRobotPermissions",
    tag = "robot",
    params(("robot_shortname" = String, Path, description = "The robot's short name")),
    responses((status = 200, description = "The robot's roles", body = RobotPermissionsView)),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_robot_permissions(
    api: Api,
    Path(short): Path<String>,
) -> Result<Json<RobotPermissionsView>, ApiError> {
    permissions(api, RobotOwner::Caller, &short).await
}

/// Give a robot of the calling user a new token; the old one stops working.
#[utoipa::path(
    post,
    path = "/user/robots/{robot_shortname}/regenerate",
    operation_id = "regenerateUserRobotToken",
    tag = "robot",
    params(("robot_shortname" = String, Path, description = "The robot's short name")),
    responses((status = 200, description = "The robot, with its new `token`", body = RobotView)),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn regenerate_user_robot_token(
    api: Api,
    Path(short): Path<String>,
) -> Result<Json<RobotView>, ApiError> {
    regenerate(api, RobotOwner::Caller, &short).await
}

/// An organization's robots.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/robots",
    operation_id = "getOrgRobots",
    tag = "robot",
    params(("orgname" = String, Path, description = "The organization"), RobotListQuery),
    responses((status = 200, description = "The robots; never with tokens", body = RobotListView)),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org_robots(
    api: Api,
    Path(orgname): Path<String>,
    ApiQuery(query): ApiQuery<RobotListQuery>,
) -> Result<Json<RobotListView>, ApiError> {
    let org = org_name(orgname)?;
    list(api, RobotOwner::Organization(&org), query).await
}

/// One robot of an organization (without its token).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/robots/{robot_shortname}",
    operation_id = "getOrgRobot",
    tag = "robot",
    params(("orgname" = String, Path), ("robot_shortname" = String, Path)),
    responses((status = 200, description = "The robot", body = RobotView), (status = 404, description = "No such robot")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org_robot(
    api: Api,
    Path((orgname, short)): Path<(String, String)>,
) -> Result<Json<RobotView>, ApiError> {
    let org = org_name(orgname)?;
    get_one(api, RobotOwner::Organization(&org), &short).await
}

/// Create a robot of an organization; the answer holds its token, shown
/// only this once.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/robots/{robot_shortname}",
    operation_id = "createOrgRobot",
    tag = "robot",
    params(("orgname" = String, Path), ("robot_shortname" = String, Path)),
    request_body(content = NewRobot, description = "Optional"),
    responses((status = 201, description = "Created, with `token`", body = RobotView), (status = 400, description = "Invalid name or exists")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_org_robot(
    api: Api,
    Path((orgname, short)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<RobotView>), ApiError> {
    let org = org_name(orgname)?;
    create(api, RobotOwner::Organization(&org), &short, body).await
}

/// Delete a robot of an organization.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/robots/{robot_shortname}",
    operation_id = "deleteOrgRobot",
    tag = "robot",
    params(("orgname" = String, Path), ("robot_shortname" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such robot")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_org_robot(
    api: Api,
    Path((orgname, short)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let org = org_name(orgname)?;
    delete(api, RobotOwner::Organization(&org), &short).await
}

/// The repository roles granted to a robot of an organization.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/robots/{robot_shortname}/permissions",
    operation_id = "getOrgRobotPermissions",
    tag = "robot",
    params(("orgname" = String, Path), ("robot_shortname" = String, Path)),
    responses((status = 200, description = "The robot's roles", body = RobotPermissionsView)),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org_robot_permissions(
    api: Api,
    Path((orgname, short)): Path<(String, String)>,
) -> Result<Json<RobotPermissionsView>, ApiError> {
    let org = org_name(orgname)?;
    permissions(api, RobotOwner::Organization(&org), &short).await
}

/// Give a robot of an organization a new token; the old one stops working.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/robots/{robot_shortname}/regenerate",
    operation_id = "regenerateOrgRobotToken",
    tag = "robot",
    params(("orgname" = String, Path), ("robot_shortname" = String, Path)),
    responses((status = 200, description = "The robot, with its new `token`", body = RobotView)),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn regenerate_org_robot_token(
    api: Api,
    Path((orgname, short)): Path<(String, String)>,
) -> Result<Json<RobotView>, ApiError> {
    let org = org_name(orgname)?;
    regenerate(api, RobotOwner::Organization(&org), &short).await
}
