//! Event notifications: their definitions (per repository, or per
//! namespace for quota events), the queue of deliveries and the delivery
//! log. Events are queued by [`enqueue_events!`] inside the transaction of
//! the change that causes them.

use crate::{Db, StoreError, now_ms, on_db};

/// Failures in a row after which a notification is skipped (Quay's 3).
pub const DISABLED_AFTER_FAILURES: i32 = 3;
/// Delivery-log entries kept per notification (the newest).
const LOG_KEPT: i64 = 100;

/// Who an event concerns: the notifications it is queued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventScope {
    /// The notifications of a repository (by id).
    Repository(i64),
    /// The namespace notifications of a namespace (by name).
    Namespace(String),
}

/// An event to queue for every enabled notification of its scope and kind.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The event's id, sent with every delivery and retry of it.
    pub delivery: String,
    /// Whose notifications.
    pub scope: EventScope,
    /// The event kind (`repo_push`, ...).
    pub event: String,
    /// The event data, JSON.
    pub payload: String,
}

/// Queue one row per enabled notification of the scope and kind.
pub(crate) const ENQUEUE_FOR_REPOSITORY: &str = "INSERT INTO notification_queue \
     (notification_id, delivery, event, payload, queued_ms, next_attempt_ms) \
     SELECT id, $2, $3, $4, $5, $5 FROM notifications \
     WHERE repository_id = $1 AND event = $3 AND number_of_failures < 3";
/// As [`ENQUEUE_FOR_REPOSITORY`], for a namespace's notifications.
pub(crate) const ENQUEUE_FOR_NAMESPACE: &str = "INSERT INTO notification_queue \
     (notification_id, delivery, event, payload, queued_ms, next_attempt_ms) \
     SELECT id, $2, $3, $4, $5, $5 FROM notifications \
     WHERE namespace_id = (SELECT id FROM accounts WHERE name = $1) AND event = $3 \
       AND number_of_failures < 3";

/// Queue `$events` (a slice of [`NewEvent`]) on executor `$exec` (a
/// transaction of either backend), stamped `$now`.
macro_rules! enqueue_events {
    ($exec:expr, $events:expr, $now:expr) => {
        for e in $events {
            let query = match &e.scope {
                $crate::metadata::EventScope::Repository(id) => {
                    sqlx::query($crate::metadata::notifications::ENQUEUE_FOR_REPOSITORY).bind(*id)
                }
                $crate::metadata::EventScope::Namespace(ns) => {
                    sqlx::query($crate::metadata::notifications::ENQUEUE_FOR_NAMESPACE).bind(ns.clone())
                }
            };
            query
                .bind(&e.delivery)
                .bind(&e.event)
                .bind(&e.payload)
                .bind($now)
                .execute(&mut *$exec)
                .await?;
        }
    };
}
pub(crate) use enqueue_events;

/// A notification to create.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Its public id.
    pub uuid: String,
    /// Repository or namespace (by name: the namespace's account).
    pub scope: EventScope,
    /// Event kind.
    pub event: String,
    /// Method.
    pub method: String,
    /// Method configuration, JSON.
    pub config: String,
    /// Event configuration (filters), JSON.
    pub event_config: String,
    /// Title.
    pub title: Option<String>,
    /// Encrypted signing secret (webhooks).
    pub secret: Option<Vec<u8>>,
}

/// A stored notification.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    /// Row id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// Repository full name, for a repository notification.
    pub repository: Option<String>,
    /// Namespace name, for a namespace notification.
    pub namespace: Option<String>,
    /// Event kind.
    pub event: String,
    /// Method.
    pub method: String,
    /// Method configuration, JSON.
    pub config: String,
    /// Event configuration, JSON.
    pub event_config: String,
    /// Title.
    pub title: Option<String>,
    /// Encrypted signing secret.
    pub secret: Option<Vec<u8>>,
    /// Failures in a row.
    pub number_of_failures: i32,
    /// Creation time.
    pub created_ms: i64,
}

/// `SELECT` of [`NotificationRow`]s, with a `WHERE` clause.
macro_rules! select_notifications {
    ($where:literal) => {
        concat!(
            "SELECT n.id, n.uuid, r.name AS repository, a.name AS namespace, n.event, ",
            "n.method, n.config, n.event_config, n.title, n.secret, n.number_of_failures, n.created_ms ",
            "FROM notifications n LEFT JOIN repositories r ON r.id = n.repository_id ",
            "LEFT JOIN accounts a ON a.id = n.namespace_id ",
            $where
        )
    };
}

/// A claimed delivery with its notification.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryJob {
    /// Queue row id.
    pub id: i64,
    /// The event's id.
    pub delivery: String,
    /// Event kind.
    pub event: String,
    /// Event data, JSON.
    pub payload: String,
    /// Claims so far, this one included.
    pub attempts: i32,
    /// When the event was queued.
    pub queued_ms: i64,
    /// The notification's row id.
    pub notification_id: i64,
}

/// What a failed attempt led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Tried again later.
    Retry,
    /// Out of tries: the delivery was dropped.
    GaveUp,
    /// The notification reached [`DISABLED_AFTER_FAILURES`]: it is
    /// disabled and its queued deliveries were dropped.
    Disabled,
}

/// One attempt, for the delivery log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryLogRow {
    /// The event's id.
    pub delivery: String,
    /// Which try.
    pub attempt: i32,
    /// When.
    pub created_ms: i64,
    /// Whether it was delivered.
    pub success: bool,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// How long the attempt took.
    pub latency_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
}

/// An attempt to record.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// How long it took.
    pub latency_ms: i64,
    /// Why it failed (`None`: delivered).
    pub error: Option<&'a str>,
}

/// Log an attempt and keep only the newest [`LOG_KEPT`] entries.
macro_rules! insert_log {
    ($tx:expr, $job:expr, $attempt:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO notification_log (notification_id, delivery, attempt, created_ms, success, \
             status, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($job.notification_id)
        .bind(&$job.delivery)
        .bind($job.attempts)
        .bind($now)
        .bind($attempt.error.is_none())
        .bind($attempt.status)
        .bind($attempt.latency_ms)
        .bind($attempt.error)
        .execute(&mut *$tx)
        .await?;
        sqlx::query(
            "DELETE FROM notification_log WHERE notification_id = $1 AND id NOT IN \
             (SELECT id FROM notification_log WHERE notification_id = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind($job.notification_id)
        .bind(LOG_KEPT)
        .execute(&mut *$tx)
        .await?;
    };
}

impl Db {
    /// Create a notification; `false` if its namespace account is gone.
    pub async fn create_notification(&self, n: &NewNotification) -> Result<bool, StoreError> {
        let (repo, ns) = match &n.scope {
            EventScope::Repository(id) => (Some(*id), None),
            EventScope::Namespace(ns) => (None, Some(ns.clone())),
        };
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "INSERT INTO notifications (uuid, repository_id, namespace_id, event, method, config, \
                 event_config, title, secret, created_ms) \
                 SELECT $1, $2, (SELECT id FROM accounts WHERE name = $3), $4, $5, $6, $7, $8, $9, $10 \
                 WHERE $2 IS NOT NULL OR EXISTS (SELECT 1 FROM accounts WHERE name = $3)",
            )
            .bind(&n.uuid)
            .bind(repo)
            .bind(ns)
            .bind(&n.event)
            .bind(&n.method)
            .bind(&n.config)
            .bind(&n.event_config)
            .bind(&n.title)
            .bind(&n.secret)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The notifications of a scope, oldest first.
    pub async fn notifications(&self, scope: &EventScope) -> Result<Vec<NotificationRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<NotificationRow> = match scope {
                EventScope::Repository(id) => sqlx::query_as(select_notifications!(
                    "WHERE n.repository_id = $1 ORDER BY n.id"
                ))
                .bind(*id)
                .fetch_all(pool)
                .await?,
                EventScope::Namespace(ns) => sqlx::query_as(select_notifications!(
                    "WHERE a.name = $1 ORDER BY n.id"
                ))
                .bind(ns)
                .fetch_all(pool)
                .await?,
            };
            Ok(rows)
        })
    }

    /// A notification by its public id, within a scope.
    pub async fn notification(
        &self,
        scope: &EventScope,
        uuid: &str,
    ) -> Result<Option<NotificationRow>, StoreError> {
        Ok(self
            .notifications(scope)
            .await?
            .into_iter()
            .find(|n| n.uuid == uuid))
    }

    /// A notification by row id.
    pub async fn notification_by_id(&self, id: i64) -> Result<Option<NotificationRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<NotificationRow> =
                sqlx::query_as(select_notifications!("WHERE n.id = $1"))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            Ok(row)
        })
    }

    /// Delete a notification with its queued deliveries and log.
    pub async fn delete_notification(&self, id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM notifications WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Set a notification's failure count back to zero (enabling it again).
    pub async fn reset_notification(&self, id: i64) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query("UPDATE notifications SET number_of_failures = 0 WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Queue events in their own transaction (for causes that commit
    /// nothing else, like a refused push).
    pub async fn enqueue_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            enqueue_events!(tx, events, now);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Queue one delivery for one notification, whatever its failures (a
    /// test delivery).
    pub async fn enqueue_delivery(
        &self,
        notification_id: i64,
        delivery: &str,
        event: &str,
        payload: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO notification_queue \
                 (notification_id, delivery, event, payload, queued_ms, next_attempt_ms) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(notification_id)
            .bind(delivery)
            .bind(event)
            .bind(payload)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Claim the oldest delivery of a notification no worker holds, when it
    /// is due, leasing that notification for `lease_ms`: one delivery at a
    /// time per notification, in queue order (a later event never overtakes
    /// an earlier one that is waiting for a retry). The lease is re-checked
    /// on the notification's row itself, so two workers never hold it.
    pub async fn claim_delivery(&self, lease_ms: i64) -> Result<Option<DeliveryJob>, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let leased: Option<(i64,)> = sqlx::query_as(
                "UPDATE notifications SET busy_until_ms = $1 \
                 WHERE id = (SELECT q.notification_id FROM notification_queue q \
                             JOIN notifications n ON n.id = q.notification_id \
                             WHERE q.next_attempt_ms <= $2 \
                               AND (n.busy_until_ms IS NULL OR n.busy_until_ms < $2) \
                               AND NOT EXISTS (SELECT 1 FROM notification_queue o \
                                   WHERE o.notification_id = q.notification_id AND o.id < q.id) \
                             ORDER BY q.next_attempt_ms, q.id LIMIT 1) \
                   AND (busy_until_ms IS NULL OR busy_until_ms < $2) \
                 RETURNING id",
            )
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((notification,)) = leased else {
                tx.commit().await?;
                return Ok(None);
            };
            let job: Option<DeliveryJob> = sqlx::query_as(
                "UPDATE notification_queue SET attempts = attempts + 1 \
                 WHERE id = (SELECT id FROM notification_queue \
                             WHERE notification_id = $1 AND next_attempt_ms <= $2 \
                             ORDER BY id LIMIT 1) \
                 RETURNING id, delivery, event, payload, attempts, queued_ms, notification_id",
            )
            .bind(notification)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if job.is_none() {
                sqlx::query("UPDATE notifications SET busy_until_ms = NULL WHERE id = $1")
                    .bind(notification)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(job)
        })
    }

    /// When the next queued delivery can be made (due, and its
    /// notification not held), if any is queued.
    pub async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        on_db!(self.reader(), pool => {
            let (due,): (Option<i64>,) = sqlx::query_as(
                "SELECT min(CASE WHEN n.busy_until_ms > q.next_attempt_ms THEN n.busy_until_ms \
                 ELSE q.next_attempt_ms END) \
                 FROM notification_queue q JOIN notifications n ON n.id = q.notification_id \
                 WHERE NOT EXISTS (SELECT 1 FROM notification_queue o \
                     WHERE o.notification_id = q.notification_id AND o.id < q.id)",
            )
            .fetch_one(pool)
            .await?;
            Ok(due)
        })
    }

    /// Deliveries queued and when the oldest was queued (a metrics gauge).
    pub async fn notification_backlog(&self) -> Result<(i64, Option<i64>), StoreError> {
        on_db!(self.reader(), pool => {
            let row: (i64, Option<i64>) =
                sqlx::query_as("SELECT count(*), min(queued_ms) FROM notification_queue")
                    .fetch_one(pool)
                    .await?;
            Ok(row)
        })
    }

    /// Drop a claimed delivery that is not to be made (filtered out, or
    /// its notification is disabled), releasing the notification.
    pub async fn drop_delivery(&self, job: &DeliveryJob) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM notification_queue WHERE id = $1")
                .bind(job.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE notifications SET busy_until_ms = NULL WHERE id = $1")
                .bind(job.notification_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// A delivery succeeded: remove it, clear the notification's failures
    /// and log the attempt, in one transaction.
    pub async fn delivery_succeeded(
        &self,
        job: &DeliveryJob,
        attempt: &Attempt<'_>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM notification_queue WHERE id = $1")
                .bind(job.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE notifications SET number_of_failures = 0, busy_until_ms = NULL WHERE id = $1")
                .bind(job.notification_id)
                .execute(&mut *tx)
                .await?;
            insert_log!(tx, job, attempt, now);
            tx.commit().await?;
            Ok(())
        })
    }

    /// A delivery failed: log it and count the failure; retry it (and hold
    /// back the notification's other deliveries, so an outage counts once
    /// per round, not once per event) at `retry_at_ms`, give up after
    /// `max_attempts`, or disable the notification at
    /// [`DISABLED_AFTER_FAILURES`] and drop its queue. One transaction.
    pub async fn delivery_failed(
        &self,
        job: &DeliveryJob,
        attempt: &Attempt<'_>,
        retry_at_ms: i64,
        max_attempts: i32,
    ) -> Result<FailureOutcome, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            insert_log!(tx, job, attempt, now);
            let failures: Option<(i32,)> = sqlx::query_as(
                "UPDATE notifications SET number_of_failures = number_of_failures + 1, busy_until_ms = NULL \
                 WHERE id = $1 RETURNING number_of_failures",
            )
            .bind(job.notification_id)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = if failures.is_some_and(|(f,)| f >= DISABLED_AFTER_FAILURES) {
                sqlx::query("DELETE FROM notification_queue WHERE notification_id = $1")
                    .bind(job.notification_id)
                    .execute(&mut *tx)
                    .await?;
                FailureOutcome::Disabled
            } else if job.attempts >= max_attempts {
                sqlx::query("DELETE FROM notification_queue WHERE id = $1")
                    .bind(job.id)
                    .execute(&mut *tx)
                    .await?;
                FailureOutcome::GaveUp
            } else {
                sqlx::query(
                    "UPDATE notification_queue SET \
                     next_attempt_ms = CASE WHEN next_attempt_ms > $2 THEN next_attempt_ms ELSE $2 END \
                     WHERE notification_id = $1",
                )
                .bind(job.notification_id)
                .bind(retry_at_ms)
                .execute(&mut *tx)
                .await?;
                FailureOutcome::Retry
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// A notification's delivery log, newest first.
    pub async fn delivery_log(&self, notification_id: i64) -> Result<Vec<DeliveryLogRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<DeliveryLogRow> = sqlx::query_as(
                "SELECT delivery, attempt, created_ms, success, status, latency_ms, error \
                 FROM notification_log WHERE notification_id = $1 ORDER BY id DESC",
            )
            .bind(notification_id)
            .fetch_all(pool)
            .await?;
            Ok(rows)
        })
    }
}
