//! The benchmark workloads. Each drives one registry through a
//! [`RegistryClient`] and returns its figures; every request is checked, so
//! a workload on a misbehaving server fails instead of reporting a number.

pub mod blob_throughput;
pub mod copy_image;
pub mod gc_scale;
pub mod manifest_get;
pub mod many_blobs;
pub mod small_blob;
pub mod tag_list;

use std::time::{Duration, Instant};

use crate::client::BenchError;

/// Whether larger or smaller values of a figure are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Throughput-like.
    Higher,
    /// Latency-like.
    Lower,
}

/// One measured figure of one run.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Metric name, e.g. `upload`.
    pub metric: &'static str,
    /// Unit, e.g. `MB/s`.
    pub unit: &'static str,
    /// Direction of improvement.
    pub better: Better,
    /// The value.
    pub value: f64,
}

impl Figure {
    /// A figure where higher is better.
    pub fn higher(metric: &'static str, unit: &'static str, value: f64) -> Figure {
        Figure {
            metric,
            unit,
            better: Better::Higher,
            value,
        }
    }

    /// A figure where lower is better.
    pub fn lower(metric: &'static str, unit: &'static str, value: f64) -> Figure {
        Figure {
            metric,
            unit,
            better: Better::Lower,
            value,
        }
    }
}

/// Megabytes (10^6 bytes) per second.
pub fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

/// What a closed loop measured: every request's latency and the wall time.
pub struct LoopResult {
    latencies: Vec<f64>,
    elapsed: Duration,
}

impl LoopResult {
    /// Completed requests per second, reported as `metric`.
    pub fn rate(&self, metric: &'static str) -> Figure {
        Figure::higher(
            metric,
            "req/s",
            self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
        )
    }

    /// The `p`-th percentile latency, reported as `metric`.
    pub fn latency(&self, metric: &'static str, p: f64) -> Figure {
        Figure::lower(metric, "ms", crate::stats::percentile(&self.latencies, p))
    }
}

/// Run `concurrency` workers calling `op` until `duration` passes; returns
/// sorted latencies in milliseconds and the wall time.
pub async fn closed_loop<F, Fut>(
    concurrency: usize,
    duration: Duration,
    op: F,
) -> Result<LoopResult, BenchError>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), BenchError>> + Send,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let op = op.clone();
        workers.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                op().await?;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, BenchError>(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = workers.join_next().await {
        all.extend(done.map_err(|e| BenchError::Mismatch(format!("worker panicked: {e}")))??);
    }
    let elapsed = start.elapsed();
    all.sort_by(f64::total_cmp);
    Ok(LoopResult {
        latencies: all,
        elapsed,
    })
}
