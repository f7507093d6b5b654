//! Upload sessions shared by every instance. Before a request changes a
//! session it takes the session's lease in the database, renews it while
//! it streams, and gives it back (or lets it lapse if it dies), so chunks of
//! one upload may arrive at any instance yet never interleave.

use std::future::Future;
use std::time::Duration;

use crate::RepositoryName;
use async_trait::async_trait;
use berth_oci::{Algorithm, Hasher};
use berth_store::metadata::{Claim, Lease, UploadRow};
use berth_store::{Checkpoint, Db, StoreError, now_ms};
use tokio::time::Instant;

use super::{Registry, RegistryError};

/// Longest pause between two attempts to take a busy session.
const MAX_CLAIM_PAUSE: Duration = Duration::from_millis(500);

/// A session this request holds the lease of.
pub(super) struct Session {
    pub(super) id: String,
    pub(super) token: String,
    pub(super) row: UploadRow,
    pub(super) hasher: Hasher,
}

/// A fresh lease token (also used for upload ids).
pub(crate) fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Registry {
    /// A lease for `token` from now.
    pub(super) fn lease<'a>(&self, token: &'a str) -> Lease<'a> {
        Lease {
            token,
            until_ms: now_ms().saturating_add(millis(self.config.upload_lease)),
        }
    }

    /// When a session touched now is abandoned.
    pub(super) fn expiry_ms(&self) -> i64 {
        now_ms().saturating_add(millis(self.config.upload_expiration))
    }

    /// Take session `id` of `repo`, waiting while another request holds it
    /// (until that request ends or its lease lapses).
    pub(super) async fn claim_session(
        &self,
        repo: &RepositoryName,
        id: &str,
    ) -> Result<Session, RegistryError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::BlobUploadUnknown)?;
        let token = new_token();
        let give_up = Instant::now() + self.config.upload_lease + Duration::from_secs(1);
        let mut pause = Duration::from_millis(20);
        loop {
            match self.db.claim_upload(id, self.lease(&token)).await? {
                Claim::Claimed(row) => {
                    let checked = if row.repository_id == repo_id {
                        restore_hasher(&row)
                    } else {
                        Err(RegistryError::BlobUploadUnknown)
                    };
                    return match checked {
                        Ok(hasher) => Ok(Session {
                            id: id.to_owned(),
                            token,
                            row,
                            hasher,
                        }),
                        Err(e) => {
                            self.release(id, &token).await;
                            Err(e)
                        }
                    };
                }
                Claim::Missing => return Err(RegistryError::BlobUploadUnknown),
                Claim::Busy if Instant::now() >= give_up => return Err(RegistryError::UploadBusy),
                Claim::Busy => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_CLAIM_PAUSE);
                }
            }
        }
    }

    /// Give a lease back. A failure only delays the next request on the
    /// session until the lease lapses.
    pub(super) async fn release(&self, id: &str, token: &str) {
        if let Err(e) = self.db.release_upload(id, token).await {
            tracing::warn!(upload = %id, error = %e, "cannot release an upload lease; it lapses on its own");
        }
    }

    /// Run `work` on a leased session, renewing the lease meanwhile. Fails
    /// (dropping `work`) if a renewal fails or takes too long, so this
    /// request stops writing before its lease can lapse and pass to another.
    pub(super) async fn while_leased<T>(
        &self,
        id: &str,
        token: &str,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, RegistryError> {
        let period = self.config.upload_lease / 3;
        let mut renew = tokio::time::interval_at(Instant::now() + period, period);
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done.map_err(from_store),
                _ = renew.tick() => {
                    let renewed = tokio::time::timeout(period, self.db.renew_upload_lease(id, self.lease(token))).await;
                    match renewed {
                        Ok(Ok(true)) => {}
                        Ok(Ok(false)) | Err(_) => return Err(RegistryError::UploadBusy),
                        Ok(Err(e)) => return Err(e.into()),
                    }
                }
            }
        }
    }

    /// Drop a session's staged bytes, then its row (in that order, so a
    /// crash in between leaves a row the cleanup worker finishes).
    pub(super) async fn discard(&self, id: &str, store_state: &[u8]) -> Result<(), RegistryError> {
        self.blobs.abort(id, store_state).await?;
        self.db.delete_upload(id).await?;
        Ok(())
    }
}

/// The session's running hash.
pub(super) fn restore_hasher(row: &UploadRow) -> Result<Hasher, RegistryError> {
    let algorithm: Algorithm = row.algorithm.parse()?;
    Hasher::restore(algorithm, &row.hash_state)
        .map_err(|e| RegistryError::Internal(StoreError::Corrupt(e.to_string())))
}

/// A lost lease shows up as a conflict, not a storage failure.
pub(super) fn from_store(e: StoreError) -> RegistryError {
    match e {
        StoreError::Conflict(_) => RegistryError::UploadBusy,
        other => RegistryError::Internal(other),
    }
}

/// Saves the store's state with the session under the request's lease.
pub(super) struct SessionCheckpoint<'a> {
    pub(super) db: &'a Db,
    pub(super) id: &'a str,
    pub(super) token: &'a str,
}

#[async_trait]
impl Checkpoint for SessionCheckpoint<'_> {
    async fn save(&self, state: &[u8]) -> Result<(), StoreError> {
        if self.db.checkpoint_upload(self.id, self.token, state).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict("the upload's lease was taken over".into()))
        }
    }
}
