//! Workload 3: many small-to-medium blobs pushed by concurrent clients,
//! then pulled.

use std::time::Instant;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use super::Figure;
use crate::client::{BenchError, RegistryClient};
use crate::data::sha256;

/// Push all `blobs` with `concurrency` clients, then pull them all back.
pub async fn push_then_pull(
    client: &RegistryClient,
    repo: &str,
    blobs: &[Bytes],
    concurrency: usize,
) -> Result<Vec<Figure>, BenchError> {
    let digests: Vec<String> = blobs.iter().map(|b| sha256(b)).collect();
    let t = Instant::now();
    futures_util::stream::iter(blobs.iter().cloned())
        .map(|b| client.push_bytes(repo, b))
        .buffer_unordered(concurrency)
        .try_for_each(|_digest| async { Ok(()) })
        .await?;
    let push = blobs.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    futures_util::stream::iter(digests.iter().zip(blobs))
        .map(|(d, b)| async move {
            let n = client.get_blob(repo, d).await?;
            if n != b.len() as u64 {
                return Err(BenchError::Mismatch(format!(
                    "blob {d}: {n} bytes, expected {}",
                    b.len()
                )));
            }
            Ok(())
        })
        .buffer_unordered(concurrency)
        .try_for_each(|()| async { Ok(()) })
        .await?;
    let pull = blobs.len() as f64 / t.elapsed().as_secs_f64();
    Ok(vec![
        Figure::higher("push", "blobs/s", push),
        Figure::higher("pull", "blobs/s", pull),
    ])
}
