//! The upload side of object deletion: an upload pins a blob's digest
//! before it writes the object (or decides to reuse the stored one), keeps
//! the pin alive while it writes, and the commit that records the blob
//! drops it. Garbage collection neither deletes the row nor the object of
//! a pinned digest.

use std::future::Future;
use std::time::Duration;

use berth_store::now_ms;
use tokio::time::Instant;

use super::blobs::DELETION_LEASE;
use super::millis;
use crate::registry::sessions::new_token;
use crate::registry::{Registry, RegistryError};

/// How long a pin lasts unless renewed.
const PIN_LEASE: Duration = Duration::from_secs(60);

/// Longest pause between two attempts to pin a digest being deleted.
const MAX_PIN_PAUSE: Duration = Duration::from_millis(500);

/// A pin this request holds.
pub(in crate::registry) struct Pin {
    pub(in crate::registry) token: String,
}

fn pin_until() -> i64 {
    now_ms().saturating_add(millis(PIN_LEASE))
}

impl Registry {
    /// Pin `digest`, waiting while garbage collection deletes an object of
    /// it (at most one deletion lease).
    pub(in crate::registry) async fn pin_blob(&self, digest: &str) -> Result<Pin, RegistryError> {
        let token = new_token();
        let give_up = Instant::now() + DELETION_LEASE + Duration::from_secs(1);
        let mut pause = Duration::from_millis(20);
        loop {
            if self.db.pin_blob(digest, &token, pin_until()).await? {
                return Ok(Pin { token });
            }
            if Instant::now() >= give_up {
                return Err(RegistryError::UploadBusy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PIN_PAUSE);
        }
    }

    /// Run `work` while renewing `pin`; fails (dropping `work`) if a
    /// renewal fails or stalls, so nothing is written on a lapsed pin.
    pub(in crate::registry) async fn while_pinned<T>(
        &self,
        pin: &Pin,
        work: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        let period = PIN_LEASE / 3;
        let mut renew = tokio::time::interval_at(Instant::now() + period, period);
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = renew.tick() => {
                    match tokio::time::timeout(period, self.db.renew_blob_pin(&pin.token, pin_until())).await {
                        Ok(Ok(true)) => {}
                        Ok(Ok(false)) | Err(_) => return Err(RegistryError::UploadBusy),
                        Ok(Err(e)) => return Err(e.into()),
                    }
                }
            }
        }
    }

    /// Drop a pin an upload no longer needs (it failed before its commit).
    /// A failure only keeps the digest pinned until the pin lapses.
    pub(in crate::registry) async fn unpin_blob(&self, pin: &Pin) {
        if let Err(e) = self.db.unpin_blob(&pin.token).await {
            tracing::warn!(error = %e, "cannot drop a blob pin; it lapses on its own");
        }
    }
}
