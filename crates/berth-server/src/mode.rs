//! The registry's write modes at the HTTP edge: with `REGISTRY_STATE:
//! readonly` every write is refused (pulls, reads and logins work), with
//! `DISABLE_PUSHES: true` only pushes are. One check for `/v2` (called by
//! its dispatch before anything else) and one for `/api/v1` (a middleware
//! on its router), so no handler decides this by itself. Each error
//! module turns a [`Refusal`] into its protocol's answer.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use berth_core::registry::WriteMode;

use crate::AppState;
use crate::distribution::route::Route;

/// Quay's message for a write in read-only mode.
pub(crate) const READ_ONLY_MESSAGE: &str =
    "System is currently read-only. Pulls will succeed but all write operations are currently suspended.";
/// Quay's message for a push while pushes are disabled.
pub(crate) const PUSHES_DISABLED_MESSAGE: &str =
    "Pushes to the registry are currently disabled. Please contact the administrator for more information.";

/// Why the mode refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The registry is read-only.
    ReadOnly,
    /// Pushes are disabled.
    PushesDisabled,
}

/// Whether `method` changes anything.
fn writes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a `/v2` request is part of a push: an upload or a manifest put.
fn pushes(route: &Route<'_>, method: &Method) -> bool {
    match route {
        Route::UploadStart(_) | Route::Upload(_, _) => writes(method),
        Route::Manifest(_, _) => *method == Method::PUT,
        _ => false,
    }
}

/// The mode's verdict on a `/v2` request.
pub(crate) fn check_v2(mode: WriteMode, route: &Route<'_>, method: &Method) -> Result<(), Refusal> {
    match mode {
        WriteMode::ReadOnly if writes(method) => Err(Refusal::ReadOnly),
        WriteMode::PushesDisabled if pushes(route, method) => Err(Refusal::PushesDisabled),
        _ => Ok(()),
    }
}

/// The mode's verdict on an `/api/v1` request: in read-only mode only
/// reads pass. Pushes do not go through this API, so disabling them
/// changes nothing here.
pub(crate) fn check_api(mode: WriteMode, method: &Method) -> Result<(), Refusal> {
    match mode {
        WriteMode::ReadOnly if writes(method) => Err(Refusal::ReadOnly),
        _ => Ok(()),
    }
}

/// Middleware of the `/api/v1` router applying [`check_api`].
pub(crate) async fn api_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check_api(state.registry.config().write_mode, request.method()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => crate::api::refusal(refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_refuse_what_they_should() {
        let upload = Route::UploadStart("a/b");
        let manifest = Route::Manifest("a/b", "v1");
        let blob = Route::Blob("a/b", "sha256:x");
        for method in [Method::GET, Method::HEAD] {
            for route in [&upload, &manifest, &blob] {
                assert_eq!(check_v2(WriteMode::ReadOnly, route, &method), Ok(()));
            }
            assert_eq!(check_api(WriteMode::ReadOnly, &method), Ok(()));
        }
        for (route, method) in [
            (&upload, Method::POST),
            (&manifest, Method::PUT),
            (&manifest, Method::DELETE),
            (&blob, Method::DELETE),
        ] {
            assert_eq!(
                check_v2(WriteMode::ReadOnly, route, &method),
                Err(Refusal::ReadOnly)
            );
            assert_eq!(check_v2(WriteMode::Normal, route, &method), Ok(()));
        }
        assert_eq!(
            check_v2(WriteMode::PushesDisabled, &upload, &Method::POST),
            Err(Refusal::PushesDisabled)
        );
        assert_eq!(
            check_v2(
                WriteMode::PushesDisabled,
                &Route::Upload("a/b", "u"),
                &Method::PATCH
            ),
            Err(Refusal::PushesDisabled)
        );
        assert_eq!(
            check_v2(WriteMode::PushesDisabled, &manifest, &Method::PUT),
            Err(Refusal::PushesDisabled)
        );
        assert_eq!(
            check_v2(WriteMode::PushesDisabled, &manifest, &Method::DELETE),
            Ok(())
        );
        assert_eq!(
            check_v2(WriteMode::PushesDisabled, &blob, &Method::DELETE),
            Ok(())
        );
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            assert_eq!(check_api(WriteMode::ReadOnly, &method), Err(Refusal::ReadOnly));
            assert_eq!(check_api(WriteMode::PushesDisabled, &method), Ok(()));
        }
    }
}
