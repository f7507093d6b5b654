//! Berth's HTTP front end: the `/v2` distribution API and its token
//! endpoint, the `/api/v1` REST API, the web console at `/`, request
//! admission (concurrency limit, the access gate) and serving (plain
//! HTTP, or HTTPS with HTTP/2 through `tls`) with graceful shutdown. No SQL and no blob files here:
//! everything goes through `berth-core`.

mod access;
mod api;
mod auth;
mod console;
pub mod distribution;
mod health;
mod limit;
pub mod metrics;
mod mode;
mod request_id;
pub mod tls;
mod token;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use axum::routing::get;
use axum::serve::ListenerExt;
use berth_core::{Identity, Registry};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Requests handled at once; more get 429 TOOMANYREQUESTS.
    pub max_concurrent_requests: usize,
    /// The registry's public host name (`SERVER_HOSTNAME`): the token
    /// service name and the host of the token realm. Unset: taken from
    /// each request's `Host`.
    pub server_hostname: Option<String>,
    /// `http` or `https` (`PREFERRED_URL_SCHEME`), for the token realm.
    pub url_scheme: String,
    /// Serve `/metrics` and time every request; none: neither.
    pub metrics: Option<metrics::Metrics>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_concurrent_requests: 1024,
            server_hostname: None,
            url_scheme: "http".into(),
            metrics: None,
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    registry: Registry,
    identity: Identity,
    server_hostname: Option<Arc<str>>,
    url_scheme: Arc<str>,
}

impl AppState {
    /// The token realm and service for a request.
    pub(crate) fn realm(&self, headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> auth::Realm {
        auth::Realm::of(self.server_hostname.as_deref(), &self.url_scheme, headers, uri)
    }

    /// Whether cookies are marked Secure: the registry is reached over
    /// HTTPS (served here, or `PREFERRED_URL_SCHEME: https`).
    pub(crate) fn secure_cookies(&self) -> bool {
        self.url_scheme.as_ref() == "https"
    }
}

/// The complete router.
pub fn router(registry: Registry, identity: Identity, config: &ServerConfig) -> Router {
    let state = AppState {
        registry,
        identity,
        server_hostname: config.server_hostname.as_deref().map(Arc::from),
        url_scheme: Arc::from(config.url_scheme.as_str()),
    };
    let limiter = Arc::new(limit::Limiter::new(config.max_concurrent_requests));
    let scrape = config
        .metrics
        .clone()
        .map(|m| metrics::router(state.registry.clone(), m));
    let router = Router::new()
        .route("/health", get(health::instance))
        .route("/health/instance", get(health::instance))
        .route("/status", get(health::endtoend))
        .route("/health/endtoend", get(health::endtoend))
        .route("/v2/auth", get(token::issue))
        .route("/v2", any(distribution::base))
        .route("/v2/", any(distribution::base))
        .route("/v2/{*path}", any(distribution::endpoint))
        .merge(console::router(state.clone()))
        .with_state(state.clone());
    let router = match scrape {
        Some(scrape) => router.merge(scrape),
        None => router,
    };
    let router = with_route_layers(router, &limiter, config.metrics.as_ref());
    // Added after the route layers, which the API's router has of its own.
    let metrics = config.metrics.clone();
    let api = lazy_router(move || {
        let api = api::router(state.clone()).with_state(state.clone());
        with_route_layers(api, &limiter, metrics.as_ref())
    });
    // Outermost: the id's span holds every other layer's log lines.
    router
        .nest_service("/api/v1", api)
        .layer(axum::middleware::from_fn(request_id::assign))
}

/// `router` with the layers every route has: admission, panics as 500s,
/// tracing and, outside them so 429s and 500s are counted too, metrics.
fn with_route_layers(
    router: Router,
    limiter: &Arc<limit::Limiter>,
    metrics: Option<&metrics::Metrics>,
) -> Router {
    let router = router
        .layer(axum::middleware::from_fn_with_state(
            limiter.clone(),
            limit::admit,
        ))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http());
    match metrics {
        Some(m) => m.track(router),
        None => router,
    }
}

/// A service answering with the router `build` makes at the first request.
/// The REST API's routes come with their OpenAPI description, whose
/// construction runs much code and leaves megabytes on the heap: a
/// registry that serves only `/v2/` never pays for it.
fn lazy_router(
    build: impl Fn() -> Router + Send + Sync + 'static,
) -> impl tower::Service<
    axum::extract::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static {
    let built = Arc::new(std::sync::OnceLock::new());
    let build = Arc::new(build);
    tower::service_fn(move |request: axum::extract::Request| {
        let mut router: Router = built.get_or_init(|| build()).clone();
        tower::Service::call(&mut router, request)
    })
}

/// Serve `router` on `listener` until `shutdown` resolves, then finish the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Without TCP_NODELAY a small answer written after its headers waits
    // for the client's delayed ACK: about 40 ms per small blob GET.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%e, "TCP_NODELAY not set on a connection");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
