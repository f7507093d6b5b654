-- A report's features live with the key they were matched on: each
-- vuln_report_keys row of a package key holds the image's features under
-- that key (JSON), so a feed change reads and rewrites only the rows of
-- the keys it changed. NULL on enrichment keys, and on reports stored
-- whole in vuln_reports.report before this migration (matched whole again
-- by the next change that touches them).
ALTER TABLE vuln_report_keys ADD COLUMN features TEXT;
