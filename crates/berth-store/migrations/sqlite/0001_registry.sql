-- Registry core: repositories, content-addressed blobs, raw manifests,
-- tags with lifetimes and durable upload sessions. Times are milliseconds
-- since the Unix epoch.
CREATE TABLE repositories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest TEXT NOT NULL REFERENCES blobs(digest),
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs(digest);

CREATE TABLE manifests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    artifact_type TEXT,
    subject_digest TEXT,
    annotations TEXT,
    size BIGINT NOT NULL,
    content BLOB NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests(repository_id, subject_digest) WHERE subject_digest IS NOT NULL;

CREATE TABLE manifest_blobs (
    manifest_id BIGINT NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    digest TEXT NOT NULL REFERENCES blobs(digest),
    PRIMARY KEY (manifest_id, digest)
);
CREATE INDEX manifest_blobs_digest ON manifest_blobs(digest);

CREATE TABLE manifest_children (
    manifest_id BIGINT NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    child_digest TEXT NOT NULL,
    PRIMARY KEY (manifest_id, child_digest)
);
CREATE INDEX manifest_children_child ON manifest_children(child_digest);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT,
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE UNIQUE INDEX tags_live ON tags(repository_id, name) WHERE end_ms IS NULL;
CREATE INDEX tags_history ON tags(repository_id, name, start_ms);
CREATE INDEX tags_manifest ON tags(repository_id, manifest_digest);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    algorithm TEXT NOT NULL,
    size BIGINT NOT NULL,
    hash_state BLOB NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
