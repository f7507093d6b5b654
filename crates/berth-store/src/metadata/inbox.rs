//! In-app notifications (the `quay_notification` method): per user, read
//! and dismissed through the API.

use crate::{Db, StoreError, now_ms, on_db};

/// An in-app notification.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserNotificationRow {
    /// Public id.
    pub uuid: String,
    /// Event kind.
    pub kind: String,
    /// Event data, JSON.
    pub metadata: String,
    /// Whether the user dismissed it.
    pub dismissed: bool,
    /// When.
    pub created_ms: i64,
}

impl Db {
    /// Leave an in-app notification for each account in `accounts`.
    pub async fn add_user_notifications(
        &self,
        accounts: &[(i64, String)],
        kind: &str,
        metadata: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            for (account, uuid) in accounts {
                sqlx::query(
                    "INSERT INTO user_notifications (uuid, account_id, kind, metadata, created_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(uuid)
                .bind(*account)
                .bind(kind)
                .bind(metadata)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The accounts an in-app notification to `target_kind` `name` reaches:
    /// a user; a team's members (`org` names the organization); an
    /// organization's administrators.
    pub async fn notification_recipients(
        &self,
        target_kind: &str,
        name: &str,
        org: &str,
    ) -> Result<Vec<i64>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(i64,)> = match target_kind {
                "user" => sqlx::query_as("SELECT id FROM accounts WHERE name = $1 AND kind = 'user'")
                    .bind(name)
                    .fetch_all(pool)
                    .await?,
                "team" => sqlx::query_as(
                    "SELECT DISTINCT m.account_id FROM teams t JOIN accounts o ON o.id = t.org_id \
                     JOIN team_members m ON m.team_id = t.id WHERE o.name = $1 AND t.name = $2",
                )
                .bind(org)
                .bind(name)
                .fetch_all(pool)
                .await?,
                _ => sqlx::query_as(
                    "SELECT DISTINCT m.account_id FROM teams t JOIN accounts o ON o.id = t.org_id \
                     JOIN team_members m ON m.team_id = t.id WHERE o.name = $1 AND t.role = 'admin'",
                )
                .bind(name)
                .fetch_all(pool)
                .await?,
            };
            Ok(rows.into_iter().map(|(id,)| id).collect())
        })
    }

    /// An account's in-app notifications, newest first.
    pub async fn user_notifications(&self, account: i64) -> Result<Vec<UserNotificationRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<UserNotificationRow> = sqlx::query_as(
                "SELECT uuid, kind, metadata, dismissed, created_ms FROM user_notifications \
                 WHERE account_id = $1 ORDER BY id DESC LIMIT 500",
            )
            .bind(account)
            .fetch_all(pool)
            .await?;
            Ok(rows)
        })
    }

    /// Mark an in-app notification of `account` dismissed or not; `false`
    /// if it has none of that id.
    pub async fn dismiss_user_notification(
        &self,
        account: i64,
        uuid: &str,
        dismissed: bool,
    ) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE user_notifications SET dismissed = $3 WHERE account_id = $1 AND uuid = $2",
            )
            .bind(account)
            .bind(uuid)
            .bind(dismissed)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
