-- Tag lifecycle, garbage collection and quotas.

-- A live tag may carry a planned expiry (`quay.expires-after` or the API);
-- once it passes the tag no longer resolves, and a worker ends the row
-- (`end_ms = expires_ms`). `reversion` marks rows made by a restore.
ALTER TABLE tags ADD COLUMN expires_ms BIGINT;
ALTER TABLE tags ADD COLUMN reversion BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX tags_expiring ON tags(expires_ms) WHERE end_ms IS NULL AND expires_ms IS NOT NULL;
CREATE INDEX tags_ended ON tags(end_ms) WHERE end_ms IS NOT NULL;

-- An upload about to write a blob's object at its content address pins the
-- digest first; garbage collection deletes no object of a pinned digest.
CREATE TABLE blob_pins (
    token TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX blob_pins_digest ON blob_pins(digest);

-- Objects whose blob rows garbage collection removed, waiting to be
-- deleted from storage. A claim (lease) marks a deletion in progress.
CREATE TABLE blob_deletions (
    digest TEXT PRIMARY KEY,
    location TEXT,
    queued_ms BIGINT NOT NULL,
    claimed_until_ms BIGINT
);

-- One storage quota per namespace, with warning and reject thresholds.
CREATE TABLE quotas (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id BIGINT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
    limit_bytes BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE quota_limits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    quota_id BIGINT NOT NULL REFERENCES quotas(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('Warning', 'Reject')),
    threshold_percent INTEGER NOT NULL CHECK (threshold_percent BETWEEN 1 AND 100),
    UNIQUE (quota_id, kind, threshold_percent)
);
