-- Proxy cache (pull-through): an organization configured with an upstream
-- registry serves what it lacks from there and keeps it.

-- One upstream per organization. `upstream_host` is the host (and port) of
-- `upstream_registry`, for finding the organization of a `?ns=` request.
-- The credentials are encrypted (AES-256-GCM under DATABASE_SECRET_KEY).
CREATE TABLE proxy_cache_configs (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    upstream_registry TEXT NOT NULL,
    upstream_host TEXT NOT NULL,
    expiration_s BIGINT NOT NULL,
    insecure BOOLEAN NOT NULL,
    username_sealed BYTEA,
    password_sealed BYTEA,
    created_ms BIGINT NOT NULL
);
CREATE INDEX proxy_cache_configs_host ON proxy_cache_configs(upstream_host);

-- When each cached tag was last found current upstream: past
-- `expiration_s` it is revalidated before it is served.
CREATE TABLE proxy_cache_tags (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    checked_ms BIGINT NOT NULL,
    PRIMARY KEY (repository_id, tag)
);

-- Blobs a cached manifest references that are not fetched yet: they join
-- `manifest_blobs` (and count towards quotas) once stored.
CREATE TABLE proxy_pending_blobs (
    manifest_id BIGINT NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    PRIMARY KEY (manifest_id, digest)
);
CREATE INDEX proxy_pending_blobs_digest ON proxy_pending_blobs(digest);
