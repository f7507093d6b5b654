-- Organization mirrors (Quay's OrgMirrorConfig): one per organization. A
-- worker on any instance claims a due mirror (`claim_token`, leased until
-- `sync_expiration_ms`) in one UPDATE and discovers the upstream
-- namespace's repositories; each matched one becomes a local repository
-- with a repository mirror (repository_mirrors), which that worker syncs.
-- Credentials are stored only sealed (AES-256-GCM under DATABASE_SECRET_KEY).
CREATE TABLE org_mirrors (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    is_enabled BOOLEAN NOT NULL,
    registry_type TEXT NOT NULL,
    registry_url TEXT NOT NULL,
    external_namespace TEXT NOT NULL,
    username_sealed BLOB,
    password_sealed BLOB,
    robot_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    visibility TEXT NOT NULL,
    sync_interval_s BIGINT NOT NULL,
    sync_start_ms BIGINT,
    repository_filters TEXT NOT NULL,
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

-- The repositories a discovery found upstream: `repository_id` is the
-- local mirror made for it (NULL for one skipped: `skip_reason` says why).
CREATE TABLE org_mirror_repositories (
    account_id BIGINT NOT NULL REFERENCES org_mirrors(account_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    repository_id BIGINT REFERENCES repositories(id) ON DELETE SET NULL,
    skip_reason TEXT,
    discovered_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);
CREATE INDEX org_mirror_repositories_repository ON org_mirror_repositories (repository_id);
