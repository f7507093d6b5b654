//! Robot accounts of the calling user (`/api/v1/user/robots/...`) and of
//! organizations (`/api/v1/organization/{orgname}/robots/...`).
//!
//! Tokens are stored only as hashes, so a token appears only in the answer
//! that made it: creation and regeneration. The `token` query parameter of
//! the list is accepted for Quay compatibility and changes nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use berth_core::identity::Action;
use berth_core::identity::robots::Robot;
use berth_store::metadata::{AccountRow, PermissionRow};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, avatar, format_date};
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

/// Whose robots: the caller's own, or an organization's.
enum Owner<'a> {
    /// The calling user's namespace.
    User,
    /// An organization's.
    Org(&'a str),
}

/// Authorize the caller for the owner's robots and find the owner.
async fn owner(api: &Api, owner: Owner<'_>) -> Result<AccountRow, ApiError> {
    match owner {
        Owner::User => {
            api.authorize(Action::AdministerUser).await?;
            let name = api
                .principal
                .name()
                .ok_or_else(|| ApiError::unauthenticated("Requires authentication"))?;
            Ok(api.identity.robot_owner(name).await?)
        }
        Owner::Org(org) => {
            api.authorize(Action::AdministerNamespace(org)).await?;
            Ok(api.identity.organization(org).await?)
        }
    }
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
pub(super) struct NewRobot {
    /// Free text, at most 255 characters.
    description: Option<String>,
    /// Any JSON object, kept with the robot.
    #[schema(value_type = Option<Object>)]
    unstructured_metadata: Option<Value>,
}

/// A repository name relative to the owner's namespace, as Quay shows it.
fn short_repo<'a>(owner: &AccountRow, full: &'a str) -> &'a str {
    full.strip_prefix(owner.name.as_str())
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(full)
}

/// Quay's robot view; `token` only right after it was made.
fn robot_view(robot: &Robot, token: Option<&str>) -> Value {
    let a = &robot.account;
    let mut view = json!({
        "name": a.name,
        "created": format_date(a.created_ms),
        "last_accessed": a.last_accessed_ms.map(format_date),
        "description": a.description,
        "unstructured_metadata": robot.metadata,
    });
    if let Some(token) = token {
        view["token"] = json!(token);
    }
    view
}

fn permissions_view(owner: &AccountRow, perms: &[PermissionRow]) -> Value {
    let list: Vec<Value> = perms
        .iter()
        .map(|p| {
            json!({
                "repository": { "name": short_repo(owner, &p.repository), "is_public": p.is_public },
                "role": p.role,
            })
        })
        .collect();
    json!({ "permissions": list })
}

async fn list(
    api: Api,
    who: Owner<'_>,
    query: Result<Query<RobotListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let owner = owner(&api, who).await?;
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let mut robots = api.identity.robots(&owner).await?;
    if let Some(limit) = query.limit {
        robots.truncate(limit);
    }
    let mut out = Vec::with_capacity(robots.len());
    for r in &robots {
        let mut view = json!({
            "name": r.name,
            "created": format_date(r.created_ms),
            "last_accessed": r.last_accessed_ms.map(format_date),
            "description": r.description,
        });
        if query.permissions {
            let teams = api.identity.robot_teams(&owner, r.id).await?;
            let perms = api.identity.account_permissions(r.id).await?;
            view["teams"] = json!(
                teams
                    .iter()
                    .map(|t| json!({ "name": t.name, "avatar": avatar(&t.name, "team") }))
                    .collect::<Vec<_>>()
            );
            view["repositories"] = json!(
                perms
                    .iter()
                    .map(|p| short_repo(&owner, &p.repository))
                    .collect::<Vec<_>>()
            );
        }
        out.push(view);
    }
    Ok(Json(json!({ "robots": out })))
}

async fn get_one(api: Api, who: Owner<'_>, short: &str) -> Result<Json<Value>, ApiError> {
    let owner = owner(&api, who).await?;
    let robot = api.identity.robot(&owner, short).await?;
    Ok(Json(robot_view(&robot, None)))
}

async fn create(
    api: Api,
    who: Owner<'_>,
    short: &str,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let owner = owner(&api, who).await?;
    let body: NewRobot = if body.iter().all(u8::is_ascii_whitespace) {
        NewRobot::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))?
    };
    let made = api
        .identity
        .create_robot(
            &api.principal,
            &owner,
            short,
            body.description.as_deref().unwrap_or_default(),
            body.unstructured_metadata.as_ref(),
            Some(api.ip),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(robot_view(&made.robot, Some(&made.token))),
    ))
}

async fn delete(api: Api, who: Owner<'_>, short: &str) -> Result<StatusCode, ApiError> {
    let owner = owner(&api, who).await?;
    api.identity
        .delete_robot(&api.principal, &owner, short, Some(api.ip))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn permissions(api: Api, who: Owner<'_>, short: &str) -> Result<Json<Value>, ApiError> {
    let owner = owner(&api, who).await?;
    let robot = api.identity.robot(&owner, short).await?;
    let perms = api.identity.account_permissions(robot.account.id).await?;
    Ok(Json(permissions_view(&owner, &perms)))
}

async fn regenerate(api: Api, who: Owner<'_>, short: &str) -> Result<Json<Value>, ApiError> {
    let owner = owner(&api, who).await?;
    let made = api
        .identity
        .regenerate_robot_token(&api.principal, &owner, short, Some(api.ip))
        .await?;
    Ok(Json(robot_view(&made.robot, Some(&made.token))))
}

/// The calling user's robots.
#[utoipa::path(
    get,
    path = "/user/robots",
    operation_id = "getUserRobots",
    tag = "robot",
    params(RobotListQuery),
    responses((status = 200, description = "`{robots: [...]}`; never includes tokens")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_robots(
    api: Api,
    query: Result<Query<RobotListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    list(api, Owner::User, query).await
}

/// One robot of the calling user (without its token).
#[utoipa::path(
    get,
    path = "/user/robots/{robot_shortname}",
    operation_id = "getUserRobot",
    tag = "robot",
    params(("robot_shortname" = String, Path, description = "The robot's short name")),
    responses((status = 200, description = "The robot"), (status = 404, description = "No such robot")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_robot(api: Api, Path(short): Path<String>) -> Result<Json<Value>, ApiError> {
    get_one(api, Owner::User, &short).await
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
    responses((status = 201, description = "Created, with `token`"), (status = 400, description = "Invalid name or exists")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn create_user_robot(
    api: Api,
    Path(short): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    create(api, Owner::User, &short, body).await
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
    delete(api, Owner::User, &short).await
}

/// The repository roles granted to a robot of the calling user.
#[utoipa::path(
    get,
    path = "/user/robots/{robot_shortname}/permissions",
    operation_id = "getUserRobotPermissions",
    tag = "robot",
    params(("robot_shortname" = String, Path, description = "The robot's short name")),
    responses((status = 200, description = "`{permissions: [{repository: {name, is_public}, role}]}`")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user_robot_permissions(api: Api, Path(short): Path<String>) -> Result<Json<Value>, ApiError> {
    permissions(api, Owner::User, &short).await
}

/// Give a robot of the calling user a new token; the old one stops working.
#[utoipa::path(
    post,
    path = "/user/robots/{robot_shortname}/regenerate",
    operation_id = "regenerateUserRobotToken",
    tag = "robot",
    params(("robot_shortname" = String, Path, description = "The robot's short name")),
    responses((status = 200, description = "The robot, with its new `token`")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn regenerate_user_robot_token(api: Api, Path(short): Path<String>) -> Result<Json<Value>, ApiError> {
    regenerate(api, Owner::User, &short).await
}

/// An organization's robots.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/robots",
    operation_id = "getOrgRobots",
    tag = "robot",
    params(("orgname" = String, Path, description = "The organization"), RobotListQuery),
    responses((status = 200, description = "`{robots: [...]}`; never includes tokens")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org_robots(
    api: Api,
    Path(orgname): Path<String>,
    query: Result<Query<RobotListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    list(api, Owner::Org(&orgname), query).await
}

/// One robot of an organization (without its token).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/robots/{robot_shortname}",
    operation_id = "getOrgRobot",
    tag = "robot",
    params(("orgname" = String, Path), ("robot_shortname" = String, Path)),
    responses((status = 200, description = "The robot"), (status = 404, description = "No such robot")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org_robot(
    api: Api,
    Path((orgname, short)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    get_one(api, Owner::Org(&orgname), &short).await
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
    responses((status = 201, description = "Created, with `token`"), (status = 400, description = "Invalid name or exists")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_org_robot(
    api: Api,
    Path((orgname, short)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    create(api, Owner::Org(&orgname), &short, body).await
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
    delete(api, Owner::Org(&orgname), &short).await
}

/// The repository roles granted to a robot of an organization.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/robots/{robot_shortname}/permissions",
    operation_id = "getOrgRobotPermissions",
    tag = "robot",
    params(("orgname" = String, Path), ("robot_shortname" = String, Path)),
    responses((status = 200, description = "`{permissions: [{repository: {name, is_public}, role}]}`")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org_robot_permissions(
    api: Api,
    Path((orgname, short)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    permissions(api, Owner::Org(&orgname), &short).await
}

/// Give a robot of an organization a new token; the old one stops working.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/robots/{robot_shortname}/regenerate",
    operation_id = "regenerateOrgRobotToken",
    tag = "robot",
    params(("orgname" = String, Path), ("robot_shortname" = String, Path)),
    responses((status = 200, description = "The robot, with its new `token`")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn regenerate_org_robot_token(
    api: Api,
    Path((orgname, short)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    regenerate(api, Owner::Org(&orgname), &short).await
}
