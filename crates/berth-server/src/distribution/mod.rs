//! The OCI Distribution API (`/v2`): request dispatch and the handlers of
//! each endpoint. Handlers translate HTTP to calls on [`berth_core::Registry`]
//! and back; they hold no registry logic of their own.

mod blobs;
mod error;
mod listing;
mod manifests;
pub(crate) mod route;
mod uploads;

use berth_core::RepositoryName;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use berth_core::ByteStream;
use berth_core::identity::Principal;
use berth_core::{Identity, Registry};
use futures_util::{StreamExt, TryStreamExt};

pub use error::ApiError;
use route::Route;

use crate::AppState;
use crate::access::{Need, admit, refusal};
use crate::auth::{Realm, registry_caller};

/// What every handler gets: the services, who is calling, and the
/// request's parts.
pub(crate) struct Ctx {
    registry: Registry,
    identity: Identity,
    principal: Principal,
    ip: std::net::IpAddr,
    headers: HeaderMap,
    query: Vec<(String, String)>,
}

impl Ctx {
    /// First value of a query parameter.
    fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A request header as text.
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The caller, as core operations take it.
    fn caller(&self) -> berth_core::Caller {
        berth_core::Caller::new(self.principal.clone(), Some(self.ip))
    }

    /// `Content-Length`, if present and numeric.
    fn content_length(&self) -> Option<u64> {
        self.header(header::CONTENT_LENGTH)
            .and_then(|v| v.trim().parse().ok())
    }
}

/// The request body as a byte stream.
fn body_stream(body: Body) -> ByteStream<'static> {
    body.into_data_stream().map_err(std::io::Error::other).boxed()
}

/// `Range` header value for an upload holding `offset` bytes.
pub(crate) fn upload_range(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

/// Set a header from text, skipping values that are not valid header text
/// (every value we set is ASCII we produced, so this never drops one).
pub(crate) fn set_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

/// `/v2/` itself.
pub(crate) async fn base(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, peer, method, uri, headers, String::new(), body).await
}

/// Everything below `/v2/`.
pub(crate) async fn endpoint(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    match path {
        Ok(Path(path)) => handle(state, peer, method, uri, headers, path, body).await,
        // Percent-escapes that do not decode to UTF-8 cannot name anything.
        Err(e) => ApiError::Registry(berth_core::RegistryError::NameInvalid(e.body_text())).into_response(),
    }
}

async fn handle(
    state: AppState,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    path: String,
    body: Body,
) -> Response {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let realm = state.realm(&headers, &uri);
    let dispatched = match proxied_path(&state, &query, path).await {
        Ok(path) => dispatch(&state, peer, &method, &path, headers, query, &realm, body).await,
        Err(e) => Err(e),
    };
    let mut response = match dispatched {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    response.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

/// The answer to `GET /v2/`, with Quay's sparse-index headers.
fn base_answer(registry: &Registry) -> Response {
    let caps = registry.capabilities();
    let mut response = axum::Json(serde_json::json!({})).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "X-Sparse-Manifest-Support",
        HeaderValue::from_static(if caps.sparse_supported { "true" } else { "false" }),
    );
    if let Ok(archs) = HeaderValue::from_str(&caps.required_architectures.join(","))
        && !caps.required_architectures.is_empty()
    {
        headers.insert("X-Required-Architectures", archs);
    }
    response
}

/// The path a request names, under the proxy-cache organization of its
/// `?ns=` upstream host (containerd's mirror parameter) when one proxies
/// that host: one endpoint mirrors every upstream.
async fn proxied_path(
    state: &AppState,
    query: &[(String, String)],
    path: String,
) -> Result<String, ApiError> {
    let Some((_, host)) = query.iter().find(|(k, _)| k == "ns") else {
        return Ok(path);
    };
    if path.is_empty() || path == "_catalog" {
        return Ok(path);
    }
    match state.registry.proxy_namespace_for_host(host).await? {
        Some(ns) => Ok(format!("{ns}/{path}")),
        None => Ok(path),
    }
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    state: &AppState,
    peer: SocketAddr,
    method: &Method,
    path: &str,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    realm: &Realm,
    body: Body,
) -> Result<Response, ApiError> {
    let route = Route::parse(path).ok_or_else(|| ApiError::NoEndpoint(format!("no endpoint /v2/{path}")))?;
    crate::mode::check_v2(state.registry.config().write_mode, &route, method)?;
    let need = Need::of(&route, method);
    // The repository name is validated once, here, before any access
    // check (a malformed one is reported as such); everything behind
    // takes the typed name.
    let repo = match need {
        Need::Pull(name) | Need::Push(name) => Some(
            RepositoryName::new(name)
                .map_err(|e| ApiError::Registry(berth_core::RegistryError::NameInvalid(e.to_string())))?,
        ),
        Need::Login | Need::Listing => None,
    };
    let ip = peer.ip();
    let caller = registry_caller(&state.identity, &headers, &realm.service, ip)
        .await
        .map_err(|e| refusal(e, realm, None))?;
    let principal = admit(&state.identity, caller, need, method, realm, ip).await?;
    // The repository's state (read-only, mirror) refuses writes whatever
    // the permissions say.
    if let (Need::Push(_), Some(repo)) = (need, &repo) {
        state.registry.check_writable(&principal, repo).await?;
    }
    if let (Route::UploadStart(name), _) | (Route::Manifest(name, _), &Method::PUT) = (&route, method) {
        state
            .identity
            .ensure_repository_for_push(&principal, name, Some(ip))
            .await
            .map_err(ApiError::Identity)?;
    }
    let ctx = &Ctx {
        registry: state.registry.clone(),
        identity: state.identity.clone(),
        principal,
        ip,
        headers,
        query,
    };
    let head = *method == Method::HEAD;
    let named = || {
        repo.as_ref()
            .ok_or_else(|| ApiError::NoEndpoint(format!("no endpoint /v2/{path}")))
    };
    match (route, method.clone()) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(base_answer(&state.registry)),
        (Route::Catalog, Method::GET) => listing::catalog(ctx).await,
        (Route::Tags(_), Method::GET) => listing::tags(ctx, named()?).await,
        (Route::Referrers(_, digest), Method::GET) => listing::referrers(ctx, named()?, digest).await,
        (Route::Manifest(_, reference), Method::GET | Method::HEAD) => {
            manifests::get(ctx, named()?, reference, head).await
        }
        (Route::Manifest(_, reference), Method::PUT) => manifests::put(ctx, named()?, reference, body).await,
        (Route::Manifest(_, reference), Method::DELETE) => manifests::delete(ctx, named()?, reference).await,
        (Route::Blob(_, digest), Method::GET | Method::HEAD) => blobs::get(ctx, named()?, digest, head).await,
        (Route::Blob(_, digest), Method::DELETE) => blobs::delete(ctx, named()?, digest).await,
        (Route::UploadStart(_), Method::POST) => uploads::start(ctx, named()?, body).await,
        (Route::Upload(_, id), Method::PATCH) => uploads::patch(ctx, named()?, id, body).await,
        (Route::Upload(_, id), Method::PUT) => uploads::finish(ctx, named()?, id, body).await,
        (Route::Upload(_, id), Method::GET) => uploads::status(ctx, named()?, id).await,
        (Route::Upload(_, id), Method::DELETE) => uploads::cancel(ctx, named()?, id).await,
        (_, m) => Err(ApiError::Unsupported(format!(
            "{m} is not supported on /v2/{path}"
        ))),
    }
}
