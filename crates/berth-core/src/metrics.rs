//! Prometheus metrics of the registry's events, recorded where each event
//! happens: pulls and pushes, bytes in and out of blobs, logins, garbage
//! collection passes. Names and labels are Quay's where Quay has the metric,
//! so its dashboards and alerts work unchanged (its Python client adds
//! `_total` to counters; the names here are as Quay exposes them, and the
//! `status` values are the HTTP statuses Quay records); Berth's own metrics
//! start with `berth_`.
//!
//! Everything goes through the `metrics` facade: with no recorder
//! installed (the CLI, tests driving the core) recording does nothing.
//! Labels take values from small fixed sets only, never from a request.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Unit, counter, describe_counter, describe_gauge};

use crate::registry::GcReport;

/// Manifest pulls, by `protocol`, `ref` (`tag` or `manifest`) and `status`.
pub const IMAGE_PULLS: &str = "quay_registry_image_pulls_total";
/// Manifest pushes, by `protocol`, `status` and `media_type`.
pub const IMAGE_PUSHES: &str = "quay_registry_image_pushes_total";
/// Bytes of blobs served (or redirected to storage), by `protocol`.
pub const IMAGE_PULLED_BYTES: &str = "quay_registry_image_pulled_estimated_bytes_total";
/// Bytes of blobs uploaded and committed.
pub const IMAGE_PUSHED_BYTES: &str = "quay_registry_image_pushed_bytes_total";
/// Logins, by `auth_kind` (`basic`, `oauth`) and `success` (`True`, `False`).
pub const AUTH_ATTEMPTS: &str = "quay_authentication_attempts_total";
/// Garbage collection passes.
pub const GC_ITERATIONS: &str = "quay_gc_iterations_total";
/// Rows deleted by garbage collection, by `table`.
pub const GC_ROWS_DELETED: &str = "quay_gc_table_rows_deleted_total";
/// Blob objects deleted from storage by garbage collection.
pub const GC_BLOBS_DELETED: &str = "quay_gc_storage_blobs_deleted_total";
/// Bytes of the blobs garbage collection deleted.
pub const GC_BYTES_FREED: &str = "berth_gc_storage_bytes_freed_total";
/// Notification delivery attempts, by `event` and `success` (`True`, `False`).
pub const NOTIFICATION_DELIVERIES: &str = "berth_notification_deliveries_total";
/// Upload sessions open now (all instances).
pub const UPLOAD_SESSIONS: &str = "berth_upload_sessions_open";
/// Jobs waiting in a background queue, by `queue` (all instances).
pub const QUEUE_DEPTH: &str = "berth_queue_depth";
/// Age of the oldest waiting job of a background queue, by `queue`.
pub const QUEUE_OLDEST_AGE: &str = "berth_queue_oldest_age_seconds";
/// Connections of this instance's database pools in use.
pub const DB_IN_USE: &str = "quay_db_pooled_connections_in_use";
/// Open, idle connections of this instance's database pools.
pub const DB_AVAILABLE: &str = "quay_db_pooled_connections_available";
/// Most connections this instance's database pools may open.
pub const DB_MAX: &str = "berth_db_pooled_connections_max";

/// The only protocol: the distribution API.
const PROTOCOL: &str = "v2";

/// How a login was presented, as Quay's `auth_kind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// `Authorization: Basic` (passwords, robot, app and OAuth tokens).
    Basic,
    /// An OAuth access token as `Authorization: Bearer`.
    OAuth,
}

/// Handles of the login series, by (kind, success), made once: Basic
/// credentials on `/v2` are checked on every request.
fn login_series() -> &'static [[Counter; 2]; 2] {
    static SERIES: OnceLock<[[Counter; 2]; 2]> = OnceLock::new();
    SERIES.get_or_init(|| {
        ["basic", "oauth"].map(|kind| {
            ["False", "True"]
                .map(|success| counter!(AUTH_ATTEMPTS, "auth_kind" => kind, "success" => success))
        })
    })
}

/// A notification delivery attempt of event kind `event` (one of the fixed
/// kind names).
pub fn notification(event: &'static str, success: bool) {
    let success = if success { "True" } else { "False" };
    counter!(NOTIFICATION_DELIVERIES, "event" => event, "success" => success).increment(1);
}

/// Give every metric its help text and unit, and start the unlabelled
/// counters (and the common label sets) at zero so that rates and alerts
/// work before the first event. Call once, after installing a recorder.
pub fn describe() {
    describe_counter!(IMAGE_PULLS, "Manifest pulls (GET) by reference kind and status.");
    describe_counter!(IMAGE_PUSHES, "Manifest pushes stored, by media type.");
    describe_counter!(
        NOTIFICATION_DELIVERIES,
        "Notification delivery attempts, by event kind and success."
    );
    describe_counter!(
        IMAGE_PULLED_BYTES,
        Unit::Bytes,
        "Bytes of blobs served or redirected to storage."
    );
    describe_counter!(
        IMAGE_PUSHED_BYTES,
        Unit::Bytes,
        "Bytes of blobs uploaded and committed."
    );
    describe_counter!(AUTH_ATTEMPTS, "Logins by kind and outcome.");
    describe_counter!(GC_ITERATIONS, "Garbage collection passes of this instance.");
    describe_counter!(GC_ROWS_DELETED, "Rows deleted by garbage collection, by table.");
    describe_counter!(
        GC_BLOBS_DELETED,
        "Blob objects deleted from storage by garbage collection."
    );
    describe_counter!(
        GC_BYTES_FREED,
        Unit::Bytes,
        "Bytes of the blobs garbage collection deleted."
    );
    describe_gauge!(UPLOAD_SESSIONS, "Blob upload sessions open, on all instances.");
    describe_gauge!(
        QUEUE_DEPTH,
        "Jobs waiting or running in a background queue, on all instances."
    );
    describe_gauge!(
        QUEUE_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest job of a background queue (0 when empty)."
    );
    describe_gauge!(DB_IN_USE, "Database connections of this instance in use.");
    describe_gauge!(DB_AVAILABLE, "Open, idle database connections of this instance.");
    describe_gauge!(DB_MAX, "Most database connections this instance opens.");
    for name in [
        IMAGE_PUSHED_BYTES,
        GC_ITERATIONS,
        GC_BLOBS_DELETED,
        GC_BYTES_FREED,
    ] {
        counter!(name).increment(0);
    }
    // Made now, after the recorder: handles made before it would be inert.
    let pulls = pull_series();
    pulls.bytes.increment(0);
    pulls.pulls.iter().flatten().for_each(|c| c.increment(0));
    login_series().iter().flatten().for_each(|c| c.increment(0));
    for table in GC_TABLES {
        counter!(GC_ROWS_DELETED, "table" => table).increment(0);
    }
}

/// Handles of the pull series, made once: pulls are the hottest path, and
/// a handle skips building and looking up the series key per pull. Made
/// by [`describe`], right after the recorder is installed (a handle made
/// with no recorder would stay inert).
struct PullSeries {
    /// By (by tag, found).
    pulls: [[Counter; 2]; 2],
    bytes: Counter,
}

fn pull_series() -> &'static PullSeries {
    static SERIES: OnceLock<PullSeries> = OnceLock::new();
    SERIES.get_or_init(|| {
        let pulls = |reference: &'static str| {
            ["404", "200"].map(|status| {
                counter!(IMAGE_PULLS, "protocol" => PROTOCOL, "ref" => reference, "status" => status)
            })
        };
        PullSeries {
            pulls: [pulls("manifest"), pulls("tag")],
            bytes: counter!(IMAGE_PULLED_BYTES, "protocol" => PROTOCOL),
        }
    })
}

/// A manifest pull: `found` is false when the manifest, tag or repository
/// was unknown (Quay's 404; other failures are not counted, as in Quay).
pub(crate) fn pull(by_tag: bool, found: bool) {
    pull_series().pulls[usize::from(by_tag)][usize::from(found)].increment(1);
}

/// A manifest push that was stored.
pub(crate) fn push(media_type: &str) {
    use berth_oci::media_type::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
    // Stored manifests have one of these types; anything else is folded
    // so a label never carries client text.
    let media_type = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]
        .into_iter()
        .find(|t| *t == media_type)
        .unwrap_or("other");
    counter!(IMAGE_PUSHES, "protocol" => PROTOCOL, "status" => "201", "media_type" => media_type)
        .increment(1);
}

/// Blob bytes served to a client (or redirected to storage).
pub(crate) fn pulled_bytes(bytes: u64) {
    pull_series().bytes.increment(bytes);
}

/// Blob bytes committed by an upload.
pub(crate) fn pushed_bytes(bytes: u64) {
    counter!(IMAGE_PUSHED_BYTES).increment(bytes);
}

/// A login's outcome.
pub(crate) fn login(kind: AuthKind, success: bool) {
    let kind = match kind {
        AuthKind::Basic => 0,
        AuthKind::OAuth => 1,
    };
    login_series()[kind][usize::from(success)].increment(1);
}

/// The tables garbage collection deletes rows of, as the `table` label.
const GC_TABLES: [&str; 4] = ["tags", "manifests", "repository_blobs", "blobs"];

/// What a garbage collection pass removed (also when it failed midway:
/// its committed steps stand).
pub(crate) fn gc_pass(report: &GcReport) {
    counter!(GC_ITERATIONS).increment(1);
    let rows = [report.tag_rows, report.manifests, report.blob_links, report.blobs];
    for (table, n) in GC_TABLES.into_iter().zip(rows) {
        counter!(GC_ROWS_DELETED, "table" => table).increment(n);
    }
    counter!(GC_BLOBS_DELETED).increment(report.objects);
    counter!(GC_BYTES_FREED).increment(report.bytes);
}

/// The backlog of one background queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueBacklog {
    /// The queue's name, the `queue` label.
    pub queue: &'static str,
    /// Jobs waiting or running.
    pub depth: u64,
    /// How long the oldest of them has waited (zero when empty).
    pub oldest_age: Duration,
}

/// The registry's state as gauges show it, read when metrics are scraped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gauges {
    /// Open upload sessions, on all instances.
    pub upload_sessions: u64,
    /// Every background queue's backlog.
    pub queues: Vec<QueueBacklog>,
    /// This instance's database connections.
    pub pool: berth_store::PoolUse,
}

/// Set the gauges from a reading.
pub fn record_gauges(gauges: &Gauges) {
    metrics::gauge!(UPLOAD_SESSIONS).set(gauges.upload_sessions as f64);
    for q in &gauges.queues {
        metrics::gauge!(QUEUE_DEPTH, "queue" => q.queue).set(q.depth as f64);
        metrics::gauge!(QUEUE_OLDEST_AGE, "queue" => q.queue).set(q.oldest_age.as_secs_f64());
    }
    metrics::gauge!(DB_IN_USE).set(f64::from(gauges.pool.in_use));
    metrics::gauge!(DB_AVAILABLE).set(f64::from(gauges.pool.idle));
    metrics::gauge!(DB_MAX).set(f64::from(gauges.pool.max));
}

impl crate::Registry {
    /// Read the gauges: a few counting queries and the pools' own counts,
    /// cheap enough for every scrape.
    pub async fn gauges(&self) -> Result<Gauges, crate::RegistryError> {
        let db = self.db();
        Ok(Gauges {
            upload_sessions: u64::try_from(db.open_uploads().await?).unwrap_or(0),
            queues: self.queue_backlogs().await?,
            pool: db.pool_use(),
        })
    }

    /// One line per background queue. A new queue (notifications,
    /// mirroring) adds its line here and is graphed and alerted on with no
    /// other change.
    pub(crate) async fn queue_backlogs(&self) -> Result<Vec<QueueBacklog>, crate::RegistryError> {
        let now = berth_store::now_ms();
        let backlog = |queue, (depth, oldest_ms): (i64, Option<i64>)| QueueBacklog {
            queue,
            depth: u64::try_from(depth).unwrap_or(0),
            oldest_age: oldest_ms
                .map(|t| Duration::from_millis(u64::try_from(now.saturating_sub(t)).unwrap_or(0)))
                .unwrap_or_default(),
        };
        let indexing = self.db().scan_backlog(crate::indexer::MAX_ATTEMPTS).await?;
        let notifications = self.db().notification_backlog().await?;
        Ok(vec![
            backlog("indexing", indexing),
            backlog("notifications", notifications),
        ])
    }
}
