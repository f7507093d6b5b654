//! `/health/instance` (also `/health`) and `/health/endtoend` (also
//! `/status`) in Quay's shape: `{"data": {"services": {name: bool}},
//! "status_code": 200}`, answered with 503 when any service fails. No
//! credentials are needed; failures are logged, not shown.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_core::registry::{Health, HealthScope};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::AppState;

/// Quay's health answer.
#[derive(Debug, Serialize)]
struct HealthView {
    /// The services and whether each works.
    data: HealthData,
    /// The HTTP status, repeated.
    status_code: u16,
}

/// Quay's `data` object.
#[derive(Debug, Serialize)]
struct HealthData {
    /// Service name to whether it works.
    services: BTreeMap<&'static str, bool>,
}

fn answer(health: Health) -> Response {
    let status = if health.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let view = HealthView {
        data: HealthData {
            services: health.services.iter().map(|s| (s.name, s.ok())).collect(),
        },
        status_code: status.as_u16(),
    };
    (status, Json(view)).into_response()
}

/// This instance's services.
pub(crate) async fn instance(State(state): State<AppState>) -> Response {
    answer(state.registry.health(HealthScope::Instance).await)
}

/// The registry end to end: shared database and blob storage.
pub(crate) async fn endtoend(State(state): State<AppState>) -> Response {
    answer(state.registry.health(HealthScope::EndToEnd).await)
}
