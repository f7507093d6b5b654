//! Teams of an organization and their members.

use super::accounts::is_unique_violation;
use crate::{Db, StoreError, now_ms, on_db};

/// One team.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamRow {
    /// Row id.
    pub id: i64,
    /// The organization.
    pub org_id: i64,
    /// Name, unique in the organization.
    pub name: String,
    /// `member`, `creator` or `admin`.
    pub role: String,
    /// Free text.
    pub description: String,
    /// Members (users and robots).
    pub member_count: i64,
    /// Repositories the team has a role on.
    pub repo_count: i64,
}

/// One member of a team.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    /// Account id.
    pub id: i64,
    /// Account name.
    pub name: String,
    /// `user` or `robot`.
    pub kind: String,
}

const TEAM_COLUMNS: &str = "t.id, t.org_id, t.name, t.role, t.description, \
     (SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id) AS member_count, \
     (SELECT COUNT(*) FROM repository_permissions p WHERE p.team_id = t.id) AS repo_count";

impl Db {
    /// Create a team, or change the role and description of an existing
    /// one. Returns the team id and whether it was created.
    pub async fn upsert_team(
        &self,
        org_id: i64,
        name: &str,
        role: &str,
        description: Option<&str>,
    ) -> Result<(i64, bool), StoreError> {
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let existing: Option<(i64,)> = sqlx::query_as("SELECT id FROM teams WHERE org_id = $1 AND name = $2")
                .bind(org_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            let result = match existing {
                Some((id,)) => {
                    sqlx::query(
                        "UPDATE teams SET role = $2, description = COALESCE($3, description) WHERE id = $1",
                    )
                    .bind(id)
                    .bind(role)
                    .bind(description)
                    .execute(&mut *tx)
                    .await?;
                    (id, false)
                }
                None => {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO teams (org_id, name, role, description, created_ms) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(org_id)
                    .bind(name)
                    .bind(role)
                    .bind(description.unwrap_or(""))
                    .bind(now_ms())
                    .fetch_one(&mut *tx)
                    .await?;
                    (id, true)
                }
            };
            tx.commit().await?;
            Ok(result)
        })
    }

    /// The teams of an organization, by name.
    pub async fn list_teams(&self, org_id: i64) -> Result<Vec<TeamRow>, StoreError> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams t WHERE t.org_id = $1 ORDER BY t.name");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_all(pool).await?)
        })
    }

    /// One team of an organization.
    pub async fn team(&self, org_id: i64, name: &str) -> Result<Option<TeamRow>, StoreError> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams t WHERE t.org_id = $1 AND t.name = $2");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(name).fetch_optional(pool).await?)
        })
    }

    /// Delete a team.
    pub async fn delete_team(&self, team_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM teams WHERE id = $1").bind(team_id).execute(pool).await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Add an account to a team; false if it already was a member.
    pub async fn add_team_member(&self, team_id: i64, account_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "INSERT INTO team_members (team_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(team_id)
            .bind(account_id)
            .execute(pool)
            .await;
            match done {
                Ok(d) => Ok(d.rows_affected() > 0),
                Err(e) if is_unique_violation(&e) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Remove an account from a team.
    pub async fn remove_team_member(&self, team_id: i64, account_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND account_id = $2")
                .bind(team_id)
                .bind(account_id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// The members of a team, by name.
    pub async fn team_members(&self, team_id: i64) -> Result<Vec<MemberRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT a.id, a.name, a.kind FROM team_members m JOIN accounts a ON a.id = m.account_id \
                 WHERE m.team_id = $1 ORDER BY a.name",
            )
            .bind(team_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The teams of organization `org_id` that `account_id` belongs to.
    pub async fn teams_of_member(&self, org_id: i64, account_id: i64) -> Result<Vec<TeamRow>, StoreError> {
        let sql = format!(
            "SELECT {TEAM_COLUMNS} FROM teams t JOIN team_members m ON m.team_id = t.id \
             WHERE t.org_id = $1 AND m.account_id = $2 ORDER BY t.name"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(account_id).fetch_all(pool).await?)
        })
    }

    /// Every account in any team of an organization, by name.
    pub async fn org_members(&self, org_id: i64) -> Result<Vec<MemberRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT DISTINCT a.id, a.name, a.kind FROM team_members m \
                 JOIN teams t ON t.id = m.team_id JOIN accounts a ON a.id = m.account_id \
                 WHERE t.org_id = $1 ORDER BY a.name",
            )
            .bind(org_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Remove an account from every team of an organization and from every
    /// repository of its namespace.
    pub async fn remove_org_member(
        &self,
        org_id: i64,
        org_name: &str,
        account_id: i64,
    ) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let teams = sqlx::query(
                "DELETE FROM team_members WHERE account_id = $2 AND team_id IN (SELECT id FROM teams WHERE org_id = $1)",
            )
            .bind(org_id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            let perms = sqlx::query(
                "DELETE FROM repository_permissions WHERE account_id = $2 AND repository_id IN \
                 (SELECT id FROM repositories WHERE substr(name, 1, length($1) + 1) = $1 || '/')",
            )
            .bind(org_name)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(teams.rows_affected() + perms.rows_affected() > 0)
        })
    }

    /// Names of the organizations `account_id` is in a team of, by name.
    pub async fn orgs_of_member(&self, account_id: i64) -> Result<Vec<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT DISTINCT o.name FROM team_members m JOIN teams t ON t.id = m.team_id \
                 JOIN accounts o ON o.id = t.org_id WHERE m.account_id = $1 ORDER BY o.name",
            )
            .bind(account_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }
}
