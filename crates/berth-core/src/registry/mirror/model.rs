//! The mirror's domain types: its status names, the API's input and view,
//! how the upstream is reached.

use berth_store::metadata::MirrorRow;

/// Quay's sync statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStatus {
    /// Never synced.
    NeverRun,
    /// A sync was asked for.
    SyncNow,
    /// A sync is running.
    Syncing,
    /// The last sync copied every matched tag.
    Success,
    /// The last sync failed (in part).
    Fail,
    /// The last sync was cancelled.
    Cancel,
}

impl SyncStatus {
    /// Quay's name, also the stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::NeverRun => "NEVER_RUN",
            SyncStatus::SyncNow => "SYNC_NOW",
            SyncStatus::Syncing => "SYNCING",
            SyncStatus::Success => "SUCCESS",
            SyncStatus::Fail => "FAIL",
            SyncStatus::Cancel => "CANCEL",
        }
    }

    pub(super) fn stored(s: &str) -> SyncStatus {
        [
            SyncStatus::NeverRun,
            SyncStatus::SyncNow,
            SyncStatus::Syncing,
            SyncStatus::Success,
            SyncStatus::Fail,
            SyncStatus::Cancel,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .unwrap_or(SyncStatus::NeverRun)
    }
}

/// Architectures an index may be filtered to (Quay's list).
pub const ARCHITECTURES: [&str; 4] = ["amd64", "arm64", "ppc64le", "s390x"];
/// Shortest bound on one upstream operation (Quay's `skopeo_timeout_interval`).
pub const MIN_TIMEOUT_S: u64 = 300;
/// Failed syncs retried before a mirror waits a whole interval.
pub const SYNC_RETRIES: i64 = 3;

/// Proxies for reaching the upstream (`external_registry_config.proxy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MirrorProxy {
    /// `http_proxy`.
    pub http_proxy: Option<String>,
    /// `https_proxy`.
    pub https_proxy: Option<String>,
    /// `no_proxy`.
    pub no_proxy: Option<String>,
}

/// How the upstream is reached (`external_registry_config`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistryConnection {
    /// Check certificates; false also allows plain HTTP.
    pub verify_tls: bool,
    /// Accepted for Quay compatibility (signatures are not copied).
    pub unsigned_images: bool,
    /// Proxies (kept and shown; connections are made directly).
    pub proxy: MirrorProxy,
}

impl Default for RegistryConnection {
    fn default() -> Self {
        RegistryConnection {
            verify_tls: true,
            unsigned_images: false,
            proxy: MirrorProxy::default(),
        }
    }
}

/// A change to a mirror: for a creation, the required fields must be set;
/// for an update, what is `None` stays.
#[derive(Debug, Clone, Default)]
pub struct MirrorInput {
    /// `is_enabled`.
    pub is_enabled: Option<bool>,
    /// `external_reference`.
    pub external_reference: Option<String>,
    /// `external_registry_username` (`Some(None)` clears it).
    pub username: Option<Option<String>>,
    /// `external_registry_password` (`Some(None)` clears it).
    pub password: Option<Option<String>>,
    /// `sync_interval`, seconds.
    pub sync_interval_s: Option<u64>,
    /// `sync_start_date`, ms since the epoch.
    pub sync_start_ms: Option<i64>,
    /// `robot_username`.
    pub robot_username: Option<String>,
    /// `root_rule.rule_value`.
    pub tag_globs: Option<Vec<String>>,
    /// `external_registry_config`.
    pub connection: Option<RegistryConnection>,
    /// `skopeo_timeout_interval`, seconds.
    pub timeout_s: Option<u64>,
    /// `architecture_filter` (`Some(None)` clears it).
    pub architecture_filter: Option<Option<Vec<String>>>,
}

/// A mirror as the API shows it (no credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Whether the worker syncs it.
    pub is_enabled: bool,
    /// The upstream repository.
    pub external_reference: String,
    /// Whether upstream credentials are stored.
    pub has_credentials: bool,
    /// Seconds between syncs.
    pub sync_interval_s: i64,
    /// When the next sync is due (ms).
    pub sync_start_ms: Option<i64>,
    /// When the running sync's claim lapses (ms).
    pub sync_expiration_ms: Option<i64>,
    /// Failed syncs left.
    pub sync_retries_remaining: i64,
    /// Status.
    pub sync_status: SyncStatus,
    /// The tag globs.
    pub tag_globs: Vec<String>,
    /// The robot that writes the mirror.
    pub robot_username: String,
    /// How the upstream is reached.
    pub connection: RegistryConnection,
    /// Bound on one upstream operation, seconds.
    pub timeout_s: i64,
    /// Architectures kept from indexes.
    pub architecture_filter: Option<Vec<String>>,
    /// When the last sync ended (ms).
    pub last_sync_ms: Option<i64>,
    /// Why the last sync failed.
    pub last_error: Option<String>,
}

impl Mirror {
    pub(super) fn from_row(row: &MirrorRow) -> Mirror {
        Mirror {
            is_enabled: row.is_enabled,
            external_reference: row.external_reference.clone(),
            has_credentials: row.username_sealed.is_some() || row.password_sealed.is_some(),
            sync_interval_s: row.sync_interval_s,
            sync_start_ms: row.sync_start_ms,
            sync_expiration_ms: row.sync_expiration_ms,
            sync_retries_remaining: row.sync_retries_remaining,
            sync_status: SyncStatus::stored(&row.sync_status),
            tag_globs: serde_json::from_str(&row.tag_globs).unwrap_or_default(),
            robot_username: row.robot_name.clone(),
            connection: serde_json::from_str(&row.registry_config).unwrap_or_default(),
            timeout_s: row.timeout_s,
            architecture_filter: row
                .architecture_filter
                .as_deref()
                .and_then(|f| serde_json::from_str(f).ok()),
            last_sync_ms: row.last_sync_ms,
            last_error: row.last_error.clone(),
        }
    }
}
