//! Repository visibility and roles, and the facts the access policy
//! decides on.

use crate::{Db, StoreError, now_ms, on_db};

/// A repository as identity and access see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RepositoryRow {
    /// Row id.
    pub id: i64,
    /// Full name, `namespace/name`.
    pub name: String,
    /// Readable by anyone.
    pub is_public: bool,
    /// Markdown text.
    pub description: String,
    /// `NORMAL`, `READ_ONLY` or `MIRROR`.
    pub state: String,
}

/// A role granted on a repository to an account or a team.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PermissionRow {
    /// The repository's full name.
    pub repository: String,
    /// Whether that repository is public.
    pub is_public: bool,
    /// The account's name, for account grants.
    pub account: Option<String>,
    /// The account's kind (`user` or `robot`), for account grants.
    pub account_kind: Option<String>,
    /// The team's name, for team grants.
    pub team: Option<String>,
    /// `read`, `write` or `admin`.
    pub role: String,
}

/// What the access policy needs to know about one account and one
/// repository (or namespace).
#[derive(Debug, Clone, Default)]
pub struct AccessFacts {
    /// The repository's id and visibility, if it exists.
    pub repository: Option<(i64, bool)>,
    /// The namespace's account id and kind (`user` or `org`), if it exists.
    pub namespace: Option<(i64, String)>,
    /// Roles on the repository granted to the account or its teams.
    pub repo_roles: Vec<String>,
    /// Roles of the account's teams in the namespace's organization.
    pub team_roles: Vec<String>,
    /// Names of those teams.
    pub teams: Vec<String>,
}

const PERMISSION_COLUMNS: &str = "r.name AS repository, r.is_public, a.name AS account, a.kind AS account_kind, \
     t.name AS team, p.role";
const PERMISSION_FROM: &str = "repository_permissions p JOIN repositories r ON r.id = p.repository_id \
     LEFT JOIN accounts a ON a.id = p.account_id LEFT JOIN teams t ON t.id = p.team_id";

impl Db {
    /// The repository named `name`.
    pub async fn repository(&self, name: &str) -> Result<Option<RepositoryRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as("SELECT id, name, is_public, description, state FROM repositories WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Create a repository with its visibility and description; returns its
    /// id, or `StoreError::Exists`.
    pub async fn create_repository(
        &self,
        name: &str,
        public: bool,
        description: &str,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO repositories (name, is_public, description, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING RETURNING id",
            )
            .bind(name)
            .bind(public)
            .bind(description)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            row.map(|r| r.0).ok_or_else(|| StoreError::Exists(name.to_owned()))
        })
    }

    /// Replace a repository's description.
    pub async fn set_repository_description(&self, id: i64, description: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE repositories SET description = $2 WHERE id = $1")
                .bind(id)
                .bind(description)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Make a repository public or private.
    pub async fn set_repository_visibility(&self, id: i64, public: bool) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE repositories SET is_public = $2 WHERE id = $1")
                .bind(id)
                .bind(public)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Everything the access policy needs about `account` (None: anonymous)
    /// and repository `repo` (None: the namespace alone) in `namespace`.
    pub async fn access_facts(
        &self,
        account: Option<i64>,
        namespace: &str,
        repo: Option<&str>,
    ) -> Result<AccessFacts, StoreError> {
        let account = account.unwrap_or(-1);
        on_db!(self.reader(), pool => {
            let mut conn = pool.acquire().await?;
            let mut facts = AccessFacts::default();
            if let Some(repo) = repo {
                let row: Option<(i64, bool)> =
                    sqlx::query_as("SELECT id, is_public FROM repositories WHERE name = $1")
                        .bind(repo)
                        .fetch_optional(&mut *conn)
                        .await?;
                facts.repository = row;
            }
            let ns: Option<(i64, String)> =
                sqlx::query_as("SELECT id, kind FROM accounts WHERE name = $1 AND kind IN ('user', 'org')")
                    .bind(namespace)
                    .fetch_optional(&mut *conn)
                    .await?;
            facts.namespace = ns;
            if account < 0 {
                return Ok(facts);
            }
            if let Some((repo_id, _)) = facts.repository {
                let roles: Vec<(String,)> = sqlx::query_as(
                    "SELECT p.role FROM repository_permissions p WHERE p.repository_id = $1 AND p.account_id = $2 \
                     UNION ALL SELECT p.role FROM repository_permissions p \
                     JOIN team_members m ON m.team_id = p.team_id \
                     WHERE p.repository_id = $1 AND m.account_id = $2",
                )
                .bind(repo_id)
                .bind(account)
                .fetch_all(&mut *conn)
                .await?;
                facts.repo_roles = roles.into_iter().map(|r| r.0).collect();
            }
            if let Some((ns_id, kind)) = &facts.namespace
                && kind == "org"
            {
                let teams: Vec<(String, String)> = sqlx::query_as(
                    "SELECT t.name, t.role FROM teams t JOIN team_members m ON m.team_id = t.id \
                     WHERE t.org_id = $1 AND m.account_id = $2",
                )
                .bind(*ns_id)
                .bind(account)
                .fetch_all(&mut *conn)
                .await?;
                (facts.teams, facts.team_roles) = teams.into_iter().unzip();
            }
            Ok(facts)
        })
    }

    /// Up to `limit` repositories after `last` (by name) that `account` may
    /// read: public ones, ones granted to it or its teams, its own
    /// namespace's (`own_namespace`, for users) and those of organizations
    /// it administers (one-component names belong to the `library`
    /// namespace); only those in `namespace` and those whose name starts
    /// with `prefix` if given (a range of the name index).
    pub async fn visible_repositories(
        &self,
        account: Option<i64>,
        own_namespace: Option<&str>,
        namespace: Option<&str>,
        prefix: Option<&str>,
        last: &str,
        limit: i64,
    ) -> Result<Vec<RepositoryRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT r.id, r.name, r.is_public, r.description, r.state FROM repositories r WHERE r.name > $3 \
                 AND ($5 IS NULL OR substr(r.name, 1, length($5) + 1) = $5 || '/' \
                      OR ($5 = 'library' AND r.name NOT LIKE '%/%')) AND ( \
                   r.is_public \
                   OR EXISTS (SELECT 1 FROM repository_permissions p WHERE p.repository_id = r.id AND p.account_id = $1) \
                   OR EXISTS (SELECT 1 FROM repository_permissions p JOIN team_members m ON m.team_id = p.team_id \
                              WHERE p.repository_id = r.id AND m.account_id = $1) \
                   OR substr(r.name, 1, length($2) + 1) = $2 || '/' \
                   OR EXISTS (SELECT 1 FROM teams t JOIN team_members m ON m.team_id = t.id \
                              JOIN accounts o ON o.id = t.org_id \
                              WHERE m.account_id = $1 AND t.role = 'admin' \
                              AND (substr(r.name, 1, length(o.name) + 1) = o.name || '/' \
                                   OR (o.name = 'library' AND r.name NOT LIKE '%/%'))) \
                 ) AND ($6 IS NULL OR (r.name >= $6 AND substr(r.name, 1, length($6)) = $6)) \
                 ORDER BY r.name LIMIT $4",
            )
            .bind(account.unwrap_or(-1))
            .bind(own_namespace)
            .bind(last)
            .bind(limit)
            .bind(namespace)
            .bind(prefix)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Up to `limit` repositories after `last` (by name), in `namespace` and
    /// starting with `prefix` if given: the listing of a caller who may see
    /// everything.
    pub async fn all_repositories(
        &self,
        namespace: Option<&str>,
        prefix: Option<&str>,
        last: &str,
        limit: i64,
    ) -> Result<Vec<RepositoryRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT r.id, r.name, r.is_public, r.description, r.state FROM repositories r WHERE r.name > $1 \
                 AND ($3 IS NULL OR substr(r.name, 1, length($3) + 1) = $3 || '/' \
                      OR ($3 = 'library' AND r.name NOT LIKE '%/%')) \
                 AND ($4 IS NULL OR (r.name >= $4 AND substr(r.name, 1, length($4)) = $4)) ORDER BY r.name LIMIT $2",
            )
            .bind(last)
            .bind(limit)
            .bind(namespace)
            .bind(prefix)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Grant `role` on a repository to an account (user or robot), replacing
    /// any earlier grant.
    pub async fn set_account_permission(
        &self,
        repo_id: i64,
        account_id: i64,
        role: &str,
    ) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO repository_permissions (repository_id, account_id, role) VALUES ($1, $2, $3) \
                 ON CONFLICT (repository_id, account_id) WHERE account_id IS NOT NULL DO UPDATE SET role = excluded.role",
            )
            .bind(repo_id)
            .bind(account_id)
            .bind(role)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Grant `role` on a repository to a team, replacing any earlier grant.
    pub async fn set_team_permission(
        &self,
        repo_id: i64,
        team_id: i64,
        role: &str,
    ) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO repository_permissions (repository_id, team_id, role) VALUES ($1, $2, $3) \
                 ON CONFLICT (repository_id, team_id) WHERE team_id IS NOT NULL DO UPDATE SET role = excluded.role",
            )
            .bind(repo_id)
            .bind(team_id)
            .bind(role)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Revoke an account's grant on a repository.
    pub async fn delete_account_permission(&self, repo_id: i64, account_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM repository_permissions WHERE repository_id = $1 AND account_id = $2")
                .bind(repo_id)
                .bind(account_id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Revoke a team's grant on a repository.
    pub async fn delete_team_permission(&self, repo_id: i64, team_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM repository_permissions WHERE repository_id = $1 AND team_id = $2")
                .bind(repo_id)
                .bind(team_id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Every grant on one repository, accounts then teams, by name.
    pub async fn repository_permissions(&self, repo_id: i64) -> Result<Vec<PermissionRow>, StoreError> {
        let sql = format!(
            "SELECT {PERMISSION_COLUMNS} FROM {PERMISSION_FROM} WHERE p.repository_id = $1 \
             ORDER BY a.name, t.name"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(repo_id).fetch_all(pool).await?)
        })
    }

    /// Every grant to one account, by repository.
    pub async fn account_permissions(&self, account_id: i64) -> Result<Vec<PermissionRow>, StoreError> {
        let sql = format!(
            "SELECT {PERMISSION_COLUMNS} FROM {PERMISSION_FROM} WHERE p.account_id = $1 ORDER BY r.name"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(pool).await?)
        })
    }

    /// Every grant to one team, by repository.
    pub async fn team_permissions(&self, team_id: i64) -> Result<Vec<PermissionRow>, StoreError> {
        let sql = format!(
            "SELECT {PERMISSION_COLUMNS} FROM {PERMISSION_FROM} WHERE p.team_id = $1 ORDER BY r.name"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(team_id).fetch_all(pool).await?)
        })
    }

    /// Every grant to an account (user or robot) on the repositories of
    /// namespace `ns`, by repository.
    pub async fn namespace_account_permissions(&self, ns: &str) -> Result<Vec<PermissionRow>, StoreError> {
        let sql = format!(
            "SELECT {PERMISSION_COLUMNS} FROM {PERMISSION_FROM} WHERE p.account_id IS NOT NULL \
             AND substr(r.name, 1, length($1) + 1) = $1 || '/' ORDER BY r.name"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ns).fetch_all(pool).await?)
        })
    }

    /// How many repositories namespace `ns` holds.
    pub async fn namespace_repository_count(&self, ns: &str) -> Result<i64, StoreError> {
        on_db!(self.reader(), pool => {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM repositories WHERE substr(name, 1, length($1) + 1) = $1 || '/'",
            )
            .bind(ns)
            .fetch_one(pool)
            .await?;
            Ok(n)
        })
    }
}
