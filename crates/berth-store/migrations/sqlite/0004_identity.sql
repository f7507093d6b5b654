-- Identity and access. Users, organizations and robots share one table so
-- their names share one namespace (a robot's name is `owner+short`, which
-- no user or organization name can be). Secrets are argon2 PHC strings.
-- Times are milliseconds since the Unix epoch.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'org', 'robot')),
    email TEXT,
    -- A user's password or a robot's token.
    secret_hash TEXT,
    super_user BOOLEAN NOT NULL DEFAULT FALSE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    -- The namespace (user or organization) a robot belongs to.
    owner_id BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    -- The namespace's time-machine window; NULL means the configured default.
    tag_expiration_s BIGINT,
    created_ms BIGINT NOT NULL,
    last_accessed_ms BIGINT
);
CREATE INDEX accounts_owner ON accounts(owner_id) WHERE owner_id IS NOT NULL;

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('member', 'creator', 'admin')),
    description TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, account_id)
);
CREATE INDEX team_members_account ON team_members(account_id);

-- Repositories are private unless made public.
ALTER TABLE repositories ADD COLUMN is_public BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';

-- A role on one repository for exactly one account (user or robot) or team.
CREATE TABLE repository_permissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    account_id BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
    team_id BIGINT REFERENCES teams(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    CHECK ((account_id IS NULL) <> (team_id IS NULL))
);
CREATE UNIQUE INDEX repository_permissions_account ON repository_permissions(repository_id, account_id)
    WHERE account_id IS NOT NULL;
CREATE UNIQUE INDEX repository_permissions_team ON repository_permissions(repository_id, team_id)
    WHERE team_id IS NOT NULL;
CREATE INDEX repository_permissions_by_account ON repository_permissions(account_id);
CREATE INDEX repository_permissions_by_team ON repository_permissions(team_id);

-- Secrets presented as one string carry a clear `lookup` prefix that finds
-- the row, and a secret part kept only as a hash.
CREATE TABLE app_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    lookup TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    last_accessed_ms BIGINT
);

CREATE TABLE oauth_apps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL UNIQUE,
    client_secret_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    application_uri TEXT NOT NULL DEFAULT '',
    redirect_uri TEXT NOT NULL DEFAULT '',
    avatar_email TEXT,
    created_ms BIGINT NOT NULL
);

-- An access token of an application, acting for one user within `scopes`
-- (space-separated).
CREATE TABLE oauth_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    app_id BIGINT NOT NULL REFERENCES oauth_apps(id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    lookup TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    last_accessed_ms BIGINT
);

-- Keys that sign registry tokens. The newest unretired key signs; retired
-- keys still verify tokens issued before they were retired.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_der BLOB NOT NULL,
    public_der BLOB NOT NULL,
    created_ms BIGINT NOT NULL,
    retired_ms BIGINT
);

-- The usage (audit) log. Names are recorded as they were at the time.
CREATE TABLE audit_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    performer TEXT,
    performer_kind TEXT,
    namespace TEXT,
    repository TEXT,
    ip TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_ms BIGINT NOT NULL
);
CREATE INDEX audit_logs_namespace ON audit_logs(namespace, created_ms);
CREATE INDEX audit_logs_repository ON audit_logs(namespace, repository, created_ms);
CREATE INDEX audit_logs_performer ON audit_logs(performer, created_ms);
CREATE INDEX audit_logs_time ON audit_logs(created_ms);

-- Failed logins per account (`account:<name>`) and per address (`ip:<addr>`).
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL DEFAULT 0
);
