//! A repository's notifications page, for its administrators: the
//! notifications with their failure counts, a form to create one
//! (webhook, Slack, e-mail or in-app, for an event with its filter), and
//! per notification a test, a reset of its failures, its delivery log and
//! its deletion. A new webhook's signing secret is shown on the page that
//! answers its creation, and never again.

use askama::Template;
use axum::response::Response;
use berth_core::RepositoryName;
use berth_core::notify::{EVENT_KINDS, Notification, NotificationInput, NotificationScope, PRIORITIES};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::see_other;
use super::dispatch::administered;
use super::error::{ConsoleError, page};
use super::session::{Posted, Visitor};
use super::view::{Chrome, when};

/// Methods, as Quay names them, and what the form calls them.
const METHODS: [(&str, &str); 4] = [
    ("webhook", "Webhook"),
    ("slack", "Slack"),
    ("email", "E-mail"),
    ("quay_notification", "In-app notification"),
];

/// After how many failures in a row a notification stops being sent.
const DISABLED_AT: i32 = 3;

/// What the notifications page is asked.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct NotificationsQuery {
    #[serde(default)]
    done: Option<String>,
    /// The notification whose delivery log to show.
    #[serde(default)]
    log: Option<String>,
}

/// A notification row.
struct Row {
    uuid: String,
    title: String,
    event: String,
    method: String,
    target: String,
    filter: String,
    failures: i32,
    disabled: bool,
}

/// A delivery attempt.
struct DeliveryRow {
    time: String,
    delivery: String,
    attempt: i32,
    success: bool,
    status: String,
    latency: String,
    error: String,
}

/// The notifications page.
#[derive(Template)]
#[template(path = "console/notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    name: String,
    visibility: &'static str,
    can_admin: bool,
    tab: &'static str,
    notice: Option<&'static str>,
    rows: Vec<Row>,
    /// The notification whose log is shown, and its deliveries.
    log: Option<(String, Vec<DeliveryRow>)>,
    /// A webhook just created: its title and signing secret, shown once.
    secret: Option<(String, String)>,
    events: Vec<&'static str>,
    methods: [(&'static str, &'static str); 4],
    priorities: [&'static str; 6],
}

/// What a finished change says.
fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Notification created.",
        "tested" => "Test event queued: it appears in the delivery log once sent.",
        "reset" => "Failures reset: the notification is sent again.",
        "deleted" => "Notification deleted.",
        _ => return None,
    })
}

/// Where a notification goes, in words.
fn target(n: &Notification) -> String {
    let field = |k: &str| {
        n.config
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match n.method.as_str() {
        "webhook" | "slack" => field("url"),
        "email" => field("email"),
        _ => {
            let t = n.config.get("target");
            let get = |k: &str| {
                t.and_then(|t| t.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            };
            format!("{} {}", get("kind"), get("name"))
        }
    }
}

/// An event filter, in words.
fn filter(n: &Notification) -> String {
    let number = |k: &str| {
        n.event_config.get(k).and_then(|v| match v {
            Value::Number(x) => x.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    };
    if let Some(days) = number("days") {
        return format!("{days} days before");
    }
    match number("level").and_then(|l| PRIORITIES.get(l as usize)) {
        Some(p) => format!("{p} or worse"),
        None => String::new(),
    }
}

/// Render the page, with a delivery log or a new secret when given.
async fn render(
    visitor: &Visitor,
    repo: &RepositoryName,
    notice: Option<&'static str>,
    log: Option<&str>,
    secret: Option<(String, String)>,
) -> Result<Response, ConsoleError> {
    let details = administered(visitor, repo).await?;
    let scope = NotificationScope::Repository(repo.clone());
    let list = visitor
        .registry
        .list_notifications(&visitor.caller, &scope)
        .await?;
    let log = match log.filter(|l| !l.is_empty()) {
        Some(uuid) => {
            let deliveries = visitor
                .registry
                .notification_deliveries(&visitor.caller, &scope, uuid)
                .await?;
            let title = list
                .iter()
                .find(|n| n.uuid == uuid)
                .map(|n| n.title.clone().unwrap_or_else(|| n.event.clone()))
                .unwrap_or_default();
            Some((
                title,
                deliveries
                    .into_iter()
                    .map(|d| DeliveryRow {
                        time: when(d.time_ms),
                        delivery: d.delivery,
                        attempt: d.attempt,
                        success: d.success,
                        status: d.status.map(|s| s.to_string()).unwrap_or_else(|| "—".into()),
                        latency: format!("{} ms", d.latency_ms),
                        error: d.error.unwrap_or_default(),
                    })
                    .collect(),
            ))
        }
        None => None,
    };
    page(&NotificationsPage {
        chrome: visitor.chrome(),
        name: repo.to_string(),
        visibility: details.repository.visibility.as_str(),
        can_admin: true,
        tab: "notifications",
        notice,
        rows: list
            .iter()
            .map(|n| Row {
                uuid: n.uuid.clone(),
                title: n.title.clone().unwrap_or_default(),
                event: n.event.clone(),
                method: n.method.clone(),
                target: target(n),
                filter: filter(n),
                failures: n.number_of_failures,
                disabled: n.number_of_failures >= DISABLED_AT,
            })
            .collect(),
        log,
        secret,
        events: EVENT_KINDS
            .iter()
            .filter(|k| !k.is_namespace_event())
            .map(|k| k.name())
            .collect(),
        methods: METHODS,
        priorities: PRIORITIES,
    })
}

/// `GET /repository/{name}?tab=notifications`: 404 for anyone but its
/// administrators.
pub(crate) async fn show(
    visitor: Visitor,
    repo: RepositoryName,
    query: NotificationsQuery,
) -> Result<Response, ConsoleError> {
    let notice = query.done.as_deref().and_then(notice);
    render(&visitor, &repo, notice, query.log.as_deref(), None).await
}

/// A change posted from the notifications page.
#[derive(Debug, Deserialize)]
pub(crate) struct NotificationsAction {
    action: String,
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    cloudevents: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    target_kind: String,
    #[serde(default)]
    target_name: String,
    /// `vulnerability_found`: the least severe priority sent, as an index
    /// into the priorities; empty for all.
    #[serde(default)]
    level: String,
    /// `repo_image_expiry`: days before the expiry.
    #[serde(default)]
    days: String,
}

/// A number typed into a form, as a JSON number when it is one (else as
/// typed, for the core to refuse with its own message).
fn number(text: &str) -> Value {
    let text = text.trim();
    text.parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(text))
}

/// The method's configuration and the event's, from the form's fields.
fn input(form: &NotificationsAction) -> NotificationInput {
    let config = match form.method.as_str() {
        "webhook" if form.cloudevents.is_some() => json!({ "url": form.url.trim(), "cloudevents": true }),
        "webhook" | "slack" => json!({ "url": form.url.trim() }),
        "email" => json!({ "email": form.email.trim() }),
        "quay_notification" => json!({
            "target": { "kind": form.target_kind.trim(), "name": form.target_name.trim() }
        }),
        _ => json!({}),
    };
    let event_config = match form.event.as_str() {
        "vulnerability_found" if !form.level.trim().is_empty() => json!({ "level": number(&form.level) }),
        "repo_image_expiry" => json!({ "days": number(&form.days) }),
        _ => json!({}),
    };
    NotificationInput {
        event: form.event.clone(),
        method: form.method.clone(),
        config,
        event_config,
        title: Some(form.title.trim().to_owned()).filter(|t| !t.is_empty()),
    }
}

/// `POST /repository/{name}?tab=notifications`: create (answered with the
/// page itself, so a webhook's secret is shown this once), test, reset or
/// delete, each through the core, which authorizes and logs it.
pub(crate) async fn act(
    repo: RepositoryName,
    posted: Posted<NotificationsAction>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let scope = NotificationScope::Repository(repo.clone());
    let (registry, caller) = (&visitor.registry, &visitor.caller);
    let done = match form.action.as_str() {
        "create" => {
            let created = registry.create_notification(caller, &scope, input(&form)).await?;
            let title = created
                .notification
                .title
                .clone()
                .unwrap_or_else(|| created.notification.event.clone());
            let secret = created.webhook_secret.map(|s| (title, s));
            return render(&visitor, &repo, notice("created"), None, secret).await;
        }
        "test" => {
            registry.test_notification(caller, &scope, &form.uuid).await?;
            // Back to its delivery log, where the test shows once sent.
            let log = serde_urlencoded::to_string([("log", form.uuid.as_str())]).unwrap_or_default();
            return Ok(see_other(&format!(
                "/repository/{repo}?tab=notifications&done=tested&{log}"
            )));
        }
        "reset" => {
            registry.reset_notification(caller, &scope, &form.uuid).await?;
            "reset"
        }
        "delete" => {
            registry.delete_notification(caller, &scope, &form.uuid).await?;
            "deleted"
        }
        other => return Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
    };
    Ok(see_other(&format!(
        "/repository/{repo}?tab=notifications&done={done}"
    )))
}
