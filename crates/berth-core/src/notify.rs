//! Event notifications, as Quay's: per repository (and per namespace for
//! quota events), an event kind, a method and its configuration. An event
//! is queued in the database transaction of the change that causes it, one
//! queue row per enabled notification; workers on every instance claim
//! rows, deliver, retry with a delay, and disable a notification after
//! three failures in a row until it is reset.
//!
//! `events.rs` the event kinds, payloads, samples and filters;
//! `manage.rs` the operations behind the API; `deliver.rs` the worker;
//! `expiry.rs` the scan behind `repo_image_expiry`; `send.rs` the HTTP methods; `email.rs` SMTP; `secret.rs` webhook signing
//! secrets.

mod deliver;
mod email;
mod events;
mod expiry;
mod manage;
mod secret;
mod send;

use std::time::Duration;

pub use deliver::Notifier;
pub use email::MailSettings;
pub use events::{
    EVENT_KINDS, EventKind, PRIORITIES, QuotaEvent, RepoEvent, Site, Vulnerability, should_perform,
};
pub use manage::{
    Created, DeliveryRecord, Notification, NotificationInput, NotificationScope, UserNotification,
};
pub use secret::{KeyError, SecretBox, signature};

use crate::ssrf::SsrfGuard;

/// How notifications are delivered.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Wait before a failed delivery is tried again (Quay: 30 s).
    pub retry_delay: Duration,
    /// Tries per delivery (Quay: 5).
    pub max_attempts: i32,
    /// Bound on one attempt (`NOTIFICATION_SEND_TIMEOUT`, Quay: 10 s).
    pub send_timeout: Duration,
    /// Deliveries an instance makes at once.
    pub workers: usize,
    /// The SMTP server of the `email` method, if configured.
    pub mail: Option<MailSettings>,
    /// Which webhook and Slack targets may be called.
    pub ssrf: SsrfGuard,
    /// Seals webhook signing secrets (`DATABASE_SECRET_KEY`); without it,
    /// webhooks cannot be created.
    pub secrets: Option<SecretBox>,
    /// Where the registry is reached, for payload URLs.
    pub site: Site,
    /// Whether `repo_image_expiry` notifications are scanned
    /// (`FEATURE_IMAGE_EXPIRY_TRIGGER`).
    pub image_expiry_trigger: bool,
    /// The least time between two scans of one such notification
    /// (`NOTIFICATION_TASK_RUN_MINIMUM_INTERVAL_MINUTES`, Quay: 5 h).
    pub image_expiry_interval: Duration,
    /// An image indexed with findings at or above this severity records
    /// `vulnerability_found` (`NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX`,
    /// Quay's High); `None` when `FEATURE_SECURITY_SCANNER_NOTIFY_ON_NEW_INDEX`
    /// is off.
    pub new_index_min_severity: Option<crate::vulns::Severity>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            retry_delay: Duration::from_secs(30),
            max_attempts: 5,
            send_timeout: Duration::from_secs(10),
            workers: 4,
            mail: None,
            ssrf: SsrfGuard::default(),
            secrets: None,
            site: Site {
                host: "localhost".into(),
                scheme: "http".into(),
            },
            image_expiry_trigger: true,
            image_expiry_interval: Duration::from_secs(300 * 60),
            new_index_min_severity: Some(crate::vulns::Severity::High),
        }
    }
}

/// A notification method (Quay's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// POST the event data as JSON.
    Webhook,
    /// Post a message to a Slack incoming webhook.
    Slack,
    /// Send an e-mail.
    Email,
    /// Leave an in-app notification.
    QuayNotification,
}

impl Method {
    /// Quay's name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Webhook => "webhook",
            Method::Slack => "slack",
            Method::Email => "email",
            Method::QuayNotification => "quay_notification",
        }
    }

    /// The method named `name`.
    pub fn parse(name: &str) -> Option<Method> {
        [
            Method::Webhook,
            Method::Slack,
            Method::Email,
            Method::QuayNotification,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}
