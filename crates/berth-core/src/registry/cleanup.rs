//! Background work. Every instance runs it; the database hands each piece
//! of work to one instance (leases taken with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), and work an instance dies in the middle of is picked up
//! again once its lease lapses.

use std::time::Duration;

use super::sessions::new_token;
use super::{Registry, RegistryError};

/// Sessions leased per round trip.
const BATCH: i64 = 16;

impl Registry {
    /// Abort and remove upload sessions past their expiry that no request
    /// holds. Returns how many this call removed.
    pub async fn clean_abandoned_uploads(&self) -> Result<usize, RegistryError> {
        let token = new_token();
        let mut removed = 0;
        loop {
            let batch = self.db.claim_expired_uploads(self.lease(&token), BATCH).await?;
            if batch.is_empty() {
                return Ok(removed);
            }
            for (id, state) in batch {
                match self.blobs.abort(&id, &state).await {
                    Ok(()) => {
                        if self.db.delete_leased_upload(&id, &token).await? {
                            removed += 1;
                        }
                    }
                    // Stays leased until the lease lapses, then is retried.
                    Err(e) => tracing::warn!(upload = %id, error = %e, "cannot abort an abandoned upload"),
                }
            }
        }
    }

    /// Remove staged data that no session owns: left by a crash, or by a
    /// cleanup step that failed after its session closed (e.g. an S3 delete
    /// refused under load). Sessions are created before anything is staged
    /// and closed after, so this is safe while any instance serves uploads.
    pub async fn remove_orphaned_uploads(&self) -> Result<usize, RegistryError> {
        let mut removed = 0;
        for id in self.blobs.staged_uploads().await? {
            if !self.db.upload_exists(&id).await? {
                self.blobs.abort(&id, &[]).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Run the background workers forever: abandoned uploads, staged data
    /// without a session and expired tags, periodically, auto-prune
    /// policies, repository mirrors, and garbage collection if configured.
    pub async fn run_workers(&self) {
        match self.config.gc.interval {
            Some(interval) => {
                tokio::join!(
                    self.run_upload_cleanup(),
                    self.run_autoprune(),
                    self.run_mirrors(),
                    self.run_gc(interval)
                );
            }
            None => {
                tokio::join!(
                    self.run_upload_cleanup(),
                    self.run_autoprune(),
                    self.run_mirrors()
                );
            }
        }
    }

    /// Abandoned uploads and staged data without a session, periodically.
    async fn run_upload_cleanup(&self) {
        // Often enough that a dead request's monolithic upload is cleaned
        // soon after its lease lapses.
        let period = (self.config.upload_expiration / 4)
            .min(self.config.upload_lease)
            .clamp(Duration::from_millis(100), Duration::from_secs(60));
        loop {
            match self.clean_abandoned_uploads().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "removed abandoned uploads"),
                Err(e) => tracing::warn!(error = %e, "cannot clean abandoned uploads"),
            }
            match self.remove_orphaned_uploads().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "removed staged data no session owned"),
                Err(e) => tracing::warn!(error = %e, "cannot sweep staged data"),
            }
            match self.end_expired_tags().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(ended = n, "recorded expired tags"),
                Err(e) => tracing::warn!(error = %e, "cannot record expired tags"),
            }
            tokio::time::sleep(period).await;
        }
    }
}
