//! Workload 6: one repository with many tags, listed in full following
//! `Link` headers: as clients such as skopeo and podman ask (no `n`, so
//! the registry picks the page size), and in pages of `n=100`.

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

/// The page size of the paginated listing.
pub const PAGE: usize = 100;

/// List every tag without `n`, then with pages of [`PAGE`] entries.
pub async fn run(client: &RegistryClient, repo: &str, expected: usize) -> Result<Vec<Figure>, BenchError> {
    let (unasked, unasked_requests) = list(client, repo, expected, None).await?;
    let (paged, pages) = list(client, repo, expected, Some(PAGE)).await?;
    Ok(vec![
        Figure::lower("full listing, no n", "ms", unasked * 1000.0),
        Figure::lower("requests needed, no n", "requests", unasked_requests),
        Figure::lower("full listing, n=100", "ms", paged * 1000.0),
        Figure::lower("requests needed, n=100", "requests", pages),
        Figure::lower("time per request, n=100", "ms", paged * 1000.0 / pages),
    ])
}

/// Seconds to list every tag with pages of `n` (the registry's choice
/// without), and the requests it took.
async fn list(
    client: &RegistryClient,
    repo: &str,
    expected: usize,
    n: Option<usize>,
) -> Result<(f64, f64), BenchError> {
    let t = Instant::now();
    let (seen, pages) = client.list_all_tags(repo, n).await?;
    let elapsed = t.elapsed();
    if seen != expected {
        return Err(BenchError::Mismatch(format!(
            "listed {seen} tags, expected {expected}"
        )));
    }
    Ok((elapsed.as_secs_f64(), pages as f64))
}
