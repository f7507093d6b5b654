//! Accounts: users, organizations and robots, which share one namespace of
//! names.

use crate::{Db, StoreError, now_ms, on_db};

/// One account row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    /// Row id.
    pub id: i64,
    /// Unique name (`owner+short` for robots).
    pub name: String,
    /// `user`, `org` or `robot`.
    pub kind: String,
    /// Contact address, if any.
    pub email: Option<String>,
    /// Argon2 hash of a user's password or a robot's token.
    pub secret_hash: Option<String>,
    /// Whether the user is a superuser.
    pub super_user: bool,
    /// Whether the account may log in.
    pub enabled: bool,
    /// The namespace a robot belongs to.
    pub owner_id: Option<i64>,
    /// Free text.
    pub description: String,
    /// The namespace's time-machine window, if set.
    pub tag_expiration_s: Option<i64>,
    /// Whether invoices go by e-mail.
    pub invoice_email: bool,
    /// Where invoices go, if not to `email`.
    pub invoice_email_address: Option<String>,
    /// Creation time.
    pub created_ms: i64,
    /// Last successful login.
    pub last_accessed_ms: Option<i64>,
}

/// What a new account is made of.
#[derive(Debug, Clone, Default)]
pub struct NewAccount<'a> {
    /// Unique name.
    pub name: &'a str,
    /// `user`, `org` or `robot`.
    pub kind: &'a str,
    /// Contact address.
    pub email: Option<&'a str>,
    /// Argon2 hash of the password or token.
    pub secret_hash: Option<&'a str>,
    /// Superuser flag.
    pub super_user: bool,
    /// Owning namespace (robots).
    pub owner_id: Option<i64>,
    /// Free text.
    pub description: &'a str,
}

const COLUMNS: &str = "id, name, kind, email, secret_hash, super_user, enabled, owner_id, description, \
                       tag_expiration_s, invoice_email, invoice_email_address, created_ms, last_accessed_ms";

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    /// Create an account; `Err(StoreError::Exists)` if the name is taken.
    pub async fn create_account(&self, new: &NewAccount<'_>) -> Result<i64, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let row: Result<(i64,), sqlx::Error> = sqlx::query_as(
                "INSERT INTO accounts (name, kind, email, secret_hash, super_user, owner_id, description, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(new.name)
            .bind(new.kind)
            .bind(new.email)
            .bind(new.secret_hash)
            .bind(new.super_user)
            .bind(new.owner_id)
            .bind(new.description)
            .bind(now)
            .fetch_one(pool)
            .await;
            match row {
                Ok((id,)) => Ok(id),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Exists(new.name.to_owned())),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Create an organization with an `owners` team (role admin) holding
    /// `owner`, in one transaction, so no one ever sees an ownerless
    /// organization. `Err(StoreError::Exists)` if the name is taken.
    pub async fn create_organization(
        &self,
        name: &str,
        email: Option<&str>,
        owner: i64,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let row: Result<(i64,), sqlx::Error> = sqlx::query_as(
                "INSERT INTO accounts (name, kind, email, created_ms) VALUES ($1, 'org', $2, $3) RETURNING id",
            )
            .bind(name)
            .bind(email)
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
            let org = match row {
                Ok((id,)) => id,
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Exists(name.to_owned())),
                Err(e) => return Err(e.into()),
            };
            let (team,): (i64,) = sqlx::query_as(
                "INSERT INTO teams (org_id, name, role, created_ms) VALUES ($1, 'owners', 'admin', $2) RETURNING id",
            )
            .bind(org)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO team_members (team_id, account_id) VALUES ($1, $2)")
                .bind(team)
                .bind(owner)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(org)
        })
    }

    /// The account named `name`.
    pub async fn account_by_name(&self, name: &str) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE name = $1");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(pool).await?)
        })
    }

    /// The account with id `id`.
    pub async fn account_by_id(&self, id: i64) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?)
        })
    }

    /// Accounts of one kind (and, for robots, of one owner), by name.
    pub async fn list_accounts(
        &self,
        kind: &str,
        owner_id: Option<i64>,
    ) -> Result<Vec<AccountRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM accounts WHERE kind = $1 AND ($2 IS NULL OR owner_id = $2) ORDER BY name"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(kind).bind(owner_id).fetch_all(pool).await?)
        })
    }

    /// Whether an account other than `except_id` has contact address `email`.
    pub async fn email_in_use(&self, email: &str, except_id: i64) -> Result<bool, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM accounts WHERE email = $1 AND id <> $2 LIMIT 1")
                .bind(email)
                .bind(except_id)
                .fetch_optional(pool)
                .await?;
            Ok(row.is_some())
        })
    }

    /// Whether any user exists.
    pub async fn has_users(&self) -> Result<bool, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM accounts WHERE kind = 'user' LIMIT 1")
                .fetch_optional(pool)
                .await?;
            Ok(row.is_some())
        })
    }

    /// Replace an account's secret hash.
    pub async fn set_account_secret(&self, id: i64, secret_hash: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE accounts SET secret_hash = $2 WHERE id = $1")
                .bind(id)
                .bind(secret_hash)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Replace an account's secret hash only if it is still `old` (a rehash
    /// must not undo a password change made meanwhile).
    pub async fn replace_account_secret(&self, id: i64, old: &str, new: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE accounts SET secret_hash = $3 WHERE id = $1 AND secret_hash = $2")
                .bind(id)
                .bind(old)
                .bind(new)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Change the mutable details of an account; `None` leaves a field alone.
    pub async fn update_account(&self, id: i64, change: &AccountChange) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE accounts SET email = COALESCE($2, email), enabled = COALESCE($3, enabled), \
                 super_user = COALESCE($4, super_user), description = COALESCE($5, description), \
                 tag_expiration_s = CASE WHEN $6 THEN $7 ELSE tag_expiration_s END, \
                 invoice_email = COALESCE($8, invoice_email), \
                 invoice_email_address = CASE WHEN $9 THEN $10 ELSE invoice_email_address END WHERE id = $1",
            )
            .bind(id)
            .bind(change.email.as_deref())
            .bind(change.enabled)
            .bind(change.super_user)
            .bind(change.description.as_deref())
            .bind(change.tag_expiration_s.is_some())
            .bind(change.tag_expiration_s.flatten())
            .bind(change.invoice_email)
            .bind(change.invoice_email_address.is_some())
            .bind(change.invoice_email_address.as_ref().and_then(Option::as_deref))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Record a successful login.
    pub async fn touch_account(&self, id: i64) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query("UPDATE accounts SET last_accessed_ms = $2 WHERE id = $1")
                .bind(id)
                .bind(now_ms())
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Delete namespace account `id` named `name` unless a repository is
    /// still in its namespace (checked in the same statement, so a
    /// repository created meanwhile is never orphaned). False if nothing
    /// was deleted.
    pub async fn delete_namespace_without_repositories(
        &self,
        id: i64,
        name: &str,
    ) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "DELETE FROM accounts WHERE id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM repositories r WHERE substr(r.name, 1, length($2) + 1) = $2 || '/')",
            )
            .bind(id)
            .bind(name)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Delete an account (its robots, teams, memberships, permissions and
    /// tokens go with it).
    pub async fn delete_account(&self, id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}

/// A change to an account's details.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    /// New contact address.
    pub email: Option<String>,
    /// Enable or disable logins.
    pub enabled: Option<bool>,
    /// Grant or revoke superuser.
    pub super_user: Option<bool>,
    /// New free text.
    pub description: Option<String>,
    /// `Some(None)` clears the window back to the default.
    pub tag_expiration_s: Option<Option<i64>>,
    /// Send invoices by e-mail or not.
    pub invoice_email: Option<bool>,
    /// `Some(None)` clears the invoice address.
    pub invoice_email_address: Option<Option<String>>,
}
