-- Event notifications (Quay's repository and namespace notifications).
-- An event is queued in the transaction of the change that causes it: one
-- queue row per (event, notification), claimed by any instance's worker.

-- A repository notification has `repository_id`; a namespace notification
-- (quota events) has `namespace_id` instead.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    repository_id BIGINT REFERENCES repositories(id) ON DELETE CASCADE,
    namespace_id BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    method TEXT NOT NULL,
    config TEXT NOT NULL,
    event_config TEXT NOT NULL,
    title TEXT,
    -- The webhook signing secret, encrypted (AES-256-GCM, nonce first).
    secret BLOB,
    number_of_failures INTEGER NOT NULL DEFAULT 0,
    -- The lease of the worker delivering to it: one delivery at a time
    -- per notification, so an outage counts one failure per round.
    busy_until_ms BIGINT,
    created_ms BIGINT NOT NULL,
    CHECK ((repository_id IS NULL) <> (namespace_id IS NULL))
);
CREATE INDEX notifications_repository ON notifications(repository_id, event);
CREATE INDEX notifications_namespace ON notifications(namespace_id, event);

-- Deliveries to make. `delivery` names the event (the same on every retry);
-- a row is tried at `next_attempt_ms`, by the worker holding its
-- notification's lease.
CREATE TABLE notification_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    delivery TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    queued_ms BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL
);
CREATE INDEX notification_queue_due ON notification_queue(next_attempt_ms);
CREATE INDEX notification_queue_notification ON notification_queue(notification_id, id);

-- What each attempt did.
CREATE TABLE notification_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    delivery TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    created_ms BIGINT NOT NULL,
    success BOOLEAN NOT NULL,
    status INTEGER,
    latency_ms BIGINT NOT NULL,
    error TEXT
);
CREATE INDEX notification_log_notification ON notification_log(notification_id, id);

-- In-app notifications (method `quay_notification`), per user.
CREATE TABLE user_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    metadata TEXT NOT NULL,
    dismissed BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms BIGINT NOT NULL
);
CREATE INDEX user_notifications_account ON user_notifications(account_id, id);
