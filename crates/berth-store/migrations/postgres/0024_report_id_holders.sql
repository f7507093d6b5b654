-- How many of a report's package-key rows carry each finding id, so a
-- re-match that takes an id from one key's features knows, without
-- reading the image's other rows, whether the image still has it. NULL on
-- ids stored before they were counted; their report is matched whole by
-- the next change that touches it, and counted then.
ALTER TABLE vuln_report_ids ADD COLUMN holders BIGINT;

-- A re-match rewrites one key row per image, each a few kilobytes of JSON:
-- lz4 compresses them more than twice as fast as the default pglz. Only
-- where the server was built with lz4.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE vuln_report_keys ALTER COLUMN features SET COMPRESSION lz4;
    END IF;
END
$$;
