//! The organization mirror's domain types: the API's input and view, the
//! discovered repositories' statuses.

use berth_store::metadata::OrgMirrorRow;

use super::super::{RegistryConnection, SyncStatus};
use crate::names::Visibility;
use crate::upstream::RegistryKind;

/// A change to an organization mirror: for a creation, the required
/// fields must be set; for an update, what is `None` stays.
#[derive(Debug, Clone, Default)]
pub struct OrgMirrorInput {
    /// `is_enabled`.
    pub is_enabled: Option<bool>,
    /// `external_registry_type`.
    pub registry_type: Option<RegistryKind>,
    /// `external_registry_url`, `http[s]://host[:port]`.
    pub registry_url: Option<String>,
    /// `external_namespace`.
    pub external_namespace: Option<String>,
    /// `external_registry_username` (`Some(None)` clears it).
    pub username: Option<Option<String>>,
    /// `external_registry_password` (`Some(None)` clears it).
    pub password: Option<Option<String>>,
    /// `robot_username`.
    pub robot_username: Option<String>,
    /// `visibility` of the repositories it creates.
    pub visibility: Option<Visibility>,
    /// `sync_interval`, seconds.
    pub sync_interval_s: Option<u64>,
    /// `sync_start_date`, ms since the epoch.
    pub sync_start_ms: Option<i64>,
    /// `repository_filters` (globs; empty: every repository).
    pub repository_filters: Option<Vec<String>>,
    /// `external_registry_config`.
    pub connection: Option<RegistryConnection>,
    /// `skopeo_timeout`, seconds.
    pub timeout_s: Option<u64>,
    /// `architecture_filter` (`Some(None)` clears it).
    pub architecture_filter: Option<Option<Vec<String>>>,
}

/// An organization mirror as the API shows it (no credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMirror {
    /// Whether it discovers and syncs.
    pub is_enabled: bool,
    /// The upstream's kind.
    pub registry_type: RegistryKind,
    /// The upstream registry's URL.
    pub registry_url: String,
    /// The upstream namespace.
    pub external_namespace: String,
    /// Whether upstream credentials are stored.
    pub has_credentials: bool,
    /// The robot that writes the repositories.
    pub robot_username: String,
    /// Visibility of created repositories.
    pub visibility: Visibility,
    /// Seconds between discoveries.
    pub sync_interval_s: i64,
    /// When the next discovery is due (ms).
    pub sync_start_ms: Option<i64>,
    /// When the running discovery's claim lapses (ms).
    pub sync_expiration_ms: Option<i64>,
    /// Failed discoveries left.
    pub sync_retries_remaining: i64,
    /// Status of the discovery.
    pub sync_status: SyncStatus,
    /// Repository globs (empty: all).
    pub repository_filters: Vec<String>,
    /// How the upstream is reached.
    pub connection: RegistryConnection,
    /// Bound on one upstream operation, seconds.
    pub timeout_s: i64,
    /// Architectures kept from indexes.
    pub architecture_filter: Option<Vec<String>>,
    /// When the last discovery ended (ms).
    pub last_sync_ms: Option<i64>,
    /// Why the last discovery failed.
    pub last_error: Option<String>,
}

impl OrgMirror {
    pub(super) fn from_row(row: &OrgMirrorRow) -> OrgMirror {
        OrgMirror {
            is_enabled: row.is_enabled,
            registry_type: RegistryKind::parse(&row.registry_type).unwrap_or(RegistryKind::Quay),
            registry_url: row.registry_url.clone(),
            external_namespace: row.external_namespace.clone(),
            has_credentials: row.username_sealed.is_some() || row.password_sealed.is_some(),
            robot_username: row.robot_name.clone(),
            visibility: Visibility::parse(&row.visibility).unwrap_or(Visibility::Private),
            sync_interval_s: row.sync_interval_s,
            sync_start_ms: row.sync_start_ms,
            sync_expiration_ms: row.sync_expiration_ms,
            sync_retries_remaining: row.sync_retries_remaining,
            sync_status: SyncStatus::stored(&row.sync_status),
            repository_filters: serde_json::from_str(&row.repository_filters).unwrap_or_default(),
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

/// The status of one discovered repository (Quay's names, with `SKIP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRepositoryStatus {
    /// Its mirror's status.
    Sync(SyncStatus),
    /// Not mirrored (filtered out, or a local repository has its name).
    Skip,
}

impl OrgRepositoryStatus {
    /// Quay's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRepositoryStatus::Sync(s) => s.as_str(),
            OrgRepositoryStatus::Skip => "SKIP",
        }
    }
}

/// A repository an organization mirror discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMirrorRepository {
    /// Its name within the namespace (upstream and local).
    pub name: String,
    /// Its status.
    pub status: OrgRepositoryStatus,
    /// Why it is skipped.
    pub skip_reason: Option<String>,
    /// When the discovery last saw it (ms).
    pub discovered_ms: i64,
    /// When its last sync ended (ms).
    pub last_sync_ms: Option<i64>,
    /// Why its last sync failed.
    pub last_error: Option<String>,
}
