//! Garbage collection of blob rows and of their objects' deletion queue, a
//! batch of digests per transaction. A batch takes every digest's lock
//! (`gc.rs`) before its first read, in digest order (so two batches never
//! wait on each other in a cycle), and decides each digest from what it
//! reads after that, as a transaction of one digest would: the argument
//! that no object in use is deleted holds per digest unchanged. One
//! transaction per batch instead of per digest is what lets a pass free
//! hundreds of thousands of blobs in minutes.

use super::DeletionClaim;
use super::holds::held_sql;
use crate::db::PoolRef;
use crate::{Db, StoreError, now_ms, on_db};

/// A statement over the digests bound as `$1` (a PostgreSQL `TEXT[]` or a
/// SQLite JSON array), seen as the table `batch(digest)`.
macro_rules! batch_sql {
    (postgres, $query:literal) => {
        concat!("WITH batch(digest) AS (SELECT unnest($1::TEXT[])) ", $query)
    };
    (sqlite, $query:literal) => {
        concat!("WITH batch(digest) AS (SELECT value FROM json_each($1)) ", $query)
    };
}

/// Take the lock of every digest bound as `$1`: PostgreSQL's advisory
/// locks in the array's (sorted) order; on SQLite any write takes the
/// database's single write lock.
macro_rules! lock_sql {
    (postgres) => {
        "SELECT pg_advisory_xact_lock(hashtextextended(d, 7338)) FROM unnest($1::TEXT[]) AS d"
    };
    (sqlite) => {
        "UPDATE blob_deletions SET queued_ms = queued_ms WHERE digest IN (SELECT value FROM json_each($1))"
    };
}

/// Digests as SQLite's JSON array parameter.
fn json_list(digests: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(digests).map_err(|e| StoreError::Corrupt(format!("digest list: {e}")))
}

/// Sorted and without repeats: the order locks are taken in.
fn sorted(digests: &[String]) -> Vec<String> {
    let mut d = digests.to_vec();
    d.sort_unstable();
    d.dedup();
    d
}

/// Delete the garbage blob rows of a batch and queue their objects (see
/// [`Db::delete_garbage_blobs`]); `$param` makes a bound digest list.
macro_rules! delete_garbage {
    ($pool:ident, $db:ident, $param:expr, $digests:expr, $now:expr) => {{
        let mut tx = $pool.begin().await?;
        sqlx::query(lock_sql!($db))
            .bind($param($digests)?)
            .execute(&mut *tx)
            .await?;
        let doomed: Vec<(String, i64)> = sqlx::query_as(batch_sql!(
            $db,
            "SELECT b.digest, b.size FROM blobs b WHERE b.digest IN (SELECT digest FROM batch) \
             AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest) \
             AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = b.digest) \
             AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.digest = b.digest AND p.expires_ms > $2) \
             AND NOT EXISTS (SELECT 1 FROM blob_deletions d WHERE d.digest = b.digest) \
             ORDER BY b.digest"
        ))
        .bind($param($digests)?)
        .bind($now)
        .fetch_all(&mut *tx)
        .await?;
        if !doomed.is_empty() {
            let names: Vec<String> = doomed.iter().map(|(d, _)| d.clone()).collect();
            sqlx::query(batch_sql!(
                $db,
                "INSERT INTO blob_deletions (digest, location, queued_ms) \
                 SELECT b.digest, b.location, $2 FROM blobs b WHERE b.digest IN (SELECT digest FROM batch)"
            ))
            .bind($param(&names)?)
            .bind($now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(batch_sql!(
                $db,
                "DELETE FROM blobs WHERE digest IN (SELECT digest FROM batch)"
            ))
            .bind($param(&names)?)
            .execute(&mut *tx)
            .await?;
            // The scanner's per-layer results go with the layer.
            sqlx::query(batch_sql!(
                $db,
                "DELETE FROM scan_layers WHERE digest IN (SELECT digest FROM batch)"
            ))
            .bind($param(&names)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(doomed)
    }};
}

/// Claim a batch's queued deletions (see [`Db::claim_blob_deletions`]).
macro_rules! claim {
    ($pool:ident, $db:ident, $param:expr, $digests:expr, $now:expr, $until:expr) => {{
        let mut tx = $pool.begin().await?;
        sqlx::query(lock_sql!($db))
            .bind($param($digests)?)
            .execute(&mut *tx)
            .await?;
        // A hold (a backup copying objects) defers every deletion.
        let (held,): (bool,) = sqlx::query_as(concat!("SELECT ", held_sql!("$1")))
            .bind($now)
            .fetch_one(&mut *tx)
            .await?;
        if held {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, Option<String>, Option<i64>, bool, bool)> = sqlx::query_as(batch_sql!(
            $db,
            "SELECT d.digest, d.location, d.claimed_until_ms, \
             EXISTS (SELECT 1 FROM blob_pins p WHERE p.digest = d.digest AND p.expires_ms > $2), \
             EXISTS (SELECT 1 FROM blobs b WHERE b.digest = d.digest \
                     AND (b.location = d.location OR (b.location IS NULL AND d.location IS NULL))) \
             FROM blob_deletions d WHERE d.digest IN (SELECT digest FROM batch) ORDER BY d.digest"
        ))
        .bind($param($digests)?)
        .bind($now)
        .fetch_all(&mut *tx)
        .await?;
        let mut outcome = Vec::new();
        let (mut claimed, mut cancelled) = (Vec::new(), Vec::new());
        for (digest, location, claimed_until, pinned, recorded) in rows {
            if claimed_until.is_some_and(|until| until > $now) || pinned {
                continue;
            }
            if recorded {
                cancelled.push(digest.clone());
                outcome.push((digest, DeletionClaim::Cancelled));
            } else {
                claimed.push(digest.clone());
                outcome.push((digest, DeletionClaim::Claimed(location)));
            }
        }
        if !cancelled.is_empty() {
            sqlx::query(batch_sql!(
                $db,
                "DELETE FROM blob_deletions WHERE digest IN (SELECT digest FROM batch)"
            ))
            .bind($param(&cancelled)?)
            .execute(&mut *tx)
            .await?;
        }
        if !claimed.is_empty() {
            sqlx::query(batch_sql!(
                $db,
                "UPDATE blob_deletions SET claimed_until_ms = $2 WHERE digest IN (SELECT digest FROM batch)"
            ))
            .bind($param(&claimed)?)
            .bind($until)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }};
}

fn pg_list(digests: &[String]) -> Result<Vec<String>, StoreError> {
    Ok(digests.to_vec())
}

impl Db {
    /// The next `limit` blob rows after `after` (in digest order): the
    /// digests of those no repository links and no manifest references,
    /// and the last row's digest, where the next page starts (`None` past
    /// the end). Paging over the rows, not over the garbage, keeps each
    /// page a bounded index walk: asked for the next garbage rows instead,
    /// PostgreSQL expected to scan far for them and hashed both link tables
    /// whole on every page (150 ms a page at 100,000 blobs; this takes 2).
    pub async fn unreferenced_blobs(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT p.digest, CAST(CASE WHEN \
                 NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = p.digest) \
                 AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = p.digest) \
                 THEN 1 ELSE 0 END AS BIGINT) \
                 FROM (SELECT digest FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2) p \
                 ORDER BY p.digest",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let next = rows.last().map(|(d, _)| d.clone());
            let garbage = rows.into_iter().filter(|(_, g)| *g == 1).map(|(d, _)| d).collect();
            Ok((garbage, next))
        })
    }

    /// Delete the rows of those `digests` that are still garbage (no link,
    /// no manifest reference, no live pin, no other deletion of the digest
    /// queued) and queue their objects' deletion, in one transaction.
    /// Returns the deleted digests with their sizes.
    pub async fn delete_garbage_blobs(&self, digests: &[String]) -> Result<Vec<(String, i64)>, StoreError> {
        let digests = sorted(digests);
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        match self.writer() {
            PoolRef::Sqlite(pool) => delete_garbage!(pool, sqlite, json_list, &digests, now),
            PoolRef::Postgres(pool) => delete_garbage!(pool, postgres, pg_list, &digests, now),
        }
    }

    /// [`Db::delete_garbage_blobs`] of one digest: its size if deleted.
    pub async fn delete_garbage_blob(&self, digest: &str) -> Result<Option<i64>, StoreError> {
        let deleted = self.delete_garbage_blobs(&[digest.to_owned()]).await?;
        Ok(deleted.into_iter().next().map(|(_, size)| size))
    }

    /// Up to `limit` digests after `after` (in order) whose object
    /// deletion is queued and not claimed by a live lease.
    pub async fn queued_blob_deletions(&self, after: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        let now = now_ms();
        on_db!(self.reader(), pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT digest FROM blob_deletions WHERE digest > $1 \
                 AND (claimed_until_ms IS NULL OR claimed_until_ms <= $2) ORDER BY digest LIMIT $3",
            )
            .bind(after)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// Claim the queued deletions of those `digests` until `until_ms`, in
    /// one transaction: none while a hold defers deletions; not one an
    /// upload pins or another live claim holds; and one whose object a
    /// blob row records again is dropped (`Cancelled`). Returns the
    /// digests claimed or cancelled; the rest were skipped.
    pub async fn claim_blob_deletions(
        &self,
        digests: &[String],
        until_ms: i64,
    ) -> Result<Vec<(String, DeletionClaim)>, StoreError> {
        let digests = sorted(digests);
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        match self.writer() {
            PoolRef::Sqlite(pool) => claim!(pool, sqlite, json_list, &digests, now, until_ms),
            PoolRef::Postgres(pool) => claim!(pool, postgres, pg_list, &digests, now, until_ms),
        }
    }

    /// [`Db::claim_blob_deletions`] of one digest.
    pub async fn claim_blob_deletion(
        &self,
        digest: &str,
        until_ms: i64,
    ) -> Result<DeletionClaim, StoreError> {
        let outcome = self.claim_blob_deletions(&[digest.to_owned()], until_ms).await?;
        Ok(outcome
            .into_iter()
            .next()
            .map_or(DeletionClaim::Skipped, |(_, claim)| claim))
    }

    /// Remove claimed deletions once their objects are gone (each only
    /// while the claim with `until_ms` is still its row's); returns how
    /// many were removed.
    pub async fn finish_blob_deletions(&self, digests: &[String], until_ms: i64) -> Result<u64, StoreError> {
        if digests.is_empty() {
            return Ok(0);
        }
        let done = match self.writer() {
            PoolRef::Sqlite(pool) => sqlx::query(batch_sql!(
                sqlite,
                "DELETE FROM blob_deletions WHERE digest IN (SELECT digest FROM batch) AND claimed_until_ms = $2"
            ))
            .bind(json_list(digests)?)
            .bind(until_ms)
            .execute(pool)
            .await?
            .rows_affected(),
            PoolRef::Postgres(pool) => sqlx::query(batch_sql!(
                postgres,
                "DELETE FROM blob_deletions WHERE digest IN (SELECT digest FROM batch) AND claimed_until_ms = $2"
            ))
            .bind(digests)
            .bind(until_ms)
            .execute(pool)
            .await?
            .rows_affected(),
        };
        Ok(done)
    }

    /// [`Db::finish_blob_deletions`] of one digest.
    pub async fn finish_blob_deletion(&self, digest: &str, until_ms: i64) -> Result<bool, StoreError> {
        Ok(self.finish_blob_deletions(&[digest.to_owned()], until_ms).await? == 1)
    }

    /// Remove pins that lapsed (their uploads died or gave up).
    pub async fn remove_lapsed_pins(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM blob_pins WHERE expires_ms <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Every blob row's digest and stored location (`None`: the digest's
    /// content-addressed key), in digest order; for checks and tests.
    pub async fn blob_locations(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as("SELECT digest, location FROM blobs ORDER BY digest")
                .fetch_all(pool)
                .await?)
        })
    }

    /// Every queued object deletion's digest and location (claimed or
    /// not), in digest order; for checks and tests.
    pub async fn queued_deletion_locations(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as("SELECT digest, location FROM blob_deletions ORDER BY digest")
                .fetch_all(pool)
                .await?)
        })
    }
}
