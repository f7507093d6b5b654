//! A repository's page: its description (Markdown made safe), visibility
//! and pull command; its tags, their history, its permissions and its
//! usage log, one tab each; and the changes its forms post (delete, move,
//! restore and expire tags, change a permission). Settings and
//! notifications have pages of their own (`settings.rs`,
//! `notifications.rs`).

use askama::Template;
use axum::response::Response;
use berth_core::identity::Role;
use berth_core::identity::usage_log::{LogFilter, LogScope};
use berth_core::registry::{SecurityStatus, TagChange, TagFilter, TagQuery};
use berth_core::{RepositoryName, TagName};
use berth_oci::Digest;
use serde::Deserialize;

use super::auth::see_other;
use super::error::{ConsoleError, page};
use super::logs::{LogRow, log_rows, recent};
use super::session::{Posted, Visitor};
use super::view::{Chrome, markdown, short_digest, size, when, when_or_dash};

/// Tags per page.
const PER_PAGE: u32 = 50;

/// Which tab, page and filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RepositoryQuery {
    #[serde(default)]
    tab: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// A tag row (live or historical).
struct TagRow {
    name: String,
    digest: String,
    short_digest: String,
    size: String,
    start: String,
    end: String,
    ended: bool,
    reversion: bool,
    immutable: bool,
    /// The security summary ("2 Critical, 1 High", "queued", ...); empty
    /// where the scanner is off or in the history.
    security: String,
}

/// A role someone holds on the repository.
struct Grant {
    name: String,
    role: &'static str,
    is_robot: bool,
}

/// The repository page.
#[derive(Template)]
#[template(path = "console/repository.html")]
struct RepositoryPage {
    chrome: Chrome,
    name: String,
    visibility: &'static str,
    description_html: String,
    pull: String,
    image: String,
    can_write: bool,
    can_admin: bool,
    is_organization: bool,
    tab: &'static str,
    notice: Option<&'static str>,
    filter: String,
    tags: Vec<TagRow>,
    page: u32,
    more: bool,
    users: Vec<Grant>,
    teams: Vec<Grant>,
    roles: [&'static str; 3],
    logs: Vec<LogRow>,
    logs_next: Option<String>,
}

/// Fill each tag's security summary from the stored reports (one read per
/// distinct manifest on the page). A failure leaves them empty: the tags
/// still show.
async fn summarize(visitor: &Visitor, repo: &RepositoryName, tags: &mut [TagRow]) {
    let digests: Vec<String> = tags.iter().map(|t| t.digest.clone()).collect();
    let Ok(summaries) = visitor
        .registry
        .security_summaries(&visitor.caller, repo, &digests)
        .await
    else {
        return;
    };
    for t in tags.iter_mut() {
        if let Some(s) = summaries.get(&t.digest) {
            t.security = match s.status {
                SecurityStatus::Scanned => {
                    let found: Vec<String> = s
                        .counts
                        .iter()
                        .rev()
                        .filter(|(_, n)| **n > 0)
                        .map(|(severity, n)| format!("{n} {severity}"))
                        .collect();
                    if found.is_empty() {
                        "no findings".to_owned()
                    } else {
                        found.join(", ")
                    }
                }
                other => other.as_str().to_owned(),
            };
        }
    }
}

/// What a finished change says on the page it returns to.
fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "deleted" => "Tag deleted. It can be restored from the history.",
        "restored" => "Tag restored.",
        "expiry" => "Expiry saved.",
        "permission" => "Permission changed.",
        "moved" => "Tag moved.",
        _ => return None,
    })
}

/// `GET /repository/{name}`: 404 for anyone who may not pull it.
pub(crate) async fn show(
    visitor: Visitor,
    repo: RepositoryName,
    query: RepositoryQuery,
) -> Result<Response, ConsoleError> {
    let details = visitor
        .registry
        .repository_details(&visitor.caller, &repo, false)
        .await
        .map_err(|e| ConsoleError::from(e).hiding("repository"))?;
    let tab = match query.tab.as_deref() {
        Some("history") => "history",
        Some("permissions") if details.can_admin => "permissions",
        Some("logs") if details.can_admin => "logs",
        _ => "tags",
    };
    let filter = query.filter.clone().unwrap_or_default().trim().to_owned();
    let page_number = query.page.unwrap_or(1).max(1);
    let (mut tags, mut more) = (Vec::new(), false);
    if tab == "tags" || tab == "history" {
        let history = visitor
            .registry
            .tag_history(
                &visitor.caller,
                &repo,
                &TagQuery {
                    filter: Some(TagFilter::Contains(filter.clone())).filter(|_| !filter.is_empty()),
                    only_active: tab == "tags",
                    page: page_number,
                    limit: PER_PAGE,
                    ..TagQuery::default()
                },
            )
            .await?;
        more = history.has_additional;
        tags = history
            .tags
            .into_iter()
            .map(|t| TagRow {
                short_digest: short_digest(&t.manifest_digest),
                size: size(t.size),
                start: when(t.start_ms),
                end: when_or_dash(t.end_ms),
                ended: t.end_ms.is_some_and(|e| e <= berth_core::now_ms()),
                name: t.name,
                digest: t.manifest_digest,
                reversion: t.reversion,
                immutable: t.immutable,
                security: String::new(),
            })
            .collect();
        if tab == "tags" {
            summarize(&visitor, &repo, &mut tags).await;
        }
    }
    let (mut users, mut teams) = (Vec::new(), Vec::new());
    if tab == "permissions" {
        let identity = &visitor.identity;
        users = identity
            .repository_account_permissions(&visitor.caller, &repo)
            .await?
            .into_iter()
            .map(|p| Grant {
                name: p.name,
                role: p.role.as_str(),
                is_robot: p.is_robot,
            })
            .collect();
        if details.is_organization {
            teams = identity
                .repository_team_permissions(&visitor.caller, &repo)
                .await?
                .into_iter()
                .map(|p| Grant {
                    name: p.name,
                    role: p.role.as_str(),
                    is_robot: false,
                })
                .collect();
        }
    }
    let (mut logs, mut logs_next) = (Vec::new(), None);
    if tab == "logs" {
        let (start_ms, end_ms) = recent();
        let filter = LogFilter {
            scope: LogScope::Repository(repo.clone()),
            performer: None,
            start_ms,
            end_ms,
        };
        let log_page = visitor
            .identity
            .usage_logs(&visitor.caller, &filter, query.next.as_deref())
            .await?;
        logs = log_rows(log_page.entries);
        logs_next = log_page
            .next_page
            .map(|t| format!("/repository/{repo}?tab=logs&next={}", urlencode(&t)));
    }
    page(&RepositoryPage {
        chrome: visitor.chrome(),
        pull: format!("podman pull {}/{}", visitor.host, repo),
        image: format!("{}/{}", visitor.host, repo),
        name: repo.to_string(),
        visibility: details.repository.visibility.as_str(),
        description_html: markdown(&details.repository.description),
        can_write: details.can_write,
        can_admin: details.can_admin,
        is_organization: details.is_organization,
        tab,
        notice: query.done.as_deref().and_then(notice),
        filter,
        tags,
        page: page_number,
        more,
        users,
        teams,
        roles: ["read", "write", "admin"],
        logs,
        logs_next,
    })
}

/// A query-string value, percent-encoded.
fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}

/// A change posted from the repository page; `action` says which, the
/// other fields are what it needs.
#[derive(Debug, Deserialize)]
pub(crate) struct RepositoryAction {
    action: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    digest: String,
    /// `YYYY-MM-DDTHH:MM` in UTC (a `datetime-local` field); empty
    /// clears the expiry.
    #[serde(default)]
    expires: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    role: String,
}

/// The tag named in a form.
fn tag_name(text: &str) -> Result<TagName, ConsoleError> {
    TagName::new(text.trim()).map_err(|e| ConsoleError::invalid(e.to_string()))
}

/// A `datetime-local` value read as UTC, in ms since the epoch.
fn expiry_ms(text: &str) -> Result<Option<i64>, ConsoleError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| ConsoleError::invalid(format!("{text:?} is not a date and time (YYYY-MM-DDTHH:MM)")))?;
    Ok(Some(parsed.and_utc().timestamp_millis()))
}

/// `POST /repository/{name}`: carry out the change, then back to the tab
/// it was made on.
pub(crate) async fn act(
    repo: RepositoryName,
    posted: Posted<RepositoryAction>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let (registry, identity, caller) = (&visitor.registry, &visitor.identity, &visitor.caller);
    let role =
        || Role::parse(&form.role).ok_or_else(|| ConsoleError::invalid("role must be read, write or admin"));
    let digest = || {
        form.digest.trim().parse::<Digest>().map_err(|_| {
            ConsoleError::invalid(format!("{:?} is not a digest (sha256:...)", form.digest.trim()))
        })
    };
    let (tab, done) = match form.action.as_str() {
        "delete_tag" => {
            registry.delete_tag(caller, &repo, &tag_name(&form.tag)?).await?;
            ("tags", "deleted")
        }
        "move_tag" => {
            let change = TagChange {
                manifest_digest: Some(digest()?),
                ..TagChange::default()
            };
            registry
                .change_tag(caller, &repo, &tag_name(&form.tag)?, &change)
                .await?;
            ("tags", "moved")
        }
        "restore_tag" => {
            registry
                .restore_tag(caller, &repo, &tag_name(&form.tag)?, &digest()?)
                .await?;
            ("history", "restored")
        }
        "set_expiry" => {
            let change = TagChange {
                expiration_ms: Some(expiry_ms(&form.expires)?),
                ..TagChange::default()
            };
            registry
                .change_tag(caller, &repo, &tag_name(&form.tag)?, &change)
                .await?;
            ("tags", "expiry")
        }
        "set_user_role" => {
            identity
                .grant_to_account(caller, &repo, form.account.trim(), role()?)
                .await?;
            ("permissions", "permission")
        }
        "set_team_role" => {
            let team = berth_core::identity::TeamName::new(form.team.trim())
                .map_err(|e| ConsoleError::invalid(e.to_string()))?;
            identity.grant_to_team(caller, &repo, &team, role()?).await?;
            ("permissions", "permission")
        }
        other => return Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
    };
    Ok(see_other(&format!("/repository/{repo}?tab={tab}&done={done}")))
}
