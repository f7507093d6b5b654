-- Pull statistics (FEATURE_IMAGE_PULL_STATS): how often and when each tag
-- and each manifest was last pulled. Instances count pulls in memory and
-- add them here as increments, so several instances add up.

-- Per tag name: kept while any row of the tag exists (live or within the
-- time-machine window), so a restored tag keeps its counts; garbage
-- collection removes it with the tag's last row. `manifest_digest` is the
-- manifest the tag resolved to at its latest pull.
CREATE TABLE tag_pull_stats (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    tag_name TEXT NOT NULL,
    pull_count BIGINT NOT NULL,
    last_pull_ms BIGINT NOT NULL,
    manifest_digest TEXT NOT NULL,
    PRIMARY KEY (repository_id, tag_name)
);

-- Per manifest: goes with the manifest (deleted, or collected).
CREATE TABLE manifest_pull_stats (
    repository_id BIGINT NOT NULL,
    manifest_digest TEXT NOT NULL,
    pull_count BIGINT NOT NULL,
    last_pull_ms BIGINT NOT NULL,
    PRIMARY KEY (repository_id, manifest_digest),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
