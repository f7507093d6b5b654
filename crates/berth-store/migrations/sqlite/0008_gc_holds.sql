-- A hold stops garbage collection from deleting blob objects (rows may
-- still go) while it lasts, e.g. while a backup copies the objects its
-- database snapshot references. Its holder renews `expires_ms`; a holder
-- that dies lets it lapse, so no hold blocks collection for long.
CREATE TABLE gc_holds (
    token TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
