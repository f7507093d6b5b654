//! An organization's members: the users in its teams, the teams each is
//! in and the repositories each holds a role on by themselves, with a
//! button to remove a member from every team and role (the last owner
//! stays, as the core refuses).

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use berth_core::Namespace;
use serde::Deserialize;

use super::error::{ConsoleError, page};
use super::outcome::{after_post, done, required};
use super::session::{Posted, Visitor};
use super::view::Chrome;

/// A page's query: the notice of the change just made.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Notice {
    #[serde(default)]
    pub(crate) done: Option<String>,
}

/// One member.
struct MemberRow {
    name: String,
    teams: String,
    repositories: String,
}

/// The members page.
#[derive(Template)]
#[template(path = "console/org_members.html")]
struct MembersPage {
    chrome: Chrome,
    name: String,
    is_admin: bool,
    tab: &'static str,
    members: Vec<MemberRow>,
    notice: Option<&'static str>,
    problem: Option<String>,
}

/// The organization a path names, or 404.
pub(crate) fn organization_name(path: &str) -> Result<Namespace, ConsoleError> {
    Namespace::new(path).map_err(|_| ConsoleError::not_found("organization not found"))
}

async fn render(
    visitor: &Visitor,
    org: &Namespace,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let members = visitor
        .identity
        .organization_members(&visitor.caller, org)
        .await?
        .into_iter()
        .map(|m| MemberRow {
            name: m.name,
            teams: m.teams.join(", "),
            repositories: m.repositories.join(", "),
        })
        .collect();
    page(&MembersPage {
        chrome: visitor.chrome(),
        name: org.to_string(),
        is_admin: true,
        tab: "members",
        members,
        notice,
        problem,
    })
}

/// `GET /organization/{name}/members`.
pub(crate) async fn show(
    visitor: Visitor,
    Path(name): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, ConsoleError> {
    let org = organization_name(&name)?;
    let notice = match q.done.as_deref() {
        Some("removed") => Some("Member removed from every team and repository role."),
        _ => None,
    };
    render(&visitor, &org, notice, None).await
}

/// The remove form.
#[derive(Debug, Deserialize)]
pub(crate) struct MemberAction {
    #[serde(default)]
    member: String,
}

/// `POST /organization/{name}/members`: remove a member.
pub(crate) async fn act(
    Path(name): Path<String>,
    posted: Posted<MemberAction>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let org = organization_name(&name)?;
    let result = async {
        let member = required(&form.member, "member")?;
        visitor
            .identity
            .remove_organization_member(&visitor.caller, &org, member)
            .await?;
        Ok(done(&format!("/organization/{org}/members"), "removed"))
    }
    .await;
    after_post(result, |why| render(&visitor, &org, None, Some(why))).await
}
