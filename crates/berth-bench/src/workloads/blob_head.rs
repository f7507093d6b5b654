//! Workload 5: blob `HEAD` from many concurrent clients.

use std::time::Duration;

use super::{Figure, closed_loop};
use crate::client::{BenchError, RegistryClient};

/// `HEAD /v2/<repo>/blobs/<digest>` in a closed loop.
pub async fn run(
    client: &RegistryClient,
    repo: &str,
    digest: &str,
    concurrency: usize,
    duration: Duration,
) -> Result<Vec<Figure>, BenchError> {
    let (client, repo, digest) = (client.clone(), repo.to_owned(), digest.to_owned());
    let l = closed_loop(concurrency, duration, move || {
        let (client, repo, digest) = (client.clone(), repo.clone(), digest.clone());
        async move { client.head_blob(&repo, &digest).await }
    })
    .await?;
    Ok(vec![l.rate(), l.latency("p99 latency", 99.0)])
}
