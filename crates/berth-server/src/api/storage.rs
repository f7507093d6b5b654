//! The storage report for superusers: `GET /api/v1/superuser/storage`.
//! Blob storage as physical, referenced and reclaimable, and what a
//! garbage collection pass started now would remove (as `berth gc
//! --dry-run` prints it). Reading it removes nothing.

use axum::Json;
use berth_core::registry::{BlobUsage, StorageReport};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::Api;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(storage_report))
}

/// Blobs and their total size.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BlobUsageView {
    /// Blobs (each one object in blob storage).
    blobs: u64,
    /// Their total size in bytes.
    bytes: u64,
}

impl From<BlobUsage> for BlobUsageView {
    fn from(u: BlobUsage) -> Self {
        BlobUsageView {
            blobs: u.blobs,
            bytes: u.bytes,
        }
    }
}

/// Blob storage, and what a garbage collection pass would remove now.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StorageReportView {
    /// Every blob stored, each counted once however many repositories
    /// link it.
    physical: BlobUsageView,
    /// What a pass keeps.
    referenced: BlobUsageView,
    /// What a pass would delete now.
    reclaimable: BlobUsageView,
    /// Objects already queued for deletion (their blobs are gone).
    queued_object_deletions: u64,
    /// Tag rows past their namespace's time-machine window.
    collectable_tag_rows: u64,
    /// Manifests nothing keeps.
    collectable_manifests: u64,
    /// Links of blobs to repositories no kept manifest uses.
    collectable_blob_links: u64,
}

impl From<StorageReport> for StorageReportView {
    fn from(r: StorageReport) -> Self {
        StorageReportView {
            physical: r.physical.into(),
            referenced: r.referenced.into(),
            reclaimable: r.reclaimable.into(),
            queued_object_deletions: r.queued_objects,
            collectable_tag_rows: r.tag_rows,
            collectable_manifests: r.manifests,
            collectable_blob_links: r.blob_links,
        }
    }
}

/// The storage report: physical, referenced and reclaimable blob storage.
#[utoipa::path(
    get,
    path = "/superuser/storage",
    operation_id = "getStorageReport",
    tag = "superuser",
    responses((status = 200, description = "The storage report", body = StorageReportView), (status = 403, description = "Not a superuser")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn storage_report(api: Api) -> Result<Json<StorageReportView>, ApiError> {
    Ok(Json(api.registry.storage_report(&api.caller).await?.into()))
}
