//! Metadata queries, one module per concept. Each is an `impl Db` block whose
//! SQL runs unchanged on SQLite and PostgreSQL.

mod accounts;
mod audit;
mod autoprune;
mod blobs;
mod expiry_notices;
mod gc;
mod gc_blobs;
mod gc_preview;
mod health;
mod holds;
mod immutability;
mod inbox;
mod logins;
mod manifests;
mod mirrors;
pub(crate) mod notifications;
mod org_mirrors;
mod permissions;
mod proxy_cache;
mod pull_stats;
mod quotas;
mod repositories;
mod robots;
mod scan;
mod signing_keys;
mod snapshot;
mod status;
mod sync_claims;
mod tags;
mod teams;
mod tokens;
mod uploads;
mod vuln_bundle;
mod vuln_index;
mod vuln_reports;
mod vulns;
mod web_sessions;

pub use accounts::{AccountChange, AccountRow, NewAccount};
pub use audit::{AuditQuery, AuditRow, NewAuditEntry};
pub use autoprune::{PrunableTag, PrunePolicyFields, PrunePolicyRow, StatedRepository};
pub use blobs::{BlobRow, CommitBlob};
pub use expiry_notices::ExpiringTagRow;
pub use gc::{DeletionClaim, ManifestNode, RepositoryCollected, RepositorySweep};
pub use gc_preview::CollectionPreview;
pub use immutability::{PolicyCheck, PolicyOwner, PolicyRow, PolicyWrite, ScopedTag};
pub use inbox::UserNotificationRow;
pub use manifests::{DeleteManifest, ManifestRow, NewManifest, PutManifest, ReferrerRow};
pub use mirrors::{MirrorFields, MirrorRow};
pub use notifications::{
    Attempt, DISABLED_AFTER_FAILURES, DeliveryJob, DeliveryLogRow, EventScope, FailureOutcome, NewEvent,
    NewNotification, NotificationRow,
};
pub use org_mirrors::{OrgMirrorFields, OrgMirrorRepositoryRow, OrgMirrorRow};
pub use permissions::{AccessFacts, PermissionRow, RepositoryRow};
pub use proxy_cache::{NewProxyConfig, ProxyConfigRow};
pub use pull_stats::{IdleTag, ManifestPulls, TagPullRow, TagPulls};
pub use quotas::{QuotaLimitRow, QuotaRow};
pub use scan::ScanJob;
pub use signing_keys::SigningKeyRow;
pub use snapshot::{ContentCounts, SQLITE_FILE, Snapshot, SnapshotBlob, copy_sqlite_online};
pub use status::GcPassRow;
pub use sync_claims::MirrorOutcome;
pub use tags::{EndTag, ExpiredTag, LiveTag, LiveTagRow, Retarget, TagHistoryQuery, TagNamesPage, TagRow};
pub use teams::{KeepUser, MemberRemoval, MemberRow, TeamRow};
pub use tokens::{NewToken, OAuthAppFields, OAuthAppRow, TokenRow};
pub use uploads::{Claim, Lease, UploadRow};
pub use vuln_bundle::{ExportedAdvisory, ExportedFeed};
pub use vuln_index::{Placement, StoredSummary};
pub use vuln_reports::{KeyRow, KeyedReport, ReportRows, ReportWrite};
pub use vulns::{AdvisoryRow, AdvisoryWrite, FeedRow, SourceWrite};
