-- What garbage collection did, for the superuser's status page: the last
-- pass of any instance ('last') and the last one that removed anything
-- ('last_freeing'). One row each, replaced by every pass.
CREATE TABLE gc_passes (
    which TEXT PRIMARY KEY,
    finished_ms BIGINT NOT NULL,
    tag_rows BIGINT NOT NULL,
    manifests BIGINT NOT NULL,
    blob_links BIGINT NOT NULL,
    blobs BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    objects BIGINT NOT NULL,
    failed BOOLEAN NOT NULL
);
