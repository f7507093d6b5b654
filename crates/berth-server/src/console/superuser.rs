//! The superuser pages: registry status, users (create with a generated
//! password shown once, disable or enable, delete), organizations, and
//! the system-wide usage log with its chart and export. Quotas are in
//! `superuser_quotas.rs`. Each page asks a core operation that admits
//! superusers only; to anyone else every page and post is 404, so the
//! pages' existence is not told.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use berth_core::Namespace;
use berth_core::identity::usage_log::LogScope;
use berth_core::identity::users::UserUpdate;
use berth_core::registry::GcPassRow;
use serde::Deserialize;

use super::error::{ConsoleError, page};
use super::logs::{LogRow, log_rows};
use super::members::Notice;
use super::outcome::{after_post, done, required};
use super::session::{Posted, Visitor};
use super::usage::{self, Chart};
use super::view::{Chrome, size, when, when_or_dash};

/// Any refusal reads as "not found" (so the pages' existence is not
/// told); a superuser still learns what was missing.
pub(crate) fn hidden(e: impl Into<ConsoleError>) -> ConsoleError {
    e.into().hiding_refusal("page")
}

/// A queue's line on the status page.
struct QueueRow {
    name: &'static str,
    depth: u64,
    oldest: String,
}

/// A garbage collection pass as the status page shows it.
struct GcRow {
    finished: String,
    freed: String,
    removed: String,
    failed: bool,
}

fn gc_row(p: GcPassRow) -> GcRow {
    GcRow {
        finished: when(p.finished_ms),
        freed: size(p.bytes),
        removed: format!(
            "{} tag rows, {} manifests, {} blob links, {} blobs, {} objects",
            p.tag_rows, p.manifests, p.blob_links, p.blobs, p.objects
        ),
        failed: p.failed,
    }
}

/// The status page.
#[derive(Template)]
#[template(path = "console/su_status.html")]
struct StatusPage {
    chrome: Chrome,
    tab: &'static str,
    stored: String,
    blobs: u64,
    last_gc: Option<GcRow>,
    last_freeing_gc: Option<GcRow>,
    queues: Vec<QueueRow>,
    services: Vec<(&'static str, Option<String>)>,
}

/// `GET /superuser`: the registry's status.
pub(crate) async fn status(visitor: Visitor) -> Result<Response, ConsoleError> {
    let s = visitor
        .registry
        .registry_status(&visitor.caller)
        .await
        .map_err(hidden)?;
    page(&StatusPage {
        chrome: visitor.chrome(),
        tab: "status",
        stored: size(i64::try_from(s.stored_bytes).unwrap_or(i64::MAX)),
        blobs: s.stored_blobs,
        last_gc: s.last_gc.map(gc_row),
        last_freeing_gc: s.last_freeing_gc.map(gc_row),
        queues: s
            .queues
            .into_iter()
            .map(|q| QueueRow {
                name: q.queue,
                depth: q.depth,
                oldest: if q.depth == 0 {
                    "—".to_owned()
                } else {
                    format!("{} s", q.oldest_age.as_secs())
                },
            })
            .collect(),
        services: s
            .health
            .services
            .into_iter()
            .map(|h| (h.name, h.failure))
            .collect(),
    })
}

/// One user.
struct UserRow {
    name: String,
    email: String,
    enabled: bool,
    superuser: bool,
    created: String,
    last_seen: String,
}

/// A user just created, with the password shown this once.
struct NewUser {
    name: String,
    password: String,
}

/// The users page.
#[derive(Template)]
#[template(path = "console/su_users.html")]
struct UsersPage {
    chrome: Chrome,
    tab: &'static str,
    users: Vec<UserRow>,
    new_user: Option<NewUser>,
    notice: Option<&'static str>,
    problem: Option<String>,
}

async fn render_users(
    visitor: &Visitor,
    new_user: Option<NewUser>,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let identity = &visitor.identity;
    let users = identity
        .users(&visitor.caller, true)
        .await
        .map_err(hidden)?
        .into_iter()
        .map(|u| UserRow {
            superuser: identity.is_super_user(&u),
            name: u.name,
            email: u.email.unwrap_or_default(),
            enabled: u.enabled,
            created: when(u.created_ms),
            last_seen: when_or_dash(u.last_accessed_ms),
        })
        .collect();
    page(&UsersPage {
        chrome: visitor.chrome(),
        tab: "users",
        users,
        new_user,
        notice,
        problem,
    })
}

/// `GET /superuser/users`.
pub(crate) async fn users(visitor: Visitor, Query(q): Query<Notice>) -> Result<Response, ConsoleError> {
    let notice = match q.done.as_deref() {
        Some("disabled") => Some("User disabled: they can no longer sign in or use their tokens."),
        Some("enabled") => Some("User enabled."),
        Some("deleted") => Some("User deleted."),
        _ => None,
    };
    render_users(&visitor, None, notice, None).await
}

/// A change posted from the users page.
#[derive(Debug, Deserialize)]
pub(crate) struct UserAction {
    action: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
}

/// `POST /superuser/users`.
pub(crate) async fn act_users(posted: Posted<UserAction>) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let caller = &visitor.caller;
    let identity = &visitor.identity;
    let mut new_user = None;
    let result = async {
        let name = Namespace::new(required(&form.username, "user name")?)
            .map_err(|e| ConsoleError::invalid(e.to_string()))?;
        match form.action.as_str() {
            "create" => {
                let email = Some(form.email.trim()).filter(|e| !e.is_empty());
                let made = identity
                    .create_user_with_password(caller, &name, email)
                    .await
                    .map_err(hidden)?;
                new_user = Some(NewUser {
                    name: made.account.name,
                    password: made.password,
                });
                Ok(String::new())
            }
            "disable" | "enable" => {
                let enabled = form.action == "enable";
                let update = UserUpdate {
                    enabled: Some(enabled),
                    ..UserUpdate::default()
                };
                identity
                    .update_user(caller, &name, &update)
                    .await
                    .map_err(hidden)?;
                Ok(done(
                    "/superuser/users",
                    if enabled { "enabled" } else { "disabled" },
                ))
            }
            "delete" => {
                identity.delete_user(caller, &name).await.map_err(hidden)?;
                Ok(done("/superuser/users", "deleted"))
            }
            other => Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
        }
    }
    .await;
    if new_user.is_some() {
        return render_users(&visitor, new_user, None, None).await;
    }
    after_post(result, |why| render_users(&visitor, None, None, Some(why))).await
}

/// One organization.
struct OrgRow {
    name: String,
    email: String,
    created: String,
}

/// The organizations page.
#[derive(Template)]
#[template(path = "console/su_organizations.html")]
struct OrganizationsPage {
    chrome: Chrome,
    tab: &'static str,
    organizations: Vec<OrgRow>,
}

/// `GET /superuser/organizations`.
pub(crate) async fn organizations(visitor: Visitor) -> Result<Response, ConsoleError> {
    let organizations = visitor
        .identity
        .all_organizations(&visitor.caller)
        .await
        .map_err(hidden)?
        .into_iter()
        .map(|o| OrgRow {
            name: o.name,
            email: o.email.unwrap_or_default(),
            created: when(o.created_ms),
        })
        .collect();
    page(&OrganizationsPage {
        chrome: visitor.chrome(),
        tab: "organizations",
        organizations,
    })
}

/// The system-wide usage log page.
#[derive(Template)]
#[template(path = "console/su_logs.html")]
struct LogsPage {
    chrome: Chrome,
    tab: &'static str,
    chart: Chart,
    logs: Vec<LogRow>,
    logs_next: Option<String>,
}

/// The log page's query: the next page's token.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `GET /superuser/logs`.
pub(crate) async fn logs(visitor: Visitor, Query(q): Query<LogQuery>) -> Result<Response, ConsoleError> {
    let chart = usage::chart(&visitor, LogScope::All).await.map_err(hidden)?;
    let log_page = visitor
        .identity
        .usage_logs(&visitor.caller, &usage::filter(LogScope::All), q.next.as_deref())
        .await
        .map_err(hidden)?;
    let logs_next = log_page.next_page.map(|t| {
        let q = serde_urlencoded::to_string([("next", t.as_str())]).unwrap_or_default();
        format!("/superuser/logs?{q}")
    });
    page(&LogsPage {
        chrome: visitor.chrome(),
        tab: "logs",
        chart,
        logs: log_rows(log_page.entries),
        logs_next,
    })
}

/// `GET /superuser/logs/export`: every entry of the last 30 days as CSV.
pub(crate) async fn export_logs(visitor: Visitor) -> Result<Response, ConsoleError> {
    usage::export(&visitor, LogScope::All, "registry")
        .await
        .map_err(hidden)
}
