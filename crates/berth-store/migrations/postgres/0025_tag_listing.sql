-- Tag listings read the names and planned expiries of a repository's live
-- tags in name order: the unique index on live names now carries the
-- expiry too, so a listing can be answered from the index alone.
DROP INDEX tags_live;
CREATE UNIQUE INDEX tags_live ON tags(repository_id, name) INCLUDE (expires_ms) WHERE end_ms IS NULL;
