//! Quay's capability probe, `GET /api/v1/registry/capabilities`
//! (anonymous): whether sparse indexes are accepted and which
//! architectures a mirror may be filtered to.

use axum::Json;
use axum::extract::State;
use berth_core::registry::Capabilities;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(capabilities))
}

/// Sparse indexes (`FEATURE_SPARSE_INDEX`).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SparseManifests {
    /// Whether an index may be stored with some child manifests absent.
    supported: bool,
    /// Architectures a pushed index must include.
    required_architectures: Vec<String>,
    /// Whether a pushed index may leave other architectures out.
    optional_architectures_allowed: bool,
}

/// What the registry supports.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CapabilitiesView {
    /// Sparse indexes.
    sparse_manifests: SparseManifests,
    /// Architectures a mirror's `architecture_filter` may name.
    mirror_architectures: Vec<String>,
}

impl From<Capabilities> for CapabilitiesView {
    fn from(c: Capabilities) -> Self {
        CapabilitiesView {
            sparse_manifests: SparseManifests {
                supported: c.sparse_supported,
                required_architectures: c.required_architectures,
                optional_architectures_allowed: c.optional_architectures_allowed,
            },
            mirror_architectures: c.mirror_architectures,
        }
    }
}

/// What the registry supports; anyone may ask.
#[utoipa::path(
    get,
    path = "/registry/capabilities",
    operation_id = "getRegistryCapabilities",
    tag = "registry",
    responses((status = 200, description = "The registry's capabilities", body = CapabilitiesView)),
    security(())
)]
async fn capabilities(State(state): State<AppState>) -> Json<CapabilitiesView> {
    Json(state.registry.capabilities().into())
}
