//! Workload 4: manifest `GET` by tag from many concurrent clients.

use std::time::Duration;

use super::{Figure, closed_loop};
use crate::client::{BenchError, RegistryClient};
use crate::data::{image_manifest, random_bytes};

/// Push a small image tagged `tag` to read back.
pub async fn setup(client: &RegistryClient, repo: &str, tag: &str, seed: u64) -> Result<(), BenchError> {
    let config = bytes::Bytes::from(format!(
        r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#
    ));
    let layer = bytes::Bytes::from(random_bytes(4096, seed));
    let config_len = config.len();
    let layer_len = layer.len();
    let c = client.push_bytes(repo, config).await?;
    let l = client.push_bytes(repo, layer).await?;
    client
        .put_manifest(repo, tag, image_manifest((&c, config_len), &[(l, layer_len)]))
        .await
}

/// `GET /v2/<repo>/manifests/<tag>` in a closed loop.
pub async fn run(
    client: &RegistryClient,
    repo: &str,
    tag: &str,
    concurrency: usize,
    duration: Duration,
) -> Result<Vec<Figure>, BenchError> {
    let (client, repo, tag) = (client.clone(), repo.to_owned(), tag.to_owned());
    let l = closed_loop(concurrency, duration, move || {
        let (client, repo, tag) = (client.clone(), repo.clone(), tag.clone());
        async move { client.get_manifest(&repo, &tag).await.map(drop) }
    })
    .await?;
    Ok(vec![
        l.rate("requests"),
        l.latency("p50 latency", 50.0),
        l.latency("p99 latency", 99.0),
    ])
}
