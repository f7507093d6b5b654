//! Repository permissions, under `/api/v1/repository/{namespace}/
//! {repository}/permissions/`: the roles users, robots and teams hold on
//! one repository. Only its administrators may see or change them.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::{AccountPermission, Action, TeamPermission};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody, avatar};
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
pub(super) struct NewRole {
    /// `read`, `write` or `admin`.
    role: String,
}

fn user_view(p: &AccountPermission) -> Value {
    let mut view = json!({
        "role": p.role,
        "name": p.name,
        "is_robot": p.is_robot,
        "avatar": avatar(&p.name, if p.is_robot { "robot" } else { "user" }),
    });
    if let Some(member) = p.is_org_member {
        view["is_org_member"] = json!(member);
    }
    view
}

fn team_view(p: &TeamPermission) -> Value {
    json!({ "role": p.role, "name": p.name, "avatar": avatar(&p.name, "team") })
}

/// The users' and robots' own roles on a repository, keyed by name.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/permissions/user/",
    operation_id = "listRepoUserPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses(
        (status = 200, description = "`{permissions: {<username>: {role, name, is_robot, avatar, is_org_member}}}`"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn list_repo_user_permissions(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let repo = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&repo)).await?;
    let permissions: Map<String, Value> = api
        .identity
        .repository_account_permissions(&repo)
        .await?
        .iter()
        .map(|p| (p.name.clone(), user_view(p)))
        .collect();
    Ok(Json(json!({ "permissions": permissions })))
}

/// One user's or robot's own role on a repository.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/permissions/user/{username}",
    operation_id = "getUserPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path), ("username" = String, Path)),
    responses(
        (status = 200, description = "`{role, name, is_robot, avatar, is_org_member}`"),
        (status = 400, description = "The user has no role of its own"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_user_permissions(
    api: Api,
    Path((namespace, repository, username)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let repo = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&repo)).await?;
    let p = api
        .identity
        .repository_account_permission(&repo, &username)
        .await?;
    Ok(Json(user_view(&p)))
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
        (status = 200, description = "`{role, name, is_robot, avatar, is_org_member}`"),
        (status = 400, description = "Invalid role, unknown user or foreign robot"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn change_user_permissions(
    api: Api,
    Path((namespace, repository, username)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<NewRole>,
) -> Result<Json<Value>, ApiError> {
    let repo = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&repo)).await?;
    let p = api
        .identity
        .grant_to_account(&api.principal, Some(api.ip), &repo, &username, &body.role)
        .await?;
    Ok(Json(user_view(&p)))
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
    let repo = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&repo)).await?;
    api.identity
        .revoke_from_account(&api.principal, Some(api.ip), &repo, &username)
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
        (status = 200, description = "`{permissions: [{role}]}`"),
        (status = 403, description = "Not an administrator of the repository"),
        (status = 404, description = "Unknown user, or no role at all"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_user_transitive_permission(
    api: Api,
    Path((namespace, repository, username)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let repo = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&repo)).await?;
    let roles = api.identity.transitive_roles(&repo, &username).await?;
    let permissions: Vec<Value> = roles.iter().map(|r| json!({ "role": r.as_str() })).collect();
    Ok(Json(json!({ "permissions": permissions })))
}

/// The teams' roles on a repository, keyed by team name.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/permissions/team/",
    operation_id = "listRepoTeamPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses(
        (status = 200, description = "`{permissions: {<team>: {role, name, avatar}}}`"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn list_repo_team_permissions(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let repo = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&repo)).await?;
    let permissions: Map<String, Value> = api
        .identity
        .repository_team_permissions(&repo)
        .await?
        .iter()
        .map(|p| (p.name.clone(), team_view(p)))
        .collect();
    Ok(Json(json!({ "permissions": permissions })))
}

/// One team's role on a repository.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/permissions/team/{teamname}",
    operation_id = "getTeamPermissions",
    tag = "permission",
    params(("namespace" = String, Path), ("repository" = String, Path), ("teamname" = String, Path)),
    responses(
        (status = 200, description = "`{role, name, avatar}`"),
        (status = 400, description = "The team has no role"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_team_permissions(
    api: Api,
    Path((namespace, repository, teamname)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let repo = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&repo)).await?;
    let p = api.identity.repository_team_permission(&repo, &teamname).await?;
    Ok(Json(team_view(&p)))
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
        (status = 200, description = "`{role, name, avatar}`"),
        (status = 400, description = "Invalid role, or no such team in the organization"),
        (status = 403, description = "Not an administrator of the repository"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn change_team_permissions(
    api: Api,
    Path((namespace, repository, teamname)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<NewRole>,
) -> Result<Json<Value>, ApiError> {
    let repo = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&repo)).await?;
    let p = api
        .identity
        .grant_to_team(&api.principal, Some(api.ip), &repo, &teamname, &body.role)
        .await?;
    Ok(Json(team_view(&p)))
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
    let repo = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&repo)).await?;
    api.identity
        .revoke_from_team(&api.principal, Some(api.ip), &repo, &teamname)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
