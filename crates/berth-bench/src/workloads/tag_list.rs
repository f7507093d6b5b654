//! Workload 6: one repository with many tags, listed in full with `n=100`
//! pages following `Link` headers.

use std::time::Instant;

use futures_util::{StreamExt, TryStreamExt};

use super::Figure;
use crate::client::{BenchError, RegistryClient};
use crate::data::{image_manifest, random_bytes};

/// Push one image and point `count` tags at it.
pub async fn setup(client: &RegistryClient, repo: &str, count: usize, seed: u64) -> Result<(), BenchError> {
    let config = bytes::Bytes::from(format!(r#"{{"seed":{seed}}}"#));
    let layer = bytes::Bytes::from(random_bytes(1024, seed));
    let (config_len, layer_len) = (config.len(), layer.len());
    let c = client.push_bytes(repo, config).await?;
    let l = client.push_bytes(repo, layer).await?;
    let manifest = image_manifest((&c, config_len), &[(l, layer_len)]);
    futures_util::stream::iter(0..count)
        .map(|i| {
            let manifest = manifest.clone();
            async move { client.put_manifest(repo, &format!("t{i:05}"), manifest).await }
        })
        .buffer_unordered(16)
        .try_for_each(|()| async { Ok(()) })
        .await
}

/// List every tag with pages of `page` entries.
pub async fn run(
    client: &RegistryClient,
    repo: &str,
    expected: usize,
    page: usize,
) -> Result<Vec<Figure>, BenchError> {
    let t = Instant::now();
    let (seen, pages) = client.list_all_tags(repo, page).await?;
    let elapsed = t.elapsed();
    if seen != expected {
        return Err(BenchError::Mismatch(format!(
            "listed {seen} tags, expected {expected}"
        )));
    }
    Ok(vec![
        Figure::lower("full paginated listing", "s", elapsed.as_secs_f64()),
        Figure::lower("requests needed", "requests", pages as f64),
        Figure::lower(
            "time per request",
            "ms",
            elapsed.as_secs_f64() * 1000.0 / pages as f64,
        ),
    ])
}
