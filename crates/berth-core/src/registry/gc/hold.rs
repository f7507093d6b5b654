//! Holding garbage collection's object deletions for a while, e.g. while a
//! backup copies the objects its database snapshot references. A hold is a
//! row every instance's collector checks (under the digest's lock) before
//! it claims an object's deletion; rows and links are still collected, and
//! deletions resume once the hold ends or lapses.
//!
//! Why a snapshot taken after the hold is committed can be copied whole:
//! a blob row in it had its object complete when the row was recorded
//! (`mod.rs`, 1). Deleting that object needs a claim. A claim taken after
//! the hold sees it and is refused. A claim taken before saw no row at that
//! location, so the row was recorded after it, by an upload whose pin was
//! refused until the claim finished or was abandoned: the object was
//! written after that deletion. So every object the snapshot records
//! stays until the hold ends.

use std::future::Future;
use std::time::Duration;

use berth_store::{StoreError, now_ms};
use tokio::time::Instant;

use super::millis;
use crate::registry::sessions::new_token;
use crate::registry::{Registry, RegistryError};

/// How long a hold lasts unless renewed: the longest a holder that died
/// defers collection.
const HOLD_LEASE: Duration = Duration::from_secs(60);

fn hold_until() -> i64 {
    now_ms().saturating_add(millis(HOLD_LEASE))
}

impl Registry {
    /// Run `work` while holding every instance's object deletions, renewing
    /// the hold; `work` starts only once the hold is committed. Fails
    /// (dropping `work`) if a renewal fails or stalls, since objects may
    /// be deleted once the hold lapses. The hold is released either way.
    pub async fn while_gc_held<T, E>(
        &self,
        purpose: &str,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E>
    where
        E: From<RegistryError>,
    {
        let token = new_token();
        self.db
            .take_gc_hold(&token, purpose, hold_until())
            .await
            .map_err(|e| E::from(e.into()))?;
        let period = HOLD_LEASE / 3;
        let mut renew = tokio::time::interval_at(Instant::now() + period, period);
        tokio::pin!(work);
        let result = loop {
            tokio::select! {
                done = &mut work => break done,
                _ = renew.tick() => {
                    match tokio::time::timeout(period, self.db.renew_gc_hold(&token, hold_until())).await {
                        Ok(Ok(true)) => {}
                        Ok(Ok(false)) | Err(_) => break Err(E::from(RegistryError::Internal(
                            StoreError::Conflict("the garbage collection hold lapsed".into()),
                        ))),
                        Ok(Err(e)) => break Err(E::from(e.into())),
                    }
                }
            }
        };
        if let Err(e) = self.db.release_gc_hold(&token).await {
            tracing::warn!(error = %e, "cannot release a garbage collection hold; it lapses on its own");
        }
        result
    }
}
