//! Upload sessions. The running hash state and the blob store's upload
//! state live here, so a chunk can land after a restart or on another
//! instance without re-reading earlier bytes.
//!
//! A request changes a session only while it holds the session's lease: a
//! token and an expiry in the row, taken with a conditional `UPDATE`. A
//! lease that is not renewed (its holder died) lapses, and the next request
//! or the cleanup worker takes the session over.

use crate::{Db, StoreError, now_ms, on_db, on_relaxed_writer};

/// A stored upload session.
#[derive(Debug, Clone)]
pub struct UploadRow {
    /// Repository the upload belongs to.
    pub repository_id: i64,
    /// Digest algorithm of the running hash.
    pub algorithm: String,
    /// Bytes received so far.
    pub size: i64,
    /// Serialized hash state after `size` bytes.
    pub hash_state: Vec<u8>,
    /// The blob store's state describing the `size` staged bytes.
    pub store_state: Vec<u8>,
}

/// A lease on a session: who holds it and until when.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    /// Unique per request (or worker pass).
    pub token: &'a str,
    /// Expiry, in milliseconds since the Unix epoch.
    pub until_ms: i64,
}

/// Outcome of trying to take a session's lease.
#[derive(Debug)]
pub enum Claim {
    /// The lease is ours; the session as it stands.
    Claimed(UploadRow),
    /// Another request holds a live lease.
    Busy,
    /// No such session.
    Missing,
}

type RowTuple = (i64, String, i64, Vec<u8>, Vec<u8>);

fn to_row((repository_id, algorithm, size, hash_state, store_state): RowTuple) -> UploadRow {
    UploadRow {
        repository_id,
        algorithm,
        size,
        hash_state,
        store_state,
    }
}

/// Claims expired sessions for cleanup; PostgreSQL skips rows another
/// instance is claiming, SQLite has a single writer anyway.
macro_rules! claim_expired_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE uploads SET lease_token = $1, lease_until_ms = $2 WHERE id IN (",
            "SELECT id FROM uploads WHERE expires_ms < $3 AND (lease_token IS NULL OR lease_until_ms < $3) ",
            "ORDER BY expires_ms LIMIT $4",
            $lock,
            ") RETURNING id, store_state"
        )
    };
}

impl Db {
    /// Start a session, optionally leased to its creator.
    pub async fn create_upload(
        &self,
        id: &str,
        repo: i64,
        algorithm: &str,
        state: &[u8],
        expires_ms: i64,
        lease: Option<Lease<'_>>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_relaxed_writer!(self, exec => async {
            sqlx::query(
                "INSERT INTO uploads (id, repository_id, algorithm, size, hash_state, created_ms, updated_ms, \
                 expires_ms, lease_token, lease_until_ms) VALUES ($1, $2, $3, 0, $4, $5, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(repo)
            .bind(algorithm)
            .bind(state)
            .bind(now)
            .bind(expires_ms)
            .bind(lease.map(|l| l.token))
            .bind(lease.map(|l| l.until_ms))
            .execute(exec)
            .await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Load a session (whoever holds it).
    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<RowTuple> = sqlx::query_as(
                "SELECT repository_id, algorithm, size, hash_state, store_state FROM uploads WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(to_row))
        })
    }

    /// Take a session's lease if nobody holds a live one.
    pub async fn claim_upload(&self, id: &str, lease: Lease<'_>) -> Result<Claim, StoreError> {
        let now = now_ms();
        let row: Option<RowTuple> = on_relaxed_writer!(self, exec => async {
            sqlx::query_as(
                "UPDATE uploads SET lease_token = $2, lease_until_ms = $3 \
                 WHERE id = $1 AND (lease_token IS NULL OR lease_until_ms < $4) \
                 RETURNING repository_id, algorithm, size, hash_state, store_state",
            )
            .bind(id)
            .bind(lease.token)
            .bind(lease.until_ms)
            .bind(now)
            .fetch_optional(exec)
            .await
            .map_err(StoreError::from)
        })?;
        Ok(match row {
            Some(row) => Claim::Claimed(to_row(row)),
            None if self.upload_exists(id).await? => Claim::Busy,
            None => Claim::Missing,
        })
    }

    /// Extend a lease we hold. Returns false if it is no longer ours.
    pub async fn renew_upload_lease(&self, id: &str, lease: Lease<'_>) -> Result<bool, StoreError> {
        on_relaxed_writer!(self, exec => async {
            let done = sqlx::query("UPDATE uploads SET lease_until_ms = $3 WHERE id = $1 AND lease_token = $2")
                .bind(id)
                .bind(lease.token)
                .bind(lease.until_ms)
                .execute(exec)
                .await?;
            Ok::<_, StoreError>(done.rows_affected() == 1)
        })
    }

    /// Give a lease back (no-op if it is not ours any more).
    pub async fn release_upload(&self, id: &str, token: &str) -> Result<(), StoreError> {
        on_relaxed_writer!(self, exec => async {
            sqlx::query(
                "UPDATE uploads SET lease_token = NULL, lease_until_ms = NULL WHERE id = $1 AND lease_token = $2",
            )
            .bind(id)
            .bind(token)
            .execute(exec)
            .await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Save the store's state mid-append, under our lease. Returns false if
    /// the lease is no longer ours.
    pub async fn checkpoint_upload(
        &self,
        id: &str,
        token: &str,
        store_state: &[u8],
    ) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE uploads SET store_state = $3 WHERE id = $1 AND lease_token = $2")
                .bind(id)
                .bind(token)
                .bind(store_state)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Move a session from `old_size` to `new_size` with new states and
    /// release our lease. Returns false if the session changed meanwhile or
    /// the lease is not ours.
    #[allow(clippy::too_many_arguments)]
    pub async fn advance_upload(
        &self,
        id: &str,
        token: &str,
        old_size: i64,
        new_size: i64,
        hash_state: &[u8],
        store_state: &[u8],
        expires_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE uploads SET size = $4, hash_state = $5, store_state = $6, updated_ms = $7, expires_ms = $8, \
                 lease_token = NULL, lease_until_ms = NULL \
                 WHERE id = $1 AND lease_token = $2 AND size = $3",
            )
            .bind(id)
            .bind(token)
            .bind(old_size)
            .bind(new_size)
            .bind(hash_state)
            .bind(store_state)
            .bind(now)
            .bind(expires_ms)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// End a session. Returns whether it existed.
    pub async fn delete_upload(&self, id: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(pool).await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// End a session only if we still hold its lease.
    pub async fn delete_leased_upload(&self, id: &str, token: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM uploads WHERE id = $1 AND lease_token = $2")
                .bind(id)
                .bind(token)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Sessions open now, on every instance (a metrics gauge).
    pub async fn open_uploads(&self) -> Result<i64, StoreError> {
        on_db!(self.reader(), pool => {
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM uploads").fetch_one(pool).await?;
            Ok(n)
        })
    }

    /// Whether a session exists (used to spot orphaned staging data).
    pub async fn upload_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.upload(id).await?.is_some())
    }

    /// Lease up to `limit` sessions past their expiry that no live lease
    /// protects; returns their ids and store states. Every instance may call
    /// this at once: each session goes to one caller.
    pub async fn claim_expired_uploads(
        &self,
        lease: Lease<'_>,
        limit: i64,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let now = now_ms();
        let sql = match self {
            Db::Postgres(_) => claim_expired_sql!(" FOR UPDATE SKIP LOCKED"),
            Db::Sqlite { .. } => claim_expired_sql!(""),
        };
        let rows: Vec<(String, Vec<u8>)> = on_db!(self.writer(), pool => {
            sqlx::query_as(sql)
                .bind(lease.token)
                .bind(lease.until_ms)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }
}
