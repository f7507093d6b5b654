//! An organization's page: its teams (for members; administrators add
//! them), its robots with a form to create one (for administrators; the new token is shown once,
//! on the page the creation answers with) and its usage log with the chart
//! of actions per day and the export. Members, applications and settings
//! have pages of their own (`members.rs`, `applications.rs`,
//! `org_settings.rs`).

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use berth_core::Namespace;
use berth_core::identity::robots::RobotOwner;
use berth_core::identity::usage_log::{LogFilter, LogScope};
use berth_core::identity::{TeamName, TeamRole};
use serde::Deserialize;

use super::auth::see_other;
use super::error::{ConsoleError, page};
use super::logs::{LogRow, log_rows, recent};
use super::session::{Posted, Visitor};
use super::usage::{self, Chart};
use super::view::Chrome;

/// Which tab.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OrganizationQuery {
    #[serde(default)]
    tab: Option<String>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// A team row.
struct TeamRow {
    name: String,
    can_view: bool,
    role: &'static str,
    members: i64,
    repositories: i64,
}

/// A robot row.
struct RobotRow {
    name: String,
    description: String,
}

/// A robot just created, with its token (shown this once).
struct NewRobot {
    name: String,
    token: String,
}

/// The organization page.
#[derive(Template)]
#[template(path = "console/organization.html")]
struct OrganizationPage {
    chrome: Chrome,
    name: String,
    is_admin: bool,
    tab: &'static str,
    teams: Option<Vec<TeamRow>>,
    robots: Vec<RobotRow>,
    new_robot: Option<NewRobot>,
    notice: Option<&'static str>,
    team_roles: [&'static str; 3],
    logs: Vec<LogRow>,
    logs_next: Option<String>,
    chart: Option<Chart>,
}

/// The organization named in the path, or 404.
fn organization_name(path: &str) -> Result<Namespace, ConsoleError> {
    Namespace::new(path).map_err(|_| ConsoleError::not_found("organization not found"))
}

/// The page of `org` on `tab`, with a robot just created if any.
async fn render(
    visitor: &Visitor,
    org: &Namespace,
    tab: Option<&str>,
    next: Option<&str>,
    new_robot: Option<NewRobot>,
    notice: Option<&'static str>,
) -> Result<Response, ConsoleError> {
    let details = visitor
        .identity
        .organization_details(&visitor.caller, org)
        .await?;
    let tab = match tab {
        Some("logs") if details.is_admin => "logs",
        _ => "overview",
    };
    let teams = details.teams.map(|teams| {
        teams
            .into_iter()
            .map(|t| TeamRow {
                can_view: t.can_view,
                name: t.team.name,
                role: t.team.role.as_str(),
                members: t.team.member_count,
                repositories: t.team.repo_count,
            })
            .collect()
    });
    let robots = if details.is_admin && tab == "overview" {
        visitor
            .identity
            .robots(&visitor.caller, RobotOwner::Organization(org), false, None)
            .await?
            .into_iter()
            .map(|r| RobotRow {
                name: r.account.name,
                description: r.account.description,
            })
            .collect()
    } else {
        Vec::new()
    };
    let (mut logs, mut logs_next, mut chart) = (Vec::new(), None, None);
    if tab == "logs" {
        chart = Some(usage::chart(visitor, LogScope::Organization(org.clone())).await?);
        let (start_ms, end_ms) = recent();
        let filter = LogFilter {
            scope: LogScope::Organization(org.clone()),
            performer: None,
            start_ms,
            end_ms,
        };
        let log_page = visitor
            .identity
            .usage_logs(&visitor.caller, &filter, next)
            .await?;
        logs = log_rows(log_page.entries);
        logs_next = log_page.next_page.map(|t| {
            let q = serde_urlencoded::to_string([("tab", "logs"), ("next", t.as_str())]).unwrap_or_default();
            format!("/organization/{org}?{q}")
        });
    }
    page(&OrganizationPage {
        chrome: visitor.chrome(),
        name: details.name,
        is_admin: details.is_admin,
        tab,
        teams,
        robots,
        new_robot,
        notice,
        team_roles: ["member", "creator", "admin"],
        logs,
        logs_next,
        chart,
    })
}

/// `GET /organization/{name}`.
pub(crate) async fn show(
    visitor: Visitor,
    Path(name): Path<String>,
    Query(query): Query<OrganizationQuery>,
) -> Result<Response, ConsoleError> {
    let org = organization_name(&name)?;
    let notice = match query.done.as_deref() {
        Some("team") => Some("Team saved."),
        Some("team_deleted") => Some("Team deleted."),
        _ => None,
    };
    render(
        &visitor,
        &org,
        query.tab.as_deref(),
        query.next.as_deref(),
        None,
        notice,
    )
    .await
}

/// A change posted from the organization page.
#[derive(Debug, Deserialize)]
pub(crate) struct OrganizationAction {
    action: String,
    #[serde(default)]
    robot: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    role: String,
}

/// `POST /organization/{name}`: create a robot and show its token once,
/// or create a team (or change its role).
pub(crate) async fn act(
    Path(name): Path<String>,
    posted: Posted<OrganizationAction>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let org = organization_name(&name)?;
    match form.action.as_str() {
        "create_robot" => {
            let created = visitor
                .identity
                .create_robot(
                    &visitor.caller,
                    RobotOwner::Organization(&org),
                    form.robot.trim(),
                    form.description.trim(),
                    None,
                )
                .await?;
            let new_robot = NewRobot {
                name: created.robot.account.name,
                token: created.token,
            };
            render(&visitor, &org, None, None, Some(new_robot), None).await
        }
        "put_team" => {
            let team = TeamName::new(form.team.trim()).map_err(|e| ConsoleError::invalid(e.to_string()))?;
            let role = TeamRole::parse(&form.role)
                .ok_or_else(|| ConsoleError::invalid("role must be member, creator or admin"))?;
            let description = Some(form.description.trim()).filter(|d| !d.is_empty());
            visitor
                .identity
                .put_team(&visitor.caller, &org, &team, role, description)
                .await?;
            Ok(see_other(&format!("/organization/{org}?done=team")))
        }
        other => Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
    }
}

/// `GET /organization/{name}/logs/export`: the organization's usage log
/// of the last 30 days as CSV.
pub(crate) async fn export_logs(
    visitor: Visitor,
    Path(name): Path<String>,
) -> Result<Response, ConsoleError> {
    let org = organization_name(&name)?;
    usage::export(&visitor, LogScope::Organization(org.clone()), org.as_str()).await
}
