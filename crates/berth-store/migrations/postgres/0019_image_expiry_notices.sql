-- `repo_image_expiry` notifications: when each was last scanned (at most
-- once per NOTIFICATION_TASK_RUN_MINIMUM_INTERVAL_MINUTES, whichever
-- instance does it), and which tag rows each has already announced, so a
-- tag is announced once per notification (Quay's TagNotificationSuccess).
ALTER TABLE notifications ADD COLUMN last_ran_ms BIGINT;

CREATE TABLE notification_tag_expiry (
    notification_id BIGINT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (notification_id, tag_id)
);
CREATE INDEX notification_tag_expiry_tag ON notification_tag_expiry(tag_id);
