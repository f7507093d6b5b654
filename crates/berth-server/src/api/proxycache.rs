//! Proxy-cache configurations of organizations, as Quay's API shapes them:
//! `/organization/{orgname}/proxycache` and `.../validateproxycache`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::proxy::ProxyCacheInput;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody};
use super::organizations::organization_path;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_proxy_cache, create_proxy_cache, delete_proxy_cache))
        .routes(routes!(validate_proxy_cache))
}

/// A proxy-cache configuration (Quay's `ProxyCacheConfig`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ProxyCacheConfig {
    /// The organization (optional; if given, the one in the path).
    org_name: Option<String>,
    /// `host[:port][/namespace]`, such as `quay.io/library` or
    /// `127.0.0.1:5001/upstream`: local `org/app` is upstream
    /// `library/app` or `upstream/app`.
    upstream_registry: String,
    /// Seconds a cached tag is served before it is revalidated upstream
    /// (default 86400, at least 1).
    expiration_s: Option<i64>,
    /// Accept any TLS certificate, and plain HTTP (default false).
    insecure: Option<bool>,
    /// Upstream user name; stored encrypted, never returned.
    upstream_registry_username: Option<String>,
    /// Upstream password; stored encrypted, never returned.
    upstream_registry_password: Option<String>,
}

impl ProxyCacheConfig {
    fn input(self, orgname: &str) -> Result<ProxyCacheInput, ApiError> {
        if let Some(named) = &self.org_name
            && named != orgname
        {
            return Err(ApiError::invalid(format!(
                "org_name {named} is not the organization of the path, {orgname}"
            )));
        }
        Ok(ProxyCacheInput {
            upstream_registry: self.upstream_registry,
            expiration_s: self.expiration_s,
            insecure: self.insecure.unwrap_or(false),
            username: self.upstream_registry_username,
            password: self.upstream_registry_password,
        })
    }
}

/// An organization's proxy-cache configuration as shown: never its
/// credentials; an empty `upstream_registry` when it has none.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ProxyCacheView {
    /// `host[:port][/namespace]`, empty when not a proxy cache.
    upstream_registry: String,
    /// Seconds before revalidation.
    expiration_s: Option<i64>,
    /// Whether the upstream may be insecure.
    insecure: Option<bool>,
}

/// Quay's one-word answer to a change: `Created`, `Deleted` or `Valid`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
pub(super) struct Outcome(
    /// The word.
    String,
);

fn outcome(status: StatusCode, word: &str) -> (StatusCode, Json<Outcome>) {
    (status, Json(Outcome(word.to_owned())))
}

/// The proxy-cache configuration of an organization (its members may read
/// it).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/proxycache",
    operation_id = "getProxyCacheConfig",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "The configuration", body = ProxyCacheView), (status = 403, description = "Not a member of the organization"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_proxy_cache(api: Api, Path(orgname): Path<String>) -> Result<Json<ProxyCacheView>, ApiError> {
    let ns = organization_path(&orgname)?;
    let view = api.registry.proxy_cache(&api.caller, &ns).await?;
    Ok(Json(match view {
        Some(v) => ProxyCacheView {
            upstream_registry: v.upstream_registry,
            expiration_s: Some(v.expiration_s),
            insecure: Some(v.insecure),
        },
        None => ProxyCacheView {
            upstream_registry: String::new(),
            expiration_s: None,
            insecure: None,
        },
    }))
}

/// Make an organization a proxy cache of an upstream registry (its
/// administrators may): pulls of what it lacks are served from the
/// upstream and kept; pushes into it are refused.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/proxycache",
    operation_id = "createProxyCacheConfig",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = ProxyCacheConfig,
    responses((status = 201, description = "Created", body = Outcome), (status = 400, description = "Invalid or refused upstream, or already configured"), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_proxy_cache(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<ProxyCacheConfig>,
) -> Result<(StatusCode, Json<Outcome>), ApiError> {
    let ns = organization_path(&orgname)?;
    let input = body.input(&orgname)?;
    api.registry.create_proxy_cache(&api.caller, &ns, &input).await?;
    Ok(outcome(StatusCode::CREATED, "Created"))
}

/// Stop an organization being a proxy cache (its administrators may); what
/// it cached stays.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/proxycache",
    operation_id = "deleteProxyCacheConfig",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 201, description = "Deleted", body = Outcome), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization, or no configuration")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_proxy_cache(
    api: Api,
    Path(orgname): Path<String>,
) -> Result<(StatusCode, Json<Outcome>), ApiError> {
    let ns = organization_path(&orgname)?;
    api.registry.delete_proxy_cache(&api.caller, &ns).await?;
    Ok(outcome(StatusCode::CREATED, "Deleted"))
}

/// Check that an upstream answers and accepts the credentials, without
/// storing anything (the organization's administrators may).
#[utoipa::path(
    post,
    path = "/organization/{orgname}/validateproxycache",
    operation_id = "validateProxyCacheConfig",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = ProxyCacheConfig,
    responses((status = 202, description = "Valid", body = Outcome), (status = 400, description = "The upstream cannot be used: the message says why"), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn validate_proxy_cache(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<ProxyCacheConfig>,
) -> Result<(StatusCode, Json<Outcome>), ApiError> {
    let ns = organization_path(&orgname)?;
    let input = body.input(&orgname)?;
    api.registry
        .validate_proxy_cache(&api.caller, &ns, &input)
        .await?;
    Ok(outcome(StatusCode::ACCEPTED, "Valid"))
}
