-- Immutable tags. `immutable` marks a row made immutable by the API or the
-- `quay.immutable` label; `policy_exempt` a row an administrator released
-- from the immutability policies (until the tag next moves). Policies are
-- matched when a tag is checked, so removing one releases what it alone held.
ALTER TABLE tags ADD COLUMN immutable BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tags ADD COLUMN policy_exempt BOOLEAN NOT NULL DEFAULT FALSE;

-- Immutability policies of an organization or of one repository: live tags
-- whose name the pattern matches (or, with `tag_pattern_matches` false,
-- does not match) are immutable.
CREATE TABLE immutability_policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    namespace_id BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
    repository_id BIGINT REFERENCES repositories(id) ON DELETE CASCADE,
    tag_pattern TEXT NOT NULL,
    tag_pattern_matches BOOLEAN NOT NULL,
    created_ms BIGINT NOT NULL,
    CHECK ((namespace_id IS NULL) <> (repository_id IS NULL))
);
CREATE INDEX immutability_policies_namespace ON immutability_policies(namespace_id);
CREATE INDEX immutability_policies_repository ON immutability_policies(repository_id);
