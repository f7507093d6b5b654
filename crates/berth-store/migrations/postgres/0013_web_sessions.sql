-- Console sign-ins. The cookie holds a random token; only its SHA-256 is
-- stored, so a copy of the database signs no one in. Any instance serves
-- any request of a session.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_ms);
