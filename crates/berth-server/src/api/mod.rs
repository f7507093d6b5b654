//! The REST API under `/api/v1`, shaped like Quay's: same paths, verbs and
//! JSON field names where they mean the same thing. Every handler is
//! annotated for OpenAPI, and `GET /api/v1/discovery` serves the document
//! generated from those annotations.
//!
//! Handlers only translate: path, query and body into typed values, the
//! core operation's domain result into a typed view. The core operation
//! authorizes the caller and writes the usage log; no handler decides
//! access by itself.

mod applications;
mod apptokens;
mod autoprune;
mod capabilities;
pub(crate) mod error;
mod extract;
mod immutability;
mod logs;
mod mirror;
mod notifications;
mod org_mirror;
mod organizations;
mod permissions;
mod proxycache;
mod pull_statistics;
mod quotas;
mod repositories;
mod robots;
mod security;
mod storage;
mod superuser;
mod tags;
mod teams;
mod users;
mod vulnerabilities;

use std::sync::LazyLock;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Berth", description = "Berth's REST API, shaped like Quay's /api/v1."),
    servers((url = "/api/v1")),
    modifiers(&Security),
    components(schemas(error::ApiErrorBody)),
)]
struct ApiDoc;

/// Documents Quay's error body on every operation, for every status an
/// operation can fail with (access, throttling and input checks apply to
/// all of them), unless the operation documents that status itself.
struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                for (status, why) in error::ERROR_STATUSES {
                    let content = ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                        .build();
                    let response = ResponseBuilder::new()
                        .description(why)
                        .content("application/json", content)
                        .build();
                    let entry = op.responses.responses.entry(status.to_string());
                    match entry {
                        std::collections::btree_map::Entry::Vacant(v) => {
                            v.insert(response.into());
                        }
                        // A status the operation documents in prose gets the
                        // body's schema too.
                        std::collections::btree_map::Entry::Occupied(mut o) => {
                            if let utoipa::openapi::RefOr::T(r) = o.get_mut()
                                && r.content.is_empty()
                                && status >= 400
                            {
                                let description = r.description.clone();
                                *r = response;
                                r.description = description;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Declares the two ways to authenticate.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "oauth2_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An OAuth access token of an application"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("A user's password or app token ($app), or a robot's token"))
                    .build(),
            ),
        );
    }
}

/// Every API route, and the OpenAPI document describing them.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(logs::routes())
        .merge(organizations::routes())
        .merge(permissions::routes())
        .merge(proxycache::routes())
        .merge(quotas::routes())
        .merge(repositories::routes())
        .merge(mirror::routes())
        .merge(capabilities::routes())
        .merge(org_mirror::routes())
        .merge(tags::routes())
        .merge(autoprune::routes())
        .merge(immutability::routes())
        .merge(pull_statistics::routes())
        .merge(notifications::routes())
        .merge(security::routes())
        .merge(vulnerabilities::routes())
        .merge(teams::routes())
        .merge(users::routes())
        .merge(robots::routes())
        .merge(apptokens::routes())
        .merge(applications::routes())
        .merge(superuser::routes())
        .merge(storage::routes())
}

/// A refusal by the write mode, as this API answers it.
pub(crate) fn refusal(r: crate::mode::Refusal) -> axum::response::Response {
    error::ApiError::from(r).into_response()
}

/// The API's routes, built once per process (at the first API request, see
/// `lazy_router`). The OpenAPI document built beside them is dropped: its
/// tree takes about 4 MiB.
static ROUTES: LazyLock<Router<AppState>> = LazyLock::new(|| routes().split_for_parts().0);

/// The OpenAPI document `/discovery` serves, as JSON text, built (with the
/// routes again, a few milliseconds) at its first request and kept as text
/// only. After the routes are merged in: modifiers of `ApiDoc` see none.
static DOCUMENT: LazyLock<Result<bytes::Bytes, String>> = LazyLock::new(|| {
    let mut doc = routes().split_for_parts().1;
    utoipa::Modify::modify(&ErrorResponses, &mut doc);
    serde_json::to_vec(&doc)
        .map(bytes::Bytes::from)
        .map_err(|e| format!("writing the OpenAPI document: {e}"))
});

/// `GET /discovery`: the OpenAPI document.
async fn discovery() -> axum::response::Response {
    match &*DOCUMENT {
        Ok(json) => ([(http::header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => error::ApiError::internal(e).into_response(),
    }
}

/// The `/api/v1` router (to be nested there), behind the write-mode gate.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    ROUTES
        .clone()
        .route("/discovery", get(discovery))
        .fallback(|| async { error::ApiError::not_found("no such API endpoint") })
        .layer(axum::middleware::from_fn_with_state(state, crate::mode::api_gate))
}
