//! Notification management for the API: create, list, read, delete, reset
//! and test a repository's (or a namespace's) notifications; in-app
//! notifications; and the functions other parts of the core call to queue
//! an event. Managing notifications takes administration of the repository
//! or namespace (Quay's rule), logged with Quay's kinds.

use berth_store::StoreError;
use berth_store::metadata::{EventScope, NewEvent, NewNotification, NotificationRow};
use serde_json::Value;

use super::events::{EventKind, QuotaEvent, RepoEvent};
use super::{Method, email, secret};
use crate::Caller;
use crate::identity::{Action, AuditEvent};
use crate::names::{Namespace, RepositoryName};
use crate::registry::{ClientError, Registry, RegistryError};

/// Whose notifications an operation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationScope {
    /// A repository's.
    Repository(RepositoryName),
    /// A namespace's (quota events).
    Namespace(Namespace),
}

/// What a client asks to create.
#[derive(Debug, Clone)]
pub struct NotificationInput {
    /// Event kind name.
    pub event: String,
    /// Method name.
    pub method: String,
    /// Method configuration (`url`, `email`, `target`, `cloudevents`).
    pub config: Value,
    /// Event configuration (filters: `level`, `days`).
    pub event_config: Value,
    /// Title.
    pub title: Option<String>,
}

/// A notification (Quay's `NotificationView`).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Public id.
    pub uuid: String,
    /// Title.
    pub title: Option<String>,
    /// Event kind name.
    pub event: String,
    /// Method name.
    pub method: String,
    /// Method configuration.
    pub config: Value,
    /// Event configuration.
    pub event_config: Value,
    /// Failures in a row; at 3 the notification is disabled.
    pub number_of_failures: i32,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            uuid: r.uuid,
            title: r.title,
            event: r.event,
            method: r.method,
            config: serde_json::from_str(&r.config).unwrap_or(Value::Null),
            event_config: serde_json::from_str(&r.event_config).unwrap_or(Value::Null),
            number_of_failures: r.number_of_failures,
        }
    }
}

/// A created notification and, for a webhook, its signing secret (shown
/// only here).
#[derive(Debug, Clone)]
pub struct Created {
    /// The notification.
    pub notification: Notification,
    /// The webhook's signing secret.
    pub webhook_secret: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The event's id (`X-Berth-Delivery`).
    pub delivery: String,
    /// Which try.
    pub attempt: i32,
    /// When (ms since the epoch).
    pub time_ms: i64,
    /// Whether it was delivered.
    pub success: bool,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// How long it took.
    pub latency_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
}

/// An in-app notification.
#[derive(Debug, Clone, PartialEq)]
pub struct UserNotification {
    /// Public id.
    pub uuid: String,
    /// Event kind name.
    pub kind: String,
    /// The event data.
    pub metadata: Value,
    /// Whether it was dismissed (read).
    pub dismissed: bool,
    /// When (ms since the epoch).
    pub created_ms: i64,
}

/// The longest title accepted.
const MAX_TITLE: usize = 255;

fn invalid(message: impl Into<String>) -> ClientError {
    ClientError::Invalid(message.into())
}

impl Registry {
    /// Authorize administration of the scope and find its notifications.
    async fn notification_scope(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
    ) -> Result<EventScope, ClientError> {
        match scope {
            NotificationScope::Repository(repo) => {
                self.identity
                    .authorize(&caller.principal, Action::Administer(repo.as_str()))
                    .await?;
                let id =
                    self.db().repository_id(repo.as_str()).await?.ok_or_else(|| {
                        ClientError::NotFound(format!("No such repository: {}", repo.as_str()))
                    })?;
                Ok(EventScope::Repository(id))
            }
            NotificationScope::Namespace(ns) => {
                self.identity
                    .authorize(&caller.principal, Action::AdministerNamespace(ns.as_str()))
                    .await?;
                Ok(EventScope::Namespace(ns.as_str().to_owned()))
            }
        }
    }

    /// A usage-log entry about a notification of `scope`.
    async fn log_notification(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
        action: &str,
        n: &Notification,
    ) {
        let (kind, event) = match (scope, action) {
            (NotificationScope::Repository(r), "add") => ("add_repo_notification", r.as_str()),
            (NotificationScope::Repository(r), "delete") => ("delete_repo_notification", r.as_str()),
            (NotificationScope::Repository(r), _) => ("reset_repo_notification", r.as_str()),
            (NotificationScope::Namespace(ns), "add") => ("add_namespace_notification", ns.as_str()),
            (NotificationScope::Namespace(ns), "delete") => ("delete_namespace_notification", ns.as_str()),
            (NotificationScope::Namespace(ns), _) => ("reset_namespace_notification", ns.as_str()),
        };
        let entry = AuditEvent::by(kind, caller).metadata(serde_json::json!({
            "notification_id": n.uuid,
            "event": n.event,
            "method": n.method,
        }));
        let entry = match scope {
            NotificationScope::Repository(_) => entry.repository(event),
            NotificationScope::Namespace(_) => entry.namespace(event),
        };
        self.identity.audit().record(entry).await;
    }

    /// Check a method's configuration for `scope`.
    async fn check_method(
        &self,
        method: Method,
        config: &Value,
        scope: &NotificationScope,
    ) -> Result<(), ClientError> {
        let field = |key: &str| config.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        let settings = &self.config().notifications;
        match method {
            Method::Webhook | Method::Slack => {
                let url = field("url").ok_or_else(|| invalid("config.url is required"))?;
                settings
                    .ssrf
                    .check_url(url)
                    .map_err(|e| invalid(format!("config.url: {e}")))?;
                if config.get("cloudevents").is_some_and(|v| !v.is_boolean()) {
                    return Err(invalid("config.cloudevents must be true or false"));
                }
            }
            Method::Email => {
                let address = field("email").ok_or_else(|| invalid("config.email is required"))?;
                if !email::valid_address(address) {
                    return Err(invalid(format!(
                        "config.email: {address:?} is not an e-mail address"
                    )));
                }
                if settings.mail.is_none() {
                    return Err(invalid("e-mail notifications need MAIL_SERVER to be configured"));
                }
            }
            Method::QuayNotification => {
                let target = config
                    .get("target")
                    .ok_or_else(|| invalid("config.target is required"))?;
                let kind = target.get("kind").and_then(Value::as_str).unwrap_or("");
                let name = target.get("name").and_then(Value::as_str).unwrap_or("");
                let ns = match scope {
                    NotificationScope::Repository(r) => crate::identity::namespace_of(r.as_str()),
                    NotificationScope::Namespace(n) => n.as_str(),
                };
                match kind {
                    "user" => {
                        if self
                            .db()
                            .notification_recipients("user", name, ns)
                            .await?
                            .is_empty()
                        {
                            return Err(invalid(format!("config.target: no user {name:?}")));
                        }
                    }
                    "org" if name != ns => {
                        return Err(invalid("config.target: the organization must be the namespace"));
                    }
                    "org" | "team" => {}
                    _ => return Err(invalid("config.target.kind must be user, org or team")),
                }
            }
        }
        Ok(())
    }

    /// Create a notification. A webhook gets a signing secret, returned
    /// here once and stored encrypted.
    pub async fn create_notification(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
        input: NotificationInput,
    ) -> Result<Created, ClientError> {
        let store_scope = self.notification_scope(caller, scope).await?;
        let kind = EventKind::parse(&input.event)
            .ok_or_else(|| invalid(format!("unknown event {:?}", input.event)))?;
        match (scope, kind.is_namespace_event()) {
            (NotificationScope::Repository(_), true) => {
                return Err(invalid(format!("{} is a namespace event", kind.name())));
            }
            (NotificationScope::Namespace(_), false) => {
                return Err(invalid(format!("{} is a repository event", kind.name())));
            }
            _ => {}
        }
        let method = Method::parse(&input.method)
            .ok_or_else(|| invalid(format!("unknown method {:?}", input.method)))?;
        if !input.config.is_object() || !input.event_config.is_object() {
            return Err(invalid("config and eventConfig must be objects"));
        }
        self.check_method(method, &input.config, scope).await?;
        check_event_config(kind, &input.event_config)?;
        if input
            .title
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_TITLE)
        {
            return Err(invalid(format!("title: at most {MAX_TITLE} characters")));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let (secret, sealed) = if method == Method::Webhook {
            let sealer = self.config().notifications.secrets.as_ref().ok_or_else(|| {
                invalid("webhook notifications need DATABASE_SECRET_KEY (their signing secrets are encrypted with it)")
            })?;
            let secret = secret::new_secret();
            let sealed = sealer
                .seal(&uuid, &secret)
                .map_err(|e| ClientError::from(StoreError::Corrupt(e.to_string())))?;
            (Some(secret), Some(sealed))
        } else {
            (None, None)
        };
        let row = NewNotification {
            uuid: uuid.clone(),
            scope: store_scope,
            event: kind.name().to_owned(),
            method: method.name().to_owned(),
            config: input.config.to_string(),
            event_config: input.event_config.to_string(),
            title: input.title,
            secret: sealed,
        };
        if !self.db().create_notification(&row).await? {
            return Err(ClientError::NotFound("No such namespace".into()));
        }
        let notification = Notification {
            uuid,
            title: row.title,
            event: row.event,
            method: row.method,
            config: input.config,
            event_config: input.event_config,
            number_of_failures: 0,
        };
        self.log_notification(caller, scope, "add", &notification).await;
        Ok(Created {
            notification,
            webhook_secret: secret,
        })
    }

    /// The scope's notifications.
    pub async fn list_notifications(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
    ) -> Result<Vec<Notification>, ClientError> {
        let store_scope = self.notification_scope(caller, scope).await?;
        let rows = self.db().notifications(&store_scope).await?;
        Ok(rows.into_iter().map(Notification::from).collect())
    }

    /// One notification's row, or not found.
    async fn notification_row(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
        uuid: &str,
    ) -> Result<NotificationRow, ClientError> {
        let store_scope = self.notification_scope(caller, scope).await?;
        self.db()
            .notification(&store_scope, uuid)
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("No such notification: {uuid}")))
    }

    /// One notification.
    pub async fn get_notification(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
        uuid: &str,
    ) -> Result<Notification, ClientError> {
        Ok(self.notification_row(caller, scope, uuid).await?.into())
    }

    /// Delete a notification (its queued deliveries go with it).
    pub async fn delete_notification(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
        uuid: &str,
    ) -> Result<(), ClientError> {
        let row = self.notification_row(caller, scope, uuid).await?;
        let id = row.id;
        self.db().delete_notification(id).await?;
        self.log_notification(caller, scope, "delete", &row.into()).await;
        Ok(())
    }

    /// Set the failure count back to zero, enabling a disabled notification.
    pub async fn reset_notification(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
        uuid: &str,
    ) -> Result<(), ClientError> {
        let row = self.notification_row(caller, scope, uuid).await?;
        self.db().reset_notification(row.id).await?;
        self.log_notification(caller, scope, "reset", &row.into()).await;
        Ok(())
    }

    /// Queue a sample of the notification's event for it alone.
    pub async fn test_notification(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
        uuid: &str,
    ) -> Result<(), ClientError> {
        let row = self.notification_row(caller, scope, uuid).await?;
        let kind = EventKind::parse(&row.event)
            .ok_or_else(|| ClientError::from(StoreError::Corrupt(format!("stored event {}", row.event))))?;
        let site = &self.config().notifications.site;
        let payload = match (RepoEvent::sample(kind), &row.repository, &row.namespace) {
            (Some(event), Some(repo), _) => event.payload(site, repo),
            (None, _, Some(ns)) => QuotaEvent::sample(kind, ns).payload(site),
            _ => return Err(invalid("this notification has no sample")),
        };
        let delivery = uuid::Uuid::new_v4().to_string();
        self.db()
            .enqueue_delivery(row.id, &delivery, kind.name(), &payload.to_string())
            .await?;
        self.notify_wakeup.notify_waiters();
        Ok(())
    }

    /// A notification's delivery log, newest first.
    pub async fn notification_deliveries(
        &self,
        caller: &Caller,
        scope: &NotificationScope,
        uuid: &str,
    ) -> Result<Vec<DeliveryRecord>, ClientError> {
        let row = self.notification_row(caller, scope, uuid).await?;
        let log = self.db().delivery_log(row.id).await?;
        Ok(log
            .into_iter()
            .map(|r| DeliveryRecord {
                delivery: r.delivery,
                attempt: r.attempt,
                time_ms: r.created_ms,
                success: r.success,
                status: r.status,
                latency_ms: r.latency_ms,
                error: r.error,
            })
            .collect())
    }

    /// The caller's in-app notifications, newest first.
    pub async fn user_notifications(&self, caller: &Caller) -> Result<Vec<UserNotification>, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::ReadUser)
            .await?;
        let account = caller
            .account_id()
            .ok_or_else(|| ClientError::NotFound("no account".into()))?;
        let rows = self.db().user_notifications(account).await?;
        Ok(rows
            .into_iter()
            .map(|r| UserNotification {
                uuid: r.uuid,
                kind: r.kind,
                metadata: serde_json::from_str(&r.metadata).unwrap_or(Value::Null),
                dismissed: r.dismissed,
                created_ms: r.created_ms,
            })
            .collect())
    }

    /// Mark one of the caller's in-app notifications dismissed (read) or not.
    pub async fn dismiss_user_notification(
        &self,
        caller: &Caller,
        uuid: &str,
        dismissed: bool,
    ) -> Result<UserNotification, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::AdministerUser)
            .await?;
        let account = caller
            .account_id()
            .ok_or_else(|| ClientError::NotFound("no account".into()))?;
        if !self
            .db()
            .dismiss_user_notification(account, uuid, dismissed)
            .await?
        {
            return Err(ClientError::NotFound(format!("No such notification: {uuid}")));
        }
        self.user_notifications(caller)
            .await?
            .into_iter()
            .find(|n| n.uuid == uuid)
            .ok_or_else(|| ClientError::NotFound(format!("No such notification: {uuid}")))
    }

    /// The queue row of a repository event, to insert in the transaction of
    /// the change that caused it.
    pub(crate) fn repo_event(&self, repo_id: i64, repo: &str, event: &RepoEvent) -> NewEvent {
        NewEvent {
            delivery: uuid::Uuid::new_v4().to_string(),
            scope: EventScope::Repository(repo_id),
            event: event.kind().name().to_owned(),
            payload: event.payload(&self.config().notifications.site, repo).to_string(),
        }
    }

    /// The queue row of a namespace quota event.
    pub(crate) fn quota_event(&self, event: &QuotaEvent) -> NewEvent {
        NewEvent {
            delivery: uuid::Uuid::new_v4().to_string(),
            scope: EventScope::Namespace(event.namespace.clone()),
            event: event.kind.name().to_owned(),
            payload: event.payload(&self.config().notifications.site).to_string(),
        }
    }

    /// Queue a repository event for the repository's notifications, in a
    /// transaction of its own (vulnerability, mirror and expiry sources
    /// call this once their own change is committed).
    pub async fn enqueue_repo_event(
        &self,
        repo: &RepositoryName,
        event: &RepoEvent,
    ) -> Result<(), RegistryError> {
        let Some(id) = self.db().repository_id(repo.as_str()).await? else {
            return Ok(());
        };
        let row = self.repo_event(id, repo.as_str(), event);
        self.db().enqueue_events(std::slice::from_ref(&row)).await?;
        self.notify_wakeup.notify_waiters();
        Ok(())
    }

    /// Queue a quota event for its namespace's notifications.
    pub async fn enqueue_quota_event(&self, event: &QuotaEvent) -> Result<(), RegistryError> {
        let row = self.quota_event(event);
        self.db().enqueue_events(std::slice::from_ref(&row)).await?;
        self.notify_wakeup.notify_waiters();
        Ok(())
    }
}

/// Check an event's filters.
fn check_event_config(kind: EventKind, config: &Value) -> Result<(), ClientError> {
    match kind {
        EventKind::RepoImageExpiry => {
            let days = config.get("days").and_then(|d| match d {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            });
            if days.is_none_or(|d| !(1..=3650).contains(&d)) {
                return Err(invalid(
                    "eventConfig.days is required: a number of days from 1 to 3650",
                ));
            }
        }
        EventKind::VulnerabilityFound => {
            if let Some(level) = config.get("level") {
                let index = match level {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                };
                if index.is_none_or(|i| i >= super::PRIORITIES.len() as u64) {
                    return Err(invalid(
                        "eventConfig.level must be a priority index from 0 (Critical) to 5 (Unknown)",
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}
