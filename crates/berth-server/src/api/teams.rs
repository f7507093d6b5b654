//! Teams of an organization, under `/api/v1/organization/{orgname}/team/
//! {teamname}`: create-or-update, delete, members, repository roles.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::Action;
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
        .routes(routes!(update_organization_team, delete_organization_team))
        .routes(routes!(get_organization_team_members))
        .routes(routes!(
            update_organization_team_member,
            delete_organization_team_member
        ))
        .routes(routes!(get_organization_team_permissions))
}

/// A team's organization-wide role and description (Quay's
/// `TeamDescription`).
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct TeamDescription {
    /// `member`, `creator` or `admin`.
    role: String,
    /// Markdown description; unchanged if absent.
    description: Option<String>,
}

/// A team member as Quay shows it.
fn member_view(name: &str, is_robot: bool) -> Value {
    json!({
        "name": name,
        "kind": "user",
        "is_robot": is_robot,
        "avatar": avatar(name, if is_robot { "robot" } else { "user" }),
        "invited": false,
    })
}

/// Create a team, or change an existing team's role and description.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/team/{teamname}",
    operation_id = "updateOrganizationTeam",
    tag = "team",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("teamname" = String, Path, description = "The team"),
    ),
    request_body = TeamDescription,
    responses(
        (status = 200, description = "`{name, description, can_view, role, avatar, new_team}`"),
        (status = 400, description = "Invalid name or role"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn update_organization_team(
    api: Api,
    Path((orgname, teamname)): Path<(String, String)>,
    JsonBody(body): JsonBody<TeamDescription>,
) -> Result<Json<Value>, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    let update = api
        .identity
        .put_team(
            &api.principal,
            Some(api.ip),
            &org,
            &teamname,
            &body.role,
            body.description.as_deref(),
        )
        .await?;
    let team = update.team;
    Ok(Json(json!({
        "name": team.name,
        "description": team.description,
        "can_view": api.may(Action::ViewTeam(&orgname, &team.name)).await?,
        "role": team.role,
        "avatar": avatar(&team.name, "team"),
        "new_team": update.created,
    })))
}

/// Delete a team (not `owners`).
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/team/{teamname}",
    operation_id = "deleteOrganizationTeam",
    tag = "team",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("teamname" = String, Path, description = "The team"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The owners team cannot be deleted"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or team"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_organization_team(
    api: Api,
    Path((orgname, teamname)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    api.identity
        .delete_team(&api.principal, Some(api.ip), &org, &teamname)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of a team; its members and the organization's
/// administrators may look.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/team/{teamname}/members",
    operation_id = "getOrganizationTeamMembers",
    tag = "team",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("teamname" = String, Path, description = "The team"),
    ),
    responses(
        (status = 200, description = "`{name, members: [...], can_edit}`"),
        (status = 403, description = "Neither in the team nor an administrator"),
        (status = 404, description = "No such organization or team"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_team_members(
    api: Api,
    Path((orgname, teamname)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::ViewTeam(&orgname, &teamname)).await?;
    let team = api.identity.team(&org, &teamname).await?;
    let members = api.identity.team_members(&team).await?;
    Ok(Json(json!({
        "name": team.name,
        "members": members.iter().map(|m| member_view(&m.name, m.kind == "robot")).collect::<Vec<_>>(),
        "can_edit": api.may(Action::AdministerNamespace(&orgname)).await?,
    })))
}

/// Add a user, or a robot of the organization, to a team.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/team/{teamname}/members/{membername}",
    operation_id = "updateOrganizationTeamMember",
    tag = "team",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("teamname" = String, Path, description = "The team"),
        ("membername" = String, Path, description = "The user or robot (`org+name`)"),
    ),
    responses(
        (status = 200, description = "`{name, kind, is_robot, avatar, invited}`"),
        (status = 400, description = "Unknown user, foreign robot or already a member"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or team"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn update_organization_team_member(
    api: Api,
    Path((orgname, teamname, membername)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    let account = api
        .identity
        .add_team_member(&api.principal, Some(api.ip), &org, &teamname, &membername)
        .await?;
    Ok(Json(member_view(&account.name, account.kind == "robot")))
}

/// Remove a member from a team; the last user of `owners` stays.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/team/{teamname}/members/{membername}",
    operation_id = "deleteOrganizationTeamMember",
    tag = "team",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("teamname" = String, Path, description = "The team"),
        ("membername" = String, Path, description = "The user or robot"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Not a member, or the last user of owners"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization, team or user"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_organization_team_member(
    api: Api,
    Path((orgname, teamname, membername)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    api.identity
        .remove_team_member(&api.principal, Some(api.ip), &org, &teamname, &membername)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The repositories a team has a role on.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/team/{teamname}/permissions",
    operation_id = "getOrganizationTeamPermissions",
    tag = "team",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("teamname" = String, Path, description = "The team"),
    ),
    responses(
        (status = 200, description = "`{permissions: [{repository: {name, is_public}, role}]}`"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or team"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_team_permissions(
    api: Api,
    Path((orgname, teamname)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    let team = api.identity.team(&org, &teamname).await?;
    let permissions: Vec<Value> = api
        .identity
        .team_permissions(&team)
        .await?
        .into_iter()
        .map(|p| {
            let name = p
                .repository
                .split_once('/')
                .map_or(p.repository.as_str(), |(_, n)| n);
            json!({ "repository": { "name": name, "is_public": p.is_public }, "role": p.role })
        })
        .collect();
    Ok(Json(json!({ "permissions": permissions })))
}
