//! Repository permissions, under `/api/v1/repository/{namespace}/
//! {repository}/permissions/`: the roles users, robots and teams hold on
//! one repository. Only its administrators may see or change them.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::{AccountPermission, Actor, Role, TeamName, TeamPermission};
use berth_core::names::RepositoryName;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, Avatar, JsonBody, avatar};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_repo_user_permissions))
        .routes(routes!(
            get_user_permissions,
            change_user_permissions,
            delete_user_permissions
        ))
        .routes(routes!(get_user_transitive_permission))
        .routes(routes!(list_repo_team_permissions))
        .routes(routes!(
            get_team_permissions,
            change_team_permissions,
            delete_team_permissions
        ))
}

/// A role to grant (Quay's `UserPermission` and `TeamPermission`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRole {
    /// `read`, `write` or `admin`.
    #[schema(value_type = String)]
    role: Role,
}

/// The repository named in a path. A name no repository can have is
/// refused as a repository that does not exist is (nobody administers
/// one): 401 for the anonymous caller, 403 for others.
fn repository_path(api: &Api, namespace: &str, repository: &str) -> Result<RepositoryName, ApiError> {
    RepositoryName::join(namespace, repository).map_err(|_| match api.caller.principal.actor {
        Actor::Anonymous => ApiError::unauthenticated("Requires authentication"),
        _ => ApiError::forbidden("Unauthorized"),
    })
}

/// The team named in a path; a name no team can have holds no role, which
/// Quay answers with a 400.
fn team_path(name: &str) -> Result<TeamName, ApiError> {
    TeamName::new(name).map_err(|e| ApiError::invalid(e.to_string()))
}

/// A user's or robot's own role on a repository.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserPermissionView {
    /// `read`, `write` or `admin`.
    role: String,
    /// The account's name.
    name: String,
    /// Whether the account is a robot.
    is_robot: bool,
    /// Its avatar.
    avatar: Avatar,
    /// For repositories of organizations: whether the account is in one of
    /// its teams (robots always are).
    #[serde(skip_serializing_if = "Option::is_none")]
    is_org_member: Option<bool>,
}

impl From<AccountPermission> for UserPermissionView {
    fn from(p: AccountPermission) -> Self {
        UserPermissionView {
            role: p.role.as_str().to_owned(),
            avatar: avatar(&p.name, if p.is_robot { "robot" } else { "user" }),
            name: p.name,
            is_robot: p.is_robot,
            is_org_member: p.is_org_member,
        }
    }
}

/// The users' and robots' own roles on a repository.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserPermissionsView {
    /// The roles, keyed by account name.
    permissions: BTreeMap<String, UserPermissionView>,
}

/// A team's role on a repository.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TeamPermissionView {
    /// `read`, `write` or `admin`.
    role: String,
    /// The team's name.
    name: String,
    /// Its avatar.
    avatar: Avatar,
}

impl From<TeamPermission> for TeamPermissionView {
    fn from(p: TeamPermission) -> Self {
        TeamPermissionView {
            role: p.role.as_str().to_owned(),
            avatar: avatar(&p.name, "team"),
            name: p.name,
        }
    }
}

/// The teams' roles on a repository.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TeamPermissionsView {
    /// The roles, keyed by team name.
    permissions: BTreeMap<String, TeamPermissionView>,
}

/// One role a user holds on a repository.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RoleView {
    /// `read`, `write` or `admin`.
    role: String,
}

/// The roles a user holds on a repository, by itself and through teams.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TransitivePermissionsView {
    /// One entry per role held.
    permissions: Vec<RoleView>,
}

/// The users' and robots' own roles on a repository, keyed by name.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/permissions/user/",
    operation_id = "listRepoUserPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses(
        (status = 200, description = "The roles by user name", body = UserPermissionsView),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn list_repo_user_permissions(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<Json<UserPermissionsView>, ApiError> {
    let repo = repository_path(&api, &namespace, &repository)?;
    let permissions = api
        .identity
        .repository_account_permissions(&api.caller, &repo)
        .await?;
    Ok(Json(UserPermissionsView {
        permissions: permissions
            .into_iter()
            .map(|p| (p.name.clone(), p.into()))
            .collect(),
    }))
}

/// One user's or robot's own role on a repository.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/permissions/user/{username}",
    operation_id = "getUserPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path), ("username" = String, Path)),
    responses(
        (status = 200, description = "The user's role", body = UserPermissionView),
        (status = 400, description = "The user has no role of its own"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_user_permissions(
    api: Api,
    Path((namespace, repository, username)): Path<(String, String, String)>,
) -> Result<Json<UserPermissionView>, ApiError> {
    let repo = repository_path(&api, &namespace, &repository)?;
    let p = api
        .identity
        .repository_account_permission(&api.caller, &repo, &username)
        .await?;
    Ok(Json(p.into()))
}

/// Give a user or robot a role on a repository.
#[utoipa::path(
    put,
    path = "/repository/{namespace}/{repository}/permissions/user/{username}",
    operation_id = "changeUserPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path), ("username" = String, Path)),
    request_body = NewRole,
    responses(
        (status = 200, description = "The user's role", body = UserPermissionView),
        (status = 400, description = "Invalid role, unknown user or foreign robot"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn change_user_permissions(
    api: Api,
    Path((namespace, repository, username)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<NewRole>,
) -> Result<Json<UserPermissionView>, ApiError> {
    let repo = repository_path(&api, &namespace, &repository)?;
    let p = api
        .identity
        .grant_to_account(&api.caller, &repo, &username, body.role)
        .await?;
    Ok(Json(p.into()))
}

/// Take a user's or robot's own role on a repository away.
#[utoipa::path(
    delete,
    path = "/repository/{namespace}/{repository}/permissions/user/{username}",
    operation_id = "deleteUserPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path), ("username" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The user has no role of its own"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn delete_user_permissions(
    api: Api,
    Path((namespace, repository, username)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let repo = repository_path(&api, &namespace, &repository)?;
    api.identity
        .revoke_from_account(&api.caller, &repo, &username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The roles a user holds on a repository, by itself and through its
/// teams.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/permissions/user/{username}/transitive",
    operation_id = "getUserTransitivePermission",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path), ("username" = String, Path)),
    responses(
        (status = 200, description = "The user's roles", body = TransitivePermissionsView),
        (status = 403, description = "Not an administrator of the repository"),
        (status = 404, description = "Unknown user, or no role at all"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_user_transitive_permission(
    api: Api,
    Path((namespace, repository, username)): Path<(String, String, String)>,
) -> Result<Json<TransitivePermissionsView>, ApiError> {
    let repo = repository_path(&api, &namespace, &repository)?;
    let roles = api
        .identity
        .transitive_roles(&api.caller, &repo, &username)
        .await?;
    Ok(Json(TransitivePermissionsView {
        permissions: roles
            .into_iter()
            .map(|r| RoleView {
                role: r.as_str().to_owned(),
            })
            .collect(),
    }))
}

/// The teams' roles on a repository, keyed by team name.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/permissions/team/",
    operation_id = "listRepoTeamPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses(
        (status = 200, description = "The roles by team name", body = TeamPermissionsView),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn list_repo_team_permissions(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<Json<TeamPermissionsView>, ApiError> {
    let repo = repository_path(&api, &namespace, &repository)?;
    let permissions = api
        .identity
        .repository_team_permissions(&api.caller, &repo)
        .await?;
    Ok(Json(TeamPermissionsView {
        permissions: permissions
            .into_iter()
            .map(|p| (p.name.clone(), p.into()))
            .collect(),
    }))
}

/// One team's role on a repository.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/permissions/team/{teamname}",
    operation_id = "getTeamPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path), ("teamname" = String, Path)),
    responses(
        (status = 200, description = "The team's role", body = TeamPermissionView),
        (status = 400, description = "The team has no role"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_team_permissions(
    api: Api,
    Path((namespace, repository, teamname)): Path<(String, String, String)>,
) -> Result<Json<TeamPermissionView>, ApiError> {
    let repo = repository_path(&api, &namespace, &repository)?;
    let team = team_path(&teamname)?;
    let p = api
        .identity
        .repository_team_permission(&api.caller, &repo, &team)
        .await?;
    Ok(Json(p.into()))
}

/// Give a team of the repository's organization a role on it.
#[utoipa::path(
    put,
    path = "/repository/{namespace}/{repository}/permissions/team/{teamname}",
    operation_id = "changeTeamPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path), ("teamname" = String, Path)),
    request_body = NewRole,
    responses(
        (status = 200, description = "The team's role", body = TeamPermissionView),
        (status = 400, description = "Invalid role, or no such team in the organization"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn change_team_permissions(
    api: Api,
    Path((namespace, repository, teamname)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<NewRole>,
) -> Result<Json<TeamPermissionView>, ApiError> {
    let repo = repository_path(&api, &namespace, &repository)?;
    let team = team_path(&teamname)?;
    let p = api
        .identity
        .grant_to_team(&api.caller, &repo, &team, body.role)
        .await?;
    Ok(Json(p.into()))
}

/// Take a team's role on a repository away.
#[utoipa::path(
    delete,
    path = "/repository/{namespace}/{repository}/permissions/team/{teamname}",
    operation_id = "deleteTeamPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path), ("teamname" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The team has no role"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn delete_team_permissions(
    api: Api,
    Path((namespace, repository, teamname)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let repo = repository_path(&api, &namespace, &repository)?;
    let team = team_path(&teamname)?;
    api.identity.revoke_from_team(&api.caller, &repo, &team).await?;
    Ok(StatusCode::NO_CONTENT)
}
