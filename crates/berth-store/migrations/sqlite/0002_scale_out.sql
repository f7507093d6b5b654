-- Scale-out: an upload session carries its blob store's state (e.g. an S3
-- multipart upload id and parts) and a lease, so any instance can continue
-- it or clean it up; a blob records the object key it was assembled at
-- when that is not its digest's own key.
ALTER TABLE uploads ADD COLUMN store_state BLOB NOT NULL DEFAULT x'';
ALTER TABLE uploads ADD COLUMN lease_token TEXT;
ALTER TABLE uploads ADD COLUMN lease_until_ms BIGINT;
-- When the session counts as abandoned if no request holds its lease.
ALTER TABLE uploads ADD COLUMN expires_ms BIGINT NOT NULL DEFAULT 0;
UPDATE uploads SET expires_ms = updated_ms + 86400000;
CREATE INDEX uploads_expires ON uploads(expires_ms);

ALTER TABLE blobs ADD COLUMN location TEXT;
