//! Prometheus metrics over HTTP: the recorder, the request layer (duration
//! by route, method and status; body bytes in and out) and `GET /metrics`,
//! served without credentials on the main listener and, when configured,
//! on a listener of its own.
//!
//! The registry's own events (pulls, pushes, logins, garbage collection)
//! are counted inside `berth-core` (`berth_core::metrics`); gauges of
//! shared state (upload sessions, queues, pool use) are read when scraped.
//!
//! Quay's `namespace_name` label is left out: namespaces are unbounded,
//! and one series per namespace and route would grow with the users.
//!
//! Cost per request: one read-locked map lookup for the request's series
//! handle and a few atomic adds; bodies of known size are counted from
//! their size, and only streamed ones are wrapped to count their frames.

mod body;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_core::Registry;
use metrics::{Counter, Histogram, Unit, counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::distribution::route::Route;

/// Request durations, by `method`, `route` (a route template) and `status`.
pub const REQUEST_DURATION: &str = "quay_request_duration_seconds";
/// Bytes of request bodies received.
pub const RECEIVED_BYTES: &str = "berth_http_received_bytes_total";
/// Bytes of response bodies sent.
pub const SENT_BYTES: &str = "berth_http_sent_bytes_total";

/// Bucket bounds of request durations: Prometheus' defaults (Quay's) with
/// finer steps below 5 ms, where most registry requests end.
const DURATION_BUCKETS: [f64; 17] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// How often histogram samples are folded into their buckets between
/// scrapes, so memory stays flat when nobody scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// The installed recorder and what `/metrics` renders.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
    requests: Arc<RequestMetrics>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Install the process-wide recorder (once per process) and start its
    /// upkeep. Must run inside the Tokio runtime.
    pub fn install() -> Result<Metrics, BuildError> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), &DURATION_BUCKETS)?
            .install_recorder()?;
        // Histogram samples are stamped with quanta's clock, which
        // calibrates itself against the system clock at its first use,
        // spinning until the two agree. Here, before the workers and the
        // random generator's warm-up start, that takes about half a
        // millisecond; at the first request, beside them on a busy
        // machine, it spun up to its limit of 200 ms, and the first answer
        // waited for it.
        let _ = quanta::Instant::now();
        describe_histogram!(
            REQUEST_DURATION,
            Unit::Seconds,
            "Time to answer a request (until the response headers), by route template, method and status."
        );
        describe_counter!(RECEIVED_BYTES, Unit::Bytes, "Bytes of request bodies received.");
        describe_counter!(SENT_BYTES, Unit::Bytes, "Bytes of response bodies sent.");
        berth_core::metrics::describe();
        let process = metrics_process::Collector::default();
        process.describe();
        let upkeep = handle.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(UPKEEP).await;
                upkeep.run_upkeep();
            }
        });
        let requests = Arc::new(RequestMetrics {
            series: RwLock::default(),
            templates: RwLock::default(),
            received: counter!(RECEIVED_BYTES),
            sent: counter!(SENT_BYTES),
        });
        requests.received.increment(0);
        requests.sent.increment(0);
        Ok(Metrics {
            handle,
            process,
            requests,
        })
    }

    /// The request layer: wrap every route of `router` with it.
    pub(crate) fn track(&self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self.requests.clone(), track))
    }
}

/// State of `GET /metrics`.
#[derive(Clone)]
struct Scrape {
    registry: Registry,
    metrics: Metrics,
}

/// A router serving `GET /metrics` alone (for `METRICS_LISTEN`, and merged
/// into the main router).
pub fn router(registry: Registry, metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(Scrape { registry, metrics })
}

/// Read the gauges and render every metric in Prometheus' text format.
async fn render(State(scrape): State<Scrape>) -> Response {
    match scrape.registry.gauges().await {
        Ok(gauges) => berth_core::metrics::record_gauges(&gauges),
        // The counters are still worth serving; the gauges keep their
        // last reading.
        Err(e) => tracing::warn!(error = %e, "cannot read the registry's gauges for /metrics"),
    }
    scrape.metrics.process.collect();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        scrape.metrics.handle.render(),
    )
        .into_response()
}

/// Series handles by (route, method, status), made on first use, so a
/// request costs a map lookup rather than building a key.
struct RequestMetrics {
    series: RwLock<HashMap<(&'static str, &'static str, u16), Histogram>>,
    /// Route templates of the router, each leaked once: a bounded set.
    templates: RwLock<HashSet<&'static str>>,
    received: Counter,
    sent: Counter,
}

impl RequestMetrics {
    /// The histogram of one series.
    fn series(&self, route: &'static str, method: &'static str, status: StatusCode) -> Histogram {
        let key = (route, method, status.as_u16());
        if let Some(h) = self.series.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return h.clone();
        }
        let h = histogram!(REQUEST_DURATION, "method" => method, "route" => route, "status" => status.as_str().to_owned());
        self.series
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(h)
            .clone()
    }

    /// A route template as a `'static` label value. Templates come from
    /// the router only, never from a request, so the set stays small.
    fn template(&self, template: &str) -> &'static str {
        if let Some(t) = self
            .templates
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(template)
        {
            return t;
        }
        let mut templates = self.templates.write().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = templates.get(template) {
            return t;
        }
        let leaked: &'static str = Box::leak(template.to_owned().into_boxed_str());
        templates.insert(leaked);
        leaked
    }

    /// The `route` label of a request: the template of the route it
    /// matched; below `/v2/`, the distribution endpoint's template (names
    /// contain slashes, so one router template covers them all).
    fn route(&self, request: &Request) -> &'static str {
        let Some(matched) = request.extensions().get::<MatchedPath>() else {
            return "unmatched";
        };
        match matched.as_str() {
            "/v2/{*path}" => {
                let path = request.uri().path().strip_prefix("/v2/").unwrap_or("");
                Route::parse(path).map_or("/v2/{unknown}", |r| r.template())
            }
            other => self.template(other),
        }
    }
}

/// The `method` label: standard methods by name, anything else folded.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Time the request and count its body bytes both ways.
async fn track(State(metrics): State<Arc<RequestMetrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = metrics.route(&request);
    let method = method_label(request.method());
    let request = if request.body().is_end_stream() {
        request
    } else {
        request.map(|b| body::counted(b, metrics.received.clone()))
    };
    let response = next.run(request).await;
    metrics
        .series(route, method, response.status())
        .record(start.elapsed().as_secs_f64());
    match response.body().size_hint().exact() {
        Some(n) => {
            metrics.sent.increment(n);
            response
        }
        None => response.map(|b: Body| body::counted(b, metrics.sent.clone())),
    }
}
