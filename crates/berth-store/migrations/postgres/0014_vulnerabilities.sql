-- Vulnerability feeds, their normalized advisories and per-image reports.
-- vuln_feeds: one row per feed; an instance updates a feed only while it
-- holds the claim (claim_token, claimed_until_ms), so one instance at a
-- time. vuln_sources: the feed's files and their validators (ETag,
-- Last-Modified, a listing's members), sent back as conditional requests.
-- vuln_advisories: normalized records, replaced per source; `digest` tells
-- a changed record from an unchanged one. vuln_reports: each manifest's
-- findings; vuln_report_keys: the (namespace, package) keys each report
-- was matched on, so a changed advisory re-matches only the images it can
-- touch.
CREATE TABLE vuln_feeds (
    name TEXT PRIMARY KEY,
    checked_ms BIGINT,
    changed_ms BIGINT,
    last_error TEXT,
    claim_token TEXT,
    claimed_until_ms BIGINT
);

CREATE TABLE vuln_sources (
    feed TEXT NOT NULL REFERENCES vuln_feeds(name) ON DELETE CASCADE,
    source TEXT NOT NULL,
    validators TEXT NOT NULL,
    PRIMARY KEY (feed, source)
);

CREATE TABLE vuln_advisories (
    feed TEXT NOT NULL,
    source TEXT NOT NULL,
    namespace TEXT NOT NULL,
    package TEXT NOT NULL,
    id TEXT NOT NULL,
    aliases TEXT NOT NULL,
    severity TEXT NOT NULL,
    fixed_version TEXT,
    affected TEXT NOT NULL,
    links TEXT NOT NULL,
    description TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (feed, source, namespace, package, id)
);
CREATE INDEX vuln_advisories_key ON vuln_advisories (namespace, package);

CREATE TABLE vuln_reports (
    manifest_digest TEXT PRIMARY KEY,
    report TEXT NOT NULL,
    matched_ms BIGINT NOT NULL
);

CREATE TABLE vuln_report_keys (
    namespace TEXT NOT NULL,
    package TEXT NOT NULL,
    manifest_digest TEXT NOT NULL REFERENCES vuln_reports(manifest_digest) ON DELETE CASCADE,
    PRIMARY KEY (namespace, package, manifest_digest)
);
CREATE INDEX vuln_report_keys_manifest ON vuln_report_keys (manifest_digest);
