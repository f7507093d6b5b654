-- Repository states (Quay's `RepositoryState`): NORMAL takes every write,
-- READ_ONLY none, MIRROR only its mirror's robot.
ALTER TABLE repositories ADD COLUMN state TEXT NOT NULL DEFAULT 'NORMAL';

-- Auto-prune policies of a namespace (organization or user) or of one
-- repository. `method` is number_of_tags, creation_date or last_pulled;
-- `value` is kept as given (a count, or a duration such as `2w`) so the
-- API shows it back unchanged.
CREATE TABLE autoprune_policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    namespace_id BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
    repository_id BIGINT REFERENCES repositories(id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    value TEXT NOT NULL,
    tag_pattern TEXT,
    tag_pattern_matches BOOLEAN NOT NULL,
    created_ms BIGINT NOT NULL,
    CHECK ((namespace_id IS NULL) <> (repository_id IS NULL))
);
CREATE INDEX autoprune_policies_namespace ON autoprune_policies(namespace_id);
CREATE INDEX autoprune_policies_repository ON autoprune_policies(repository_id);

-- One row per namespace the pruner has looked at: an instance claims the
-- namespace (`claimed_until_ms`, `claim_token`) while it prunes it, so two
-- instances never prune one namespace at once; `last_run_ms` spaces runs.
CREATE TABLE autoprune_runs (
    namespace_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    claim_token TEXT,
    claimed_until_ms BIGINT NOT NULL,
    last_run_ms BIGINT
);
