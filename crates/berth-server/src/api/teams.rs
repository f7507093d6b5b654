//! Teams of an organization, under `/api/v1/organization/{orgname}/team/
//! {teamname}`: create-or-update, delete, members, repository roles.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::{Account, TeamMember, TeamName, TeamRepositoryRole, TeamRole};
use berth_core::names::AccountKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, Avatar, JsonBody, avatar};
use super::organizations::organization_path;
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
#[serde(deny_unknown_fields)]
pub(super) struct TeamDescription {
    /// `member`, `creator` or `admin`.
    #[schema(value_type = String)]
    role: TeamRole,
    /// Markdown description; unchanged if absent.
    description: Option<String>,
}

/// The team named in a path; a name no team can have is one that does not
/// exist.
fn team_path(name: &str) -> Result<TeamName, ApiError> {
    TeamName::new(name).map_err(|_| ApiError::not_found(format!("team {name} not found")))
}

/// A team as Quay shows it after a change.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TeamView {
    /// The team's name.
    name: String,
    /// Markdown description.
    description: String,
    /// Whether the caller may view its members.
    can_view: bool,
    /// `member`, `creator` or `admin`.
    role: String,
    /// Its avatar.
    avatar: Avatar,
    /// Whether this request created it.
    new_team: bool,
}

/// A team member as Quay shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TeamMemberView {
    /// The account's name.
    name: String,
    /// Always `user` (robots too, as in Quay; see `is_robot`).
    kind: String,
    /// Whether the member is a robot.
    is_robot: bool,
    /// Its avatar.
    avatar: Avatar,
    /// Always `false`: there are no e-mail invitations here.
    invited: bool,
}

impl TeamMemberView {
    fn new(name: String, kind: AccountKind) -> TeamMemberView {
        TeamMemberView {
            avatar: avatar(&name, kind.as_str()),
            name,
            kind: "user".to_owned(),
            is_robot: kind == AccountKind::Robot,
            invited: false,
        }
    }
}

impl From<TeamMember> for TeamMemberView {
    fn from(m: TeamMember) -> Self {
        TeamMemberView::new(m.name, m.kind)
    }
}

impl From<Account> for TeamMemberView {
    fn from(a: Account) -> Self {
        TeamMemberView::new(a.name, a.kind)
    }
}

/// The members of a team.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TeamMembersView {
    /// The team's name.
    name: String,
    /// Its members, by name.
    members: Vec<TeamMemberView>,
    /// Whether the caller may change the team.
    can_edit: bool,
}

/// A team's roles on the organization's repositories.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TeamRepositoryRolesView {
    /// One entry per repository, by name.
    permissions: Vec<TeamRepositoryRoleView>,
}

/// A team's role on one repository.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TeamRepositoryRoleView {
    /// The repository.
    repository: TeamRepositoryView,
    /// `read`, `write` or `admin`.
    role: String,
}

/// A repository in a team's permission listing.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TeamRepositoryView {
    /// The repository's name within the organization.
    name: String,
    /// Whether anyone may pull it.
    is_public: bool,
}

impl From<TeamRepositoryRole> for TeamRepositoryRoleView {
    fn from(p: TeamRepositoryRole) -> Self {
        TeamRepositoryRoleView {
            repository: TeamRepositoryView {
                name: p.repository.short().to_owned(),
                is_public: p.visibility.is_public(),
            },
            role: p.role.as_str().to_owned(),
        }
    }
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
        (status = 200, description = "The team as it is now", body = TeamView),
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
) -> Result<Json<TeamView>, ApiError> {
    let org = organization_path(&orgname)?;
    // Creating a team with an invalid name is a bad request, not a
    // missing team.
    let name = TeamName::new(teamname).map_err(|e| ApiError::invalid(e.to_string()))?;
    let update = api
        .identity
        .put_team(&api.caller, &org, &name, body.role, body.description.as_deref())
        .await?;
    let team = update.team;
    Ok(Json(TeamView {
        avatar: avatar(&team.name, "team"),
        name: team.name,
        description: team.description,
        can_view: update.can_view,
        role: team.role.as_str().to_owned(),
        new_team: update.created,
    }))
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
    let (org, team) = (organization_path(&orgname)?, team_path(&teamname)?);
    api.identity.delete_team(&api.caller, &org, &team).await?;
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
        (status = 200, description = "The team's members", body = TeamMembersView),
        (status = 403, description = "Neither in the team nor an administrator"),
        (status = 404, description = "No such organization or team"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_team_members(
    api: Api,
    Path((orgname, teamname)): Path<(String, String)>,
) -> Result<Json<TeamMembersView>, ApiError> {
    let (org, team) = (organization_path(&orgname)?, team_path(&teamname)?);
    let team = api.identity.team_members(&api.caller, &org, &team).await?;
    Ok(Json(TeamMembersView {
        name: team.team.name,
        members: team.members.into_iter().map(Into::into).collect(),
        can_edit: team.can_edit,
    }))
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
        (status = 200, description = "The new member", body = TeamMemberView),
        (status = 400, description = "Unknown user, foreign robot or already a member"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or team"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn update_organization_team_member(
    api: Api,
    Path((orgname, teamname, membername)): Path<(String, String, String)>,
) -> Result<Json<TeamMemberView>, ApiError> {
    let (org, team) = (organization_path(&orgname)?, team_path(&teamname)?);
    let account = api
        .identity
        .add_team_member(&api.caller, &org, &team, &membername)
        .await?;
    Ok(Json(account.into()))
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
    let (org, team) = (organization_path(&orgname)?, team_path(&teamname)?);
    api.identity
        .remove_team_member(&api.caller, &org, &team, &membername)
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
        (status = 200, description = "The team's repository roles", body = TeamRepositoryRolesView),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or team"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_team_permissions(
    api: Api,
    Path((orgname, teamname)): Path<(String, String)>,
) -> Result<Json<TeamRepositoryRolesView>, ApiError> {
    let (org, team) = (organization_path(&orgname)?, team_path(&teamname)?);
    let permissions = api.identity.team_permissions(&api.caller, &org, &team).await?;
    Ok(Json(TeamRepositoryRolesView {
        permissions: permissions.into_iter().map(Into::into).collect(),
    }))
}
