-- Tag listings read the names and planned expiries of a repository's live
-- tags in name order: this index holds every column they test, so a
-- listing of 10,000 tags reads it alone instead of also looking up every
-- row in the table (SQLite wants `end_ms` in it too, though the index's
-- condition fixes it).
CREATE INDEX tags_live_listing ON tags(repository_id, name, expires_ms, end_ms) WHERE end_ms IS NULL;
