//! Berth's HTTP front end: the `/v2` distribution API, request admission
//! (concurrency limit, write policy) and serving with graceful shutdown.
//! No SQL and no blob files here: everything goes through `berth-core`.

mod access;
pub mod distribution;
mod limit;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use berth_core::Registry;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use access::AccessPolicy;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Requests handled at once; more get 429 TOOMANYREQUESTS.
    pub max_concurrent_requests: usize,
    /// Who may write.
    pub access: AccessPolicy,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_concurrent_requests: 1024,
            access: AccessPolicy::LoopbackWrites,
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    registry: Registry,
    access: AccessPolicy,
}

/// The complete router.
pub fn router(registry: Registry, config: &ServerConfig) -> Router {
    let state = AppState {
        registry,
        access: config.access,
    };
    let limiter = limit::Limiter::new(config.max_concurrent_requests);
    Router::new()
        .route("/v2", any(distribution::base))
        .route("/v2/", any(distribution::base))
        .route("/v2/{*path}", any(distribution::endpoint))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(limiter),
            limit::admit,
        ))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Serve `router` on `listener` until `shutdown` resolves, then finish the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
