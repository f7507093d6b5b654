//! Several instances sharing one PostgreSQL database and one blob storage,
//! and a round-robin HTTP proxy that sends each request to the next
//! instance, as a load balancer without sticky sessions would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use super::storage::TestStorage;
use super::{Server, create_pg_database, pg_base_uri};

/// Instances on different ports sharing PostgreSQL and blob storage.
pub struct Cluster {
    pub servers: Vec<Server>,
    _shared: tempfile::TempDir,
}

impl Cluster {
    /// Start `n` instances with extra `config.yaml` lines, or `None` when
    /// the suite runs on SQLite (a single-node database).
    pub async fn start(n: usize, yaml: &str) -> Option<Cluster> {
        let Some(base) = pg_base_uri() else {
            eprintln!("skipped: several instances need TEST_DB=postgres");
            return None;
        };
        let db = create_pg_database(&base);
        let shared = tempfile::tempdir().unwrap();
        let storage = TestStorage::shared(shared.path());
        let mut servers = Vec::new();
        for _ in 0..n {
            let dir = tempfile::tempdir().unwrap();
            servers.push(Server::start_member(dir, Some(db.clone()), storage.clone(), yaml).await);
        }
        Some(Cluster {
            servers,
            _shared: shared,
        })
    }
}

/// Headers that belong to one connection, not to the request. `Host` is
/// passed on, as load balancers do, so every instance names the same token
/// realm and service.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

struct Backends {
    urls: Vec<String>,
    next: AtomicUsize,
    hits: Vec<AtomicUsize>,
    redirects: AtomicUsize,
    client: reqwest::Client,
}

/// A loopback HTTP proxy forwarding request `k` to backend `k mod n`,
/// streaming bodies both ways.
pub struct RoundRobin {
    pub addr: String,
    backends: Arc<Backends>,
    task: tokio::task::JoinHandle<()>,
}

impl RoundRobin {
    /// Proxy to the given base URLs (`http://host:port`).
    pub async fn start(urls: Vec<String>) -> RoundRobin {
        let backends = Arc::new(Backends {
            hits: urls.iter().map(|_| AtomicUsize::new(0)).collect(),
            urls,
            next: AtomicUsize::new(0),
            redirects: AtomicUsize::new(0),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        });
        let app = axum::Router::new().fallback(forward).with_state(backends.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        RoundRobin { addr, backends, task }
    }

    /// Requests each backend received.
    pub fn hits(&self) -> Vec<usize> {
        self.backends
            .hits
            .iter()
            .map(|h| h.load(Ordering::SeqCst))
            .collect()
    }

    /// Redirects the backends answered with.
    pub fn redirects(&self) -> usize {
        self.backends.redirects.load(Ordering::SeqCst)
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(backends): State<Arc<Backends>>, request: Request) -> Response {
    let k = backends.next.fetch_add(1, Ordering::SeqCst) % backends.urls.len();
    backends.hits[k].fetch_add(1, Ordering::SeqCst);
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut out = backends
        .client
        .request(request.method().clone(), format!("{}{path}", backends.urls[k]));
    for (name, value) in request.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let answer = match out.body(reqwest::Body::wrap_stream(body)).send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    if answer.status().is_redirection() {
        backends.redirects.fetch_add(1, Ordering::SeqCst);
    }
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response = response.header(HeaderName::from_bytes(name.as_ref()).unwrap(), value.as_bytes());
        }
    }
    response.body(Body::from_stream(answer.bytes_stream())).unwrap()
}
