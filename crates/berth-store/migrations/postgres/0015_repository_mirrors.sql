-- Repository mirrors (Quay's RepoMirrorConfig with its status): one per
-- repository. Credentials are stored only sealed (AES-256-GCM under
-- DATABASE_SECRET_KEY). A worker on any instance claims a due mirror by
-- setting `claim_token` and `sync_expiration_ms` (its lease) in one UPDATE;
-- `sync-cancel` clears the claim, which the worker notices after each tag.
CREATE TABLE repository_mirrors (
    repository_id BIGINT PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    is_enabled BOOLEAN NOT NULL,
    external_reference TEXT NOT NULL,
    username_sealed BYTEA,
    password_sealed BYTEA,
    robot_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    sync_interval_s BIGINT NOT NULL,
    sync_start_ms BIGINT,
    tag_globs TEXT NOT NULL,
    registry_config TEXT NOT NULL,
    timeout_s BIGINT NOT NULL,
    architecture_filter TEXT,
    sync_status TEXT NOT NULL DEFAULT 'NEVER_RUN',
    sync_retries_remaining BIGINT NOT NULL DEFAULT 3,
    sync_expiration_ms BIGINT,
    claim_token TEXT,
    last_sync_ms BIGINT,
    last_error TEXT
);
