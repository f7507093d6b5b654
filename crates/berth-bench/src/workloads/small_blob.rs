//! Workload 5: a small blob, `HEAD` from many concurrent clients, then
//! `GET` from one client at a time. The second is what a client pulling an
//! image's config and small layers one after another waits for: a server
//! that lets a small body wait behind its headers (Nagle's algorithm
//! against the client's delayed ACK) shows there as ~40 ms per blob.

use std::time::Duration;

use super::{Figure, closed_loop};
use crate::client::{BenchError, RegistryClient};

/// `HEAD /v2/<repo>/blobs/<digest>` from `concurrency` clients in a closed
/// loop for `duration`, then `GET` of the same blob from one client for
/// half as long (one client's latencies settle sooner).
pub async fn run(
    client: &RegistryClient,
    repo: &str,
    digest: &str,
    concurrency: usize,
    duration: Duration,
) -> Result<Vec<Figure>, BenchError> {
    let (c, r, d) = (client.clone(), repo.to_owned(), digest.to_owned());
    let heads = closed_loop(concurrency, duration, move || {
        let (client, repo, digest) = (c.clone(), r.clone(), d.clone());
        async move { client.head_blob(&repo, &digest).await }
    })
    .await?;
    let (c, r, d) = (client.clone(), repo.to_owned(), digest.to_owned());
    let gets = closed_loop(1, duration / 2, move || {
        let (client, repo, digest) = (c.clone(), r.clone(), d.clone());
        async move { client.get_blob(&repo, &digest).await.map(drop) }
    })
    .await?;
    Ok(vec![
        heads.rate("HEAD requests"),
        heads.latency("HEAD p99 latency", 99.0),
        gets.latency("GET p50 latency, one client", 50.0),
        gets.latency("GET p99 latency, one client", 99.0),
    ])
}
