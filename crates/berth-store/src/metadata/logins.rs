//! Failed-login counters, per account and per client address, shared by
//! every instance.

use crate::{Db, StoreError, on_db};

impl Db {
    /// The failures counted on `key` and when its lock ends (0 if none).
    pub async fn login_failures(&self, key: &str) -> Result<(i64, i64), StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64, i64)> =
                sqlx::query_as("SELECT failures, locked_until_ms FROM login_failures WHERE key = $1")
                    .bind(key)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.unwrap_or((0, 0)))
        })
    }

    /// Count one failure on `key` at `now_ms`; failures older than
    /// `window_ms` are forgotten. Returns the failure count.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<i64, StoreError> {
        on_db!(self.writer(), pool => {
            let (n,): (i64,) = sqlx::query_as(
                "INSERT INTO login_failures (key, failures, last_ms) VALUES ($1, 1, $2) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN login_failures.last_ms < $2 - $3 THEN 1 ELSE login_failures.failures + 1 END, \
                   last_ms = $2 \
                 RETURNING failures",
            )
            .bind(key)
            .bind(now_ms)
            .bind(window_ms)
            .fetch_one(pool)
            .await?;
            Ok(n)
        })
    }

    /// Lock `key` until `until_ms`.
    pub async fn lock_login(&self, key: &str, until_ms: i64) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query("UPDATE login_failures SET locked_until_ms = $2 WHERE key = $1")
                .bind(key)
                .bind(until_ms)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Forget the failures of `key` (after a successful login).
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(key).execute(pool).await?;
            Ok(())
        })
    }
}
