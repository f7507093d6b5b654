//! Console sessions: a row per sign-in, found by the SHA-256 of the
//! cookie's token, shared by every instance.

use super::AccountRow;
use crate::{Db, StoreError, on_db};

impl Db {
    /// Record a session of `account_id` until `expires_ms`, and forget the
    /// sessions that expired before `now_ms`.
    pub async fn insert_web_session(
        &self,
        token_hash: &str,
        account_id: i64,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query("DELETE FROM web_sessions WHERE expires_ms <= $1")
                .bind(now_ms)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO web_sessions (token_hash, account_id, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(account_id)
            .bind(now_ms)
            .bind(expires_ms)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The account of the session whose token hashes to `token_hash`, if
    /// it has not expired by `now_ms`.
    pub async fn web_session_account(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<AccountRow>, StoreError> {
        let Some((account_id,)): Option<(i64,)> = on_db!(self.reader(), pool => {
            sqlx::query_as("SELECT account_id FROM web_sessions WHERE token_hash = $1 AND expires_ms > $2")
                .bind(token_hash)
                .bind(now_ms)
                .fetch_optional(pool)
                .await?
        }) else {
            return Ok(None);
        };
        self.account_by_id(account_id).await
    }

    /// End every session of `account_id` but the one whose token hashes
    /// to `keep` (a changed password signs out everyone else).
    pub async fn delete_web_sessions_of(
        &self,
        account_id: i64,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM web_sessions WHERE account_id = $1 AND ($2 IS NULL OR token_hash <> $2)")
                .bind(account_id)
                .bind(keep)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// End the session whose token hashes to `token_hash`.
    pub async fn delete_web_session(&self, token_hash: &str) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}
