//! A team's page: its role, its members (add users or robots, remove
//! them) and the repositories it holds a role on (grant, change, revoke),
//! and deleting it. Members of the team see it; administrators change it.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use berth_core::identity::{Role, TeamName, TeamRole};
use berth_core::{Namespace, RepositoryName};
use serde::Deserialize;

use super::error::{ConsoleError, page};
use super::members::{Notice, organization_name};
use super::outcome::{after_post, done, required};
use super::session::{Posted, Visitor};
use super::view::Chrome;

/// A repository the team holds a role on.
struct GrantRow {
    /// Short name within the organization.
    repository: String,
    role: &'static str,
    visibility: &'static str,
}

/// The team page.
#[derive(Template)]
#[template(path = "console/org_team.html")]
struct TeamPage {
    chrome: Chrome,
    name: String,
    is_admin: bool,
    tab: &'static str,
    team: String,
    role: &'static str,
    description: String,
    members: Vec<(String, bool)>,
    grants: Vec<GrantRow>,
    team_roles: [&'static str; 3],
    repo_roles: [&'static str; 3],
    notice: Option<&'static str>,
    problem: Option<String>,
}

fn team_name(path: &str) -> Result<TeamName, ConsoleError> {
    TeamName::new(path).map_err(|_| ConsoleError::not_found("team not found"))
}

async fn render(
    visitor: &Visitor,
    org: &Namespace,
    team: &TeamName,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let found = visitor.identity.team_members(&visitor.caller, org, team).await?;
    let grants = if found.can_edit {
        visitor
            .identity
            .team_permissions(&visitor.caller, org, team)
            .await?
            .into_iter()
            .map(|g| GrantRow {
                repository: g
                    .repository
                    .as_str()
                    .strip_prefix(&format!("{org}/"))
                    .unwrap_or(g.repository.as_str())
                    .to_owned(),
                role: g.role.as_str(),
                visibility: g.visibility.as_str(),
            })
            .collect()
    } else {
        Vec::new()
    };
    page(&TeamPage {
        chrome: visitor.chrome(),
        name: org.to_string(),
        is_admin: found.can_edit,
        tab: "team",
        team: found.team.name,
        role: found.team.role.as_str(),
        description: found.team.description,
        members: found
            .members
            .into_iter()
            .map(|m| {
                let robot = m.is_robot();
                (m.name, robot)
            })
            .collect(),
        grants,
        team_roles: ["member", "creator", "admin"],
        repo_roles: ["read", "write", "admin"],
        notice,
        problem,
    })
}

/// `GET /organization/{name}/teams/{team}`.
pub(crate) async fn show(
    visitor: Visitor,
    Path((name, team)): Path<(String, String)>,
    Query(q): Query<Notice>,
) -> Result<Response, ConsoleError> {
    let org = organization_name(&name)?;
    let team = team_name(&team)?;
    let notice = match q.done.as_deref() {
        Some("role") => Some("Role saved."),
        Some("added") => Some("Member added."),
        Some("removed") => Some("Member removed."),
        Some("granted") => Some("Repository permission saved."),
        Some("revoked") => Some("Repository permission removed."),
        _ => None,
    };
    render(&visitor, &org, &team, notice, None).await
}

/// A change posted from the team page.
#[derive(Debug, Deserialize)]
pub(crate) struct TeamAction {
    action: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    repository: String,
}

/// `POST /organization/{name}/teams/{team}`.
pub(crate) async fn act(
    Path((name, team)): Path<(String, String)>,
    posted: Posted<TeamAction>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let org = organization_name(&name)?;
    let team = team_name(&team)?;
    let here = format!("/organization/{org}/teams/{team}");
    let caller = &visitor.caller;
    let identity = &visitor.identity;
    let result = async {
        let repository = || -> Result<RepositoryName, ConsoleError> {
            RepositoryName::join(org.as_str(), required(&form.repository, "repository")?)
                .map_err(|e| ConsoleError::invalid(e.to_string()))
        };
        match form.action.as_str() {
            "set_role" => {
                let role = TeamRole::parse(&form.role)
                    .ok_or_else(|| ConsoleError::invalid("role must be member, creator or admin"))?;
                identity.put_team(caller, &org, &team, role, None).await?;
                Ok(done(&here, "role"))
            }
            "add_member" => {
                let member = required(&form.member, "member")?;
                identity.add_team_member(caller, &org, &team, member).await?;
                Ok(done(&here, "added"))
            }
            "remove_member" => {
                identity
                    .remove_team_member(caller, &org, &team, required(&form.member, "member")?)
                    .await?;
                Ok(done(&here, "removed"))
            }
            "grant" => {
                let role = Role::parse(&form.role)
                    .ok_or_else(|| ConsoleError::invalid("role must be read, write or admin"))?;
                identity
                    .grant_to_team(caller, &repository()?, &team, role)
                    .await?;
                Ok(done(&here, "granted"))
            }
            "revoke" => {
                identity.revoke_from_team(caller, &repository()?, &team).await?;
                Ok(done(&here, "revoked"))
            }
            "delete" => {
                identity.delete_team(caller, &org, &team).await?;
                Ok(done(&format!("/organization/{org}"), "team_deleted"))
            }
            other => Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
        }
    }
    .await;
    after_post(result, |why| render(&visitor, &org, &team, None, Some(why))).await
}
