//! Online garbage collection: deletes tag rows past their namespace's
//! time-machine window, manifests nothing keeps, blob links no manifest
//! uses, blob rows no repository links, and finally their objects in blob
//! storage, while pushes and pulls go on. Every instance runs passes; all
//! coordination is in the database, and each step is one transaction that
//! re-checks what it deletes, so passes may overlap and a pass that dies
//! leaves nothing the next one cannot finish.
//!
//! What is kept, per repository (`manifests.rs`): a manifest named by any
//! tag row still recoverable (live, expiring later, or ended within the
//! window), or pushed within the grace period (`PUSH_TEMP_TAG_EXPIRATION_SEC`:
//! an index's children are pushed untagged first), and everything a kept
//! manifest reaches: its children, its subject, and the referrers of a
//! kept subject. Repository steps hold the repository's row lock, as
//! `put_manifest` does, so a push that references a manifest or a blob
//! link either commits first (and GC sees the reference) or runs after
//! (and finds the row gone, refusing the push as it would any unknown
//! reference). A blob link is kept while a manifest of the repository
//! references it or it is younger than the grace period; uploads, mounts
//! and a client's `HEAD`/`GET` of the blob restart that period.
//!
//! Why no object in use is ever deleted (`blobs.rs`, `pins.rs`; the SQL is
//! in `berth-store`'s `metadata/gc.rs` and `metadata/gc_blobs.rs`). Every transaction that decides
//! about a digest's object first takes the digest's lock, and decides from
//! what it reads after that, so per digest they are serial:
//! P (an upload pins the digest), R (it records the blob and drops the pin),
//! D (GC deletes the blob row and queues its object's deletion), C (GC
//! claims a queued deletion with a lease). An object at location L is
//! deleted only after a C that saw no live pin on the digest and no blob
//! row at L.
//! 1. A blob row at L exists only if the object at L was complete when R
//!    committed the row (or an earlier R did and the row was never deleted).
//! 2. P refuses while a live claim exists; an upload writes its object only
//!    after P, and R commits only while the pin is still live (R checks;
//!    the upload renews it while writing). So an object written for R was
//!    written after every earlier claim's deletion finished (a claim's
//!    holder abandons its delete at half its lease, before it can lapse),
//!    and no C can claim between P and R: C sees the pin.
//! 3. After R, the row at L exists, R cancelled any queued deletion of L,
//!    and C cancels (instead of claiming) a deletion of L while a row at L
//!    exists. The row goes only in a D, which refuses while a link, a
//!    manifest reference or a live pin exists, and queues a fresh deletion.
//! 4. An upload that finds the row present (and reuses its object) looked
//!    after its P; D cannot delete the row while the pin is live, so the
//!    row R keeps (or re-inserts, if a D ran before P) is the one it saw.
//!
//! A live hold (`hold.rs`) refuses every C, so a database snapshot taken
//! after the hold can copy every object it records.
//!
//! Hence deleting the object at L never races a reader of a row at L. Links
//! are re-made only by R (pinned) and mounts (under the digest's lock, and
//! only from an existing link), so D never deletes a row a repository is
//! about to use.

mod blobs;
mod hold;
mod manifests;
pub(super) mod pins;
mod preview;

pub use preview::{BlobUsage, StorageReport};

use std::time::Duration;

use berth_store::metadata::RepositorySweep;
use berth_store::now_ms;

use super::{Registry, RegistryError};

/// Garbage collection settings.
#[derive(Debug, Clone)]
pub struct GcConfig {
    /// Run a pass this often in the background on every instance; `None`
    /// turns the worker off (`FEATURE_GARBAGE_COLLECTION: false`).
    pub interval: Option<Duration>,
    /// How long an untagged manifest or an unreferenced blob link is kept
    /// after it was pushed, mounted or looked at
    /// (`PUSH_TEMP_TAG_EXPIRATION_SEC`).
    pub push_grace: Duration,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval: Some(Duration::from_secs(30)),
            push_grace: Duration::from_secs(3600),
        }
    }
}

/// What one garbage collection pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Tag rows past their namespace's time-machine window.
    pub tag_rows: u64,
    /// Manifests.
    pub manifests: u64,
    /// Links of blobs to repositories.
    pub blob_links: u64,
    /// Blob rows.
    pub blobs: u64,
    /// Bytes of those blobs.
    pub bytes: u64,
    /// Objects deleted from blob storage.
    pub objects: u64,
}

impl GcReport {
    /// Whether the pass removed nothing.
    pub fn is_empty(&self) -> bool {
        *self == GcReport::default()
    }
}

/// Manifests deleted per repository transaction.
const MANIFESTS_PER_STEP: usize = 500;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Registry {
    /// Run one full garbage collection pass: everything collectable now.
    /// Safe while any number of instances serve and collect.
    pub async fn collect_garbage(&self) -> Result<GcReport, RegistryError> {
        let mut report = GcReport::default();
        if self.read_only() {
            // Read-only mode changes nothing, collection included (the
            // pass still counts: the worker is alive).
            crate::metrics::gc_pass(&report);
            return Ok(report);
        }
        let sweep = self.sweep();
        let pass = async {
            // Each step's time, for whoever tunes a large pass (debug).
            let started = std::time::Instant::now();
            self.collect_repositories(&sweep, &mut report).await?;
            let repositories = started.elapsed();
            self.collect_blobs(&mut report).await?;
            let blob_rows = started.elapsed() - repositories;
            self.delete_queued_objects(&mut report).await?;
            let objects = started.elapsed() - repositories - blob_rows;
            tracing::debug!(?repositories, ?blob_rows, ?objects, "garbage collection steps");
            self.db.remove_lapsed_pins().await?;
            self.db.remove_lapsed_holds().await?;
            Ok::<(), RegistryError>(())
        }
        .await;
        // A failed pass's committed steps stand: count them too.
        crate::metrics::gc_pass(&report);
        self.record_gc_pass(&report, pass.is_err()).await;
        pass?;
        Ok(report)
    }

    /// What a pass started now is told: the clock, the default window and
    /// the push grace period.
    fn sweep(&self) -> RepositorySweep {
        let now = now_ms();
        RepositorySweep {
            now_ms: now,
            default_window_s: i64::try_from(self.config.default_tag_expiration.as_secs()).unwrap_or(i64::MAX),
            grace_cutoff_ms: now.saturating_sub(millis(self.config.gc.push_grace)),
            max_manifests: MANIFESTS_PER_STEP,
        }
    }

    /// Keep what the pass did for the status page. A failure to record is
    /// logged, not the pass's failure.
    async fn record_gc_pass(&self, report: &GcReport, failed: bool) {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let row = berth_store::metadata::GcPassRow {
            finished_ms: now_ms(),
            tag_rows: n(report.tag_rows),
            manifests: n(report.manifests),
            blob_links: n(report.blob_links),
            blobs: n(report.blobs),
            bytes: n(report.bytes),
            objects: n(report.objects),
            failed,
        };
        if let Err(e) = self.db.record_gc_pass(&row).await {
            tracing::warn!(error = %e, "could not record the garbage collection pass");
        }
    }

    /// Run a pass every `interval`, forever, logging what each removed.
    pub(super) async fn run_gc(&self, interval: Duration) {
        loop {
            match self.collect_garbage().await {
                Ok(r) if r.is_empty() => tracing::debug!("garbage collection: nothing to remove"),
                Ok(r) => tracing::info!(
                    tag_rows = r.tag_rows,
                    manifests = r.manifests,
                    blob_links = r.blob_links,
                    blobs = r.blobs,
                    bytes = r.bytes,
                    objects = r.objects,
                    "garbage collection pass"
                ),
                Err(e) => tracing::warn!(error = %e, "garbage collection pass failed; the next one retries"),
            }
            tokio::time::sleep(interval).await;
        }
    }
}
