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

/// An organization's team that must keep at least one user member (its
/// `owners`, so the organization keeps an administrator; robots cannot
/// administer).
#[derive(Debug, Clone, Copy)]
pub struct KeepUser<'a> {
    /// The organization.
    pub org_id: i64,
    /// The team's name.
    pub team: &'a str,
}

/// What a removal from an organization's teams did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRemoval {
    /// The account was removed.
    Removed,
    /// The account was not a member; nothing changed.
    NotMember,
    /// Refused, nothing changed: the account is the last user of the team
    /// that must keep one.
    LastUser,
}

/// Whether an account is a user of the team to keep and how many other
/// users it has: ($1 organization, $2 team name, $3 account).
const KEPT_USERS_SQL: &str = "SELECT COALESCE(SUM(CASE WHEN a.id = $3 THEN 1 ELSE 0 END), 0), \
     COALESCE(SUM(CASE WHEN a.id <> $3 THEN 1 ELSE 0 END), 0) \
     FROM teams t JOIN team_members m ON m.team_id = t.id JOIN accounts a ON a.id = m.account_id \
     WHERE t.org_id = $1 AND t.name = $2 AND a.kind = 'user'";

/// In transaction `$tx` on database `$db`: take organization `$keep.org_id`'s
/// account row lock, then tell whether removing `$account` would leave team
/// `$keep.team` without a user. The lock makes concurrent removals in one
/// organization count one after the other (two owners removing each other
/// would otherwise each see the other and both succeed); SQLite's single
/// writer connection already runs such transactions one at a time.
macro_rules! would_leave_no_user {
    ($db:expr, $tx:expr, $keep:expr, $account:expr) => {{
        let lock = match $db {
            Db::Postgres(_) => "SELECT id FROM accounts WHERE id = $1 FOR UPDATE",
            Db::Sqlite { .. } => "SELECT id FROM accounts WHERE id = $1",
        };
        sqlx::query(lock)
            .bind($keep.org_id)
            .fetch_optional(&mut *$tx)
            .await?;
        let (is_user, others): (i64, i64) = sqlx::query_as(KEPT_USERS_SQL)
            .bind($keep.org_id)
            .bind($keep.team)
            .bind($account)
            .fetch_one(&mut *$tx)
            .await?;
        is_user > 0 && others == 0
    }};
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

    /// Remove an account from a team; with `keep`, only if the kept team
    /// still has another user afterwards (checked and removed in one
    /// transaction).
    pub async fn remove_team_member(
        &self,
        team_id: i64,
        account_id: i64,
        keep: Option<KeepUser<'_>>,
    ) -> Result<MemberRemoval, StoreError> {
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            if let Some(keep) = keep
                && would_leave_no_user!(self, tx, keep, account_id)
            {
                return Ok(MemberRemoval::LastUser);
            }
            let done = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND account_id = $2")
                .bind(team_id)
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(if done.rows_affected() > 0 {
                MemberRemoval::Removed
            } else {
                MemberRemoval::NotMember
            })
        })
    }

    /// Delete user `account_id` (with what goes with it, as
    /// [`Db::delete_account`]) unless it is the last user of team `keep` of
    /// some organization: then nothing is deleted and that organization's
    /// name is returned. Checked and deleted in one transaction holding the
    /// row locks of those organizations (taken in id order).
    pub async fn delete_user_keeping(
        &self,
        account_id: i64,
        keep: &str,
    ) -> Result<Option<String>, StoreError> {
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let orgs: Vec<(i64, String)> = sqlx::query_as(
                "SELECT t.org_id, o.name FROM teams t JOIN team_members m ON m.team_id = t.id \
                 JOIN accounts o ON o.id = t.org_id WHERE m.account_id = $1 AND t.name = $2 \
                 ORDER BY t.org_id",
            )
            .bind(account_id)
            .bind(keep)
            .fetch_all(&mut *tx)
            .await?;
            for (org_id, name) in orgs {
                if would_leave_no_user!(self, tx, KeepUser { org_id, team: keep }, account_id) {
                    return Ok(Some(name));
                }
            }
            sqlx::query("DELETE FROM accounts WHERE id = $1")
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(None)
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
    /// repository of its namespace, unless it is the last user of team
    /// `keep` of the organization (checked and removed in one transaction).
    pub async fn remove_org_member(
        &self,
        org_id: i64,
        org_name: &str,
        account_id: i64,
        keep: &str,
    ) -> Result<MemberRemoval, StoreError> {
        let keep = KeepUser { org_id, team: keep };
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            if would_leave_no_user!(self, tx, keep, account_id) {
                return Ok(MemberRemoval::LastUser);
            }
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
            Ok(if teams.rows_affected() + perms.rows_affected() > 0 {
                MemberRemoval::Removed
            } else {
                MemberRemoval::NotMember
            })
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
