//! Holds on garbage collection: while a live hold exists, no instance
//! claims a blob object's deletion (rows may still be deleted and queued),
//! so everything a database snapshot taken after the hold references stays
//! in blob storage until the hold ends. The holder renews its hold; one
//! that dies lets it lapse, and the next pass removes it.

use crate::{Db, StoreError, now_ms, on_db};

/// SQL condition: a live hold exists (binds the clock as `$N` given).
macro_rules! held_sql {
    ($now:literal) => {
        concat!("EXISTS (SELECT 1 FROM gc_holds WHERE expires_ms > ", $now, ")")
    };
}
pub(crate) use held_sql;

impl Db {
    /// Take a hold on object deletion, live until `until_ms`.
    pub async fn take_gc_hold(&self, token: &str, purpose: &str, until_ms: i64) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            sqlx::query("INSERT INTO gc_holds (token, purpose, created_ms, expires_ms) VALUES ($1, $2, $3, $4)")
                .bind(token)
                .bind(purpose)
                .bind(now)
                .bind(until_ms)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Extend a live hold. Returns false if it lapsed (or was released):
    /// objects may have been deleted since, so the holder must give up.
    pub async fn renew_gc_hold(&self, token: &str, until_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE gc_holds SET expires_ms = $2 WHERE token = $1 AND expires_ms > $3")
                .bind(token)
                .bind(until_ms)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// End a hold.
    pub async fn release_gc_hold(&self, token: &str) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query("DELETE FROM gc_holds WHERE token = $1")
                .bind(token)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Whether a live hold exists now.
    pub async fn gc_held(&self) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.reader(), pool => {
            let (held,): (bool,) = sqlx::query_as(concat!("SELECT ", held_sql!("$1")))
                .bind(now)
                .fetch_one(pool)
                .await?;
            Ok(held)
        })
    }

    /// Remove holds that lapsed (their holders died).
    pub async fn remove_lapsed_holds(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM gc_holds WHERE expires_ms <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }
}
