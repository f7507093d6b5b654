-- How many of a report's package-key rows carry each finding id, so a
-- re-match that takes an id from one key's features knows, without
-- reading the image's other rows, whether the image still has it. NULL on
-- ids stored before they were counted; their report is matched whole by
-- the next change that touches it, and counted then.
ALTER TABLE vuln_report_ids ADD COLUMN holders INTEGER;
