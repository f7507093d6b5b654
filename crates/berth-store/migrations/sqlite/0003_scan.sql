-- Image indexing: pushed image manifests wait in scan_queue until a worker
-- indexes them; each layer is indexed once per layer digest and scanner
-- format (scan_layers), each image's inventory is kept per manifest digest
-- and format (scan_reports). Results are JSON written by berth-scan.
CREATE TABLE scan_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    manifest_digest TEXT NOT NULL,
    queued_ms BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until_ms BIGINT,
    UNIQUE (repository_id, manifest_digest)
);

CREATE TABLE scan_layers (
    digest TEXT NOT NULL,
    format INTEGER NOT NULL,
    result TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (digest, format)
);

CREATE TABLE scan_reports (
    manifest_digest TEXT NOT NULL,
    format INTEGER NOT NULL,
    report TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (manifest_digest, format)
);
