//! The delivery worker. Every instance runs it; a worker leases a
//! notification (on its row, for longer than an attempt can take) and makes
//! its oldest due delivery, so each notification gets one delivery at a
//! time, in order, and a worker that dies mid-attempt leaves it to be made
//! again once the lease lapses. A receiver sees a delivery twice only
//! then, with the same `X-Berth-Delivery` id.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use berth_store::metadata::{Attempt, DISABLED_AFTER_FAILURES, DeliveryJob, FailureOutcome, NotificationRow};
use serde_json::Value;
use tokio::sync::Notify;

use super::email::Mailer;
use super::events::{EventKind, should_perform};
use super::send::{HttpSender, Outcome, slack_body, webhook_body};
use super::{Method, signature};
use crate::identity::AuditEvent;
use crate::{Registry, RegistryError};

/// Longest wait between two looks at the queue (for events queued by
/// other instances, and retries coming due).
const IDLE: Duration = Duration::from_secs(2);

/// The notification queue's worker.
pub struct Notifier {
    registry: Registry,
    /// Built at the first webhook: loading the system's trusted
    /// certificates is most of a start otherwise.
    http: OnceLock<Option<HttpSender>>,
    mailer: Option<Mailer>,
    wakeup: Arc<Notify>,
}

impl Notifier {
    /// A worker for the registry's notification queue.
    pub fn new(registry: Registry) -> Notifier {
        let config = &registry.config().notifications;
        let mailer = config.mail.as_ref().and_then(|m| {
            Mailer::new(m, config.send_timeout)
                .inspect_err(|e| tracing::error!(error = %e, "cannot set up SMTP; e-mail notifications fail"))
                .ok()
        });
        Notifier {
            wakeup: registry.notify_wakeup.clone(),
            registry,
            http: OnceLock::new(),
            mailer,
        }
    }

    /// The webhook client, built at first use.
    fn http(&self) -> Option<&HttpSender> {
        self.http
            .get_or_init(|| {
                let config = &self.registry.config().notifications;
                HttpSender::new(config.ssrf.clone(), config.send_timeout)
                    .inspect_err(
                        |e| tracing::error!(error = %e, "cannot build the webhook client; webhooks fail"),
                    )
                    .ok()
            })
            .as_ref()
    }

    /// Deliver until `shutdown` completes, with the configured number of
    /// deliveries at once. An attempt in progress then is dropped and made
    /// again after its lease.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let workers = self.registry.config().notifications.workers.max(1);
        let this = Arc::new(self);
        let loops = (0..workers).map(|_| {
            let this = Arc::clone(&this);
            async move { this.work().await }
        });
        tokio::select! {
            () = shutdown => {}
            _ = futures_util::future::join_all(loops) => {}
        }
    }

    async fn work(&self) {
        loop {
            // Registered before the queue is read, so an event queued in
            // between still wakes this loop.
            let woken = self.wakeup.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.step().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "notification delivery failed; retried after its lease"),
            }
            let wait = match self.registry.db().next_delivery_due().await {
                Ok(Some(due)) => {
                    Duration::from_millis(u64::try_from(due - crate::now_ms()).unwrap_or(0)).min(IDLE)
                }
                _ => IDLE,
            };
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Make one due delivery. `Ok(false)` when none was due.
    pub async fn step(&self) -> Result<bool, RegistryError> {
        let db = self.registry.db();
        let config = &self.registry.config().notifications;
        // An attempt is bounded by the send timeout (SMTP: per command).
        let lease = config.send_timeout * 3 + Duration::from_secs(5);
        let Some(job) = db
            .claim_delivery(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
            .await?
        else {
            return Ok(false);
        };
        let notification = db.notification_by_id(job.notification_id).await?;
        let kind = EventKind::parse(&job.event);
        let data: Value = serde_json::from_str(&job.payload).unwrap_or(Value::Null);
        let (Some(n), Some(kind)) = (notification, kind) else {
            db.drop_delivery(&job).await?;
            return Ok(true);
        };
        let event_config: Value = serde_json::from_str(&n.event_config).unwrap_or(Value::Null);
        // Disabled while it waited (as Quay, skipped until reset), or
        // filtered out.
        if n.number_of_failures >= DISABLED_AFTER_FAILURES || !should_perform(kind, &event_config, &data) {
            db.drop_delivery(&job).await?;
            return Ok(true);
        }
        let started = Instant::now();
        let outcome = self.perform(&n, &job, kind, &data).await;
        let attempt = Attempt {
            status: outcome.status,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            error: outcome.error.as_deref(),
        };
        match &outcome.error {
            None => {
                db.delivery_succeeded(&job, &attempt).await?;
                crate::metrics::notification(kind.name(), true);
            }
            Some(error) => {
                crate::metrics::notification(kind.name(), false);
                let retry_at =
                    crate::now_ms() + i64::try_from(config.retry_delay.as_millis()).unwrap_or(i64::MAX);
                let result = db
                    .delivery_failed(&job, &attempt, retry_at, config.max_attempts)
                    .await?;
                tracing::info!(notification = %n.uuid, delivery = %job.delivery, attempt = job.attempts,
                    %error, outcome = ?result, "notification delivery failed");
                if result == FailureOutcome::Disabled {
                    self.log_disabled(&n).await;
                }
            }
        }
        Ok(true)
    }

    /// Log that a notification was disabled by its failures.
    async fn log_disabled(&self, n: &NotificationRow) {
        let (kind, entry) = match (&n.repository, &n.namespace) {
            (Some(repo), _) => (
                "disable_repo_notification",
                AuditEvent::default().repository(repo),
            ),
            (None, ns) => (
                "disable_namespace_notification",
                AuditEvent::default().namespace(ns.as_deref().unwrap_or("")),
            ),
        };
        let entry = AuditEvent { kind, ..entry }.metadata(serde_json::json!({
            "notification_id": n.uuid,
            "event": n.event,
            "method": n.method,
            "number_of_failures": DISABLED_AFTER_FAILURES,
        }));
        self.registry.identity().audit().record(entry).await;
    }

    /// One attempt by the notification's method.
    async fn perform(
        &self,
        n: &NotificationRow,
        job: &DeliveryJob,
        kind: EventKind,
        data: &Value,
    ) -> Outcome {
        let config: Value = serde_json::from_str(&n.config).unwrap_or(Value::Null);
        let field = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or("");
        let Some(method) = Method::parse(&n.method) else {
            return Outcome::failed(format!("unknown method {}", n.method));
        };
        match method {
            Method::Webhook => {
                let Some(http) = self.http() else {
                    return Outcome::failed("no webhook client");
                };
                let settings = &self.registry.config().notifications;
                let secret = n
                    .secret
                    .as_deref()
                    .zip(settings.secrets.as_ref())
                    .and_then(|(sealed, sealer)| sealer.open(&n.uuid, sealed));
                let Some(secret) = secret else {
                    return Outcome::failed(
                        "cannot decrypt the signing secret (is DATABASE_SECRET_KEY the one it was created with?)",
                    );
                };
                let cloudevents = config
                    .get("cloudevents")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let (body, content_type) = webhook_body(
                    cloudevents,
                    &job.delivery,
                    kind,
                    data,
                    &settings.site,
                    job.queued_ms,
                );
                let headers = [
                    ("X-Berth-Delivery", job.delivery.clone()),
                    ("X-Berth-Event", kind.name().to_owned()),
                    ("X-Berth-Signature-256", signature(&secret, &body)),
                ];
                http.post(field("url"), body, content_type, &headers).await
            }
            Method::Slack => match self.http() {
                Some(http) => {
                    http.post(field("url"), slack_body(kind, data), "application/json", &[])
                        .await
                }
                None => Outcome::failed("no webhook client"),
            },
            Method::Email => match &self.mailer {
                Some(mailer) => match mailer.send(field("email"), kind, data).await {
                    Ok(()) => Outcome::default(),
                    Err(e) => Outcome::failed(e),
                },
                None => Outcome::failed("e-mail is not configured (MAIL_SERVER)"),
            },
            Method::QuayNotification => self.leave_in_app(n, &config, kind, data).await,
        }
    }

    /// The `quay_notification` method: one in-app notification per
    /// recipient of the target.
    async fn leave_in_app(
        &self,
        n: &NotificationRow,
        config: &Value,
        kind: EventKind,
        data: &Value,
    ) -> Outcome {
        let target = config.get("target").cloned().unwrap_or(Value::Null);
        let target_kind = target.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = target.get("name").and_then(Value::as_str).unwrap_or("");
        let ns = match (&n.repository, &n.namespace) {
            (Some(repo), _) => crate::identity::namespace_of(repo).to_owned(),
            (None, ns) => ns.clone().unwrap_or_default(),
        };
        let db = self.registry.db();
        let recipients = match db.notification_recipients(target_kind, name, &ns).await {
            Ok(r) => r,
            Err(e) => return Outcome::failed(e.to_string()),
        };
        let rows: Vec<(i64, String)> = recipients
            .into_iter()
            .map(|id| (id, uuid::Uuid::new_v4().to_string()))
            .collect();
        match db
            .add_user_notifications(&rows, kind.name(), &data.to_string())
            .await
        {
            Ok(()) => Outcome::default(),
            Err(e) => Outcome::failed(e.to_string()),
        }
    }
}
