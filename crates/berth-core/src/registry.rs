//! The registry service: what the distribution API does, independent of HTTP.

mod autoprune;
mod blobs;
mod cleanup;
mod error;
mod gc;
mod health;
mod immutability;
mod inspect;
mod labels;
mod listing;
mod manifests;
mod mirror;
mod pulls;
mod quota;
mod repositories;
mod security;
mod sessions;
mod sparse;
mod state;
mod status;
mod tags;
mod uploads;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use crate::RepositoryName;
use berth_store::{BlobStore, Db};

pub use autoprune::{
    AUTOPRUNE_LOG_KIND, AutopruneSettings, ExpiringTag, ExpiryReason, ImageExpiry, PruneMethod, PrunePass,
    PrunePolicy, PruneScope, PruneSpec, PruneValue, PrunedTag,
};
pub use blobs::LinkedBlob;
pub use error::RegistryError;
pub use gc::{BlobUsage, GcConfig, GcReport, StorageReport};
pub use health::{Health, HealthScope, ServiceHealth};
pub use immutability::{
    ImmutabilityPolicy, MAX_TAG_PATTERN_CHARS, PolicyInput, PolicyScope, compile_tag_pattern,
};
pub use inspect::{BlobEntry, HistoryStep, ManifestDetails, PlatformEntry, ReferrerEntry};
pub use labels::parse_expires_after;
pub use listing::{Page, TagPage};
pub use manifests::{ManifestContent, PushedManifest};
pub use mirror::{
    ARCHITECTURES, MIN_ORG_SYNC_INTERVAL_S, MIN_TIMEOUT_S, MIRROR_POLL, Mirror, MirrorInput, MirrorProxy,
    ORG_TIMEOUT_S, OrgMirror, OrgMirrorInput, OrgMirrorRepository, OrgRepositoryStatus, RegistryConnection,
    SyncStatus,
};
pub use pulls::{FLUSH_INTERVAL, IdleTag, ManifestPullStatistics, TagPullCount, TagPullStatistics};
pub use quota::{
    LimitKind, Quota, QuotaError, QuotaLimit, QuotaOwner, QuotaSettings, QuotaStatus, QuotaWarning,
    format_size, parse_size,
};
pub use repositories::{
    ClientError, LiveTag, RepositoryDetails, RepositoryPage, RepositorySummary, VIEW_TAGS,
};
pub use security::{AffectedManifest, AffectedManifests, SecurityReport, SecurityStatus, SecuritySummary};
pub use sparse::{Capabilities, ChildRule, SparseIndexSettings};
pub use state::{MirrorWriter, RepositoryState, WriteDecision, decide_write};
pub use status::{GcPassRow, RegistryStatus};
pub use tags::{TagChange, TagFilter, TagHistory, TagQuery, TagRecord};
pub use uploads::{BlobRange, UploadStatus};

/// Limits and switches of the registry service.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Largest manifest accepted, in bytes.
    pub manifest_size_limit: usize,
    /// How long a request's claim on an upload session lasts unless renewed:
    /// how long an instance that dies mid-chunk blocks that session.
    pub upload_lease: Duration,
    /// Inactivity after which an upload session is abandoned and removed.
    pub upload_expiration: Duration,
    /// Answer blob `GET`s with a redirect to a presigned URL valid this
    /// long, where the blob store can sign one.
    pub blob_redirect: Option<Duration>,
    /// Queue every pushed image manifest for indexing (an [`crate::Indexer`]
    /// must run to work the queue off).
    pub index_images: bool,
    /// Which writes are accepted (`REGISTRY_STATE`, `DISABLE_PUSHES`).
    pub write_mode: WriteMode,
    /// The time-machine window of namespaces that chose none
    /// (`DEFAULT_TAG_EXPIRATION`).
    pub default_tag_expiration: Duration,
    /// Bounds of an expiration set through the API, measured from the
    /// tag's start (`LABELED_EXPIRATION_MINIMUM`, `_MAXIMUM`).
    pub tag_expiration_bounds: (Duration, Duration),
    /// Namespace quotas: whether they are managed and enforced, and the
    /// default reject limit.
    pub quota: QuotaSettings,
    /// Garbage collection: time-machine default, push grace, worker.
    pub gc: GcConfig,
    /// Count pulls per tag and manifest (`FEATURE_IMAGE_PULL_STATS`).
    pub pull_stats: bool,
    /// Auto-prune: the registry-wide default policy, the poll period.
    pub autoprune: AutopruneSettings,
    /// Event notifications: delivery, methods, outbound guard.
    pub notifications: crate::NotifyConfig,
    /// Sparse indexes (`FEATURE_SPARSE_INDEX`).
    pub sparse_index: SparseIndexSettings,
}

/// Which writes the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// All of them.
    #[default]
    Normal,
    /// Everything but pushes (`DISABLE_PUSHES: true`): deletes and API
    /// changes still work.
    PushesDisabled,
    /// None (`REGISTRY_STATE: readonly`): pulls and reads work; background
    /// workers that change content pause.
    ReadOnly,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            manifest_size_limit: 4 * 1024 * 1024,
            upload_lease: Duration::from_secs(30),
            upload_expiration: Duration::from_secs(24 * 3600),
            blob_redirect: None,
            index_images: false,
            write_mode: WriteMode::Normal,
            default_tag_expiration: Duration::from_secs(14 * 86_400),
            tag_expiration_bounds: (Duration::from_secs(3600), Duration::from_secs(104 * 7 * 86_400)),
            quota: QuotaSettings::default(),
            gc: GcConfig::default(),
            pull_stats: true,
            autoprune: AutopruneSettings::default(),
            notifications: crate::NotifyConfig::default(),
            sparse_index: SparseIndexSettings::default(),
        }
    }
}

/// The registry: metadata and blob bytes. It keeps no shared state in
/// memory; the database coordinates every instance.
#[derive(Clone)]
pub struct Registry {
    db: Db,
    /// Identity and access: the policy every client operation asks and the
    /// usage log every client operation writes.
    pub(crate) identity: crate::Identity,
    blobs: Arc<dyn BlobStore>,
    config: RegistryConfig,
    /// Wakes the indexer when a manifest is queued.
    pub(crate) scan_wakeup: Arc<tokio::sync::Notify>,
    /// Wakes the notification workers when an event is queued.
    pub(crate) notify_wakeup: Arc<tokio::sync::Notify>,
    /// Wakes this instance's mirror worker when a sync is asked for.
    pub(crate) mirror_wakeup: Arc<tokio::sync::Notify>,
    /// Pull statistics, when kept.
    pulls: Option<Arc<pulls::PullRecorder>>,
    /// The proxy cache's fetches in flight and upstream clients.
    proxy: Arc<crate::proxy::ProxyState>,
}

impl Registry {
    /// Assemble the service from its stores and the identity service that
    /// authorizes and logs its callers. With pull statistics on, inside a
    /// Tokio runtime, this starts the task that writes them.
    pub fn new(
        db: Db,
        blobs: Arc<dyn BlobStore>,
        config: RegistryConfig,
        identity: crate::Identity,
    ) -> Registry {
        Registry {
            pulls: config.pull_stats.then(|| pulls::PullRecorder::start(db.clone())),
            db,
            identity,
            blobs,
            config,
            scan_wakeup: Arc::new(tokio::sync::Notify::new()),
            notify_wakeup: Arc::new(tokio::sync::Notify::new()),
            mirror_wakeup: Arc::new(tokio::sync::Notify::new()),
            proxy: Arc::default(),
        }
    }

    /// The proxy cache's in-memory state.
    pub(crate) fn proxy_state(&self) -> &crate::proxy::ProxyState {
        &self.proxy
    }

    /// The identity service this registry authorizes and logs through.
    pub fn identity(&self) -> &crate::Identity {
        &self.identity
    }

    /// The service's limits.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The metadata database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Whether the registry is read-only (`REGISTRY_STATE: readonly`):
    /// background work that changes content (tag expiry, garbage
    /// collection) must not run.
    pub fn read_only(&self) -> bool {
        self.config.write_mode == WriteMode::ReadOnly
    }

    /// Existing repository id, or `None`.
    async fn existing_repo(&self, name: &RepositoryName) -> Result<Option<i64>, RegistryError> {
        Ok(self.db.repository_id(name.as_str()).await?)
    }

    /// The namespace's account once the caller administers it (its
    /// administrators, superusers with full access); robots are no
    /// namespace.
    async fn administered_namespace(
        &self,
        caller: &crate::Caller,
        ns: &crate::names::Namespace,
    ) -> Result<Option<berth_store::metadata::AccountRow>, ClientError> {
        self.identity
            .authorize(
                &caller.principal,
                crate::identity::Action::AdministerNamespace(ns.as_str()),
            )
            .await?;
        Ok(self
            .db
            .account_by_name(ns.as_str())
            .await?
            .filter(|a| a.kind != "robot"))
    }

    /// The repository's id once the caller administers it; not found when
    /// it does not exist.
    async fn administered_repo(
        &self,
        caller: &crate::Caller,
        repo: &RepositoryName,
    ) -> Result<i64, ClientError> {
        self.identity
            .authorize(
                &caller.principal,
                crate::identity::Action::Administer(repo.as_str()),
            )
            .await?;
        self.existing_repo(repo)
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("repository {repo} not found")))
    }

    /// Repository id, creating the repository (first push).
    async fn repo_for_push(&self, name: &RepositoryName) -> Result<i64, RegistryError> {
        Ok(self.db.ensure_repository(name.as_str()).await?)
    }
}
