//! Workloads 1 and 2: one big blob uploaded monolithically or in 16 MiB
//! chunks, and downloaded.

use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use super::{Figure, mb_per_s};
use crate::client::{BenchError, RegistryClient};

/// A big blob held in memory as chunks, the first chunk marked with a
/// variant number so every run pushes content the server has never seen.
pub struct BigBlob {
    chunks: Vec<Bytes>,
    digest: String,
    len: u64,
}

impl BigBlob {
    /// `base` re-cut into `chunk` sized pieces, marked with `variant`.
    pub fn new(base: &Bytes, chunk: usize, variant: u64) -> BigBlob {
        let mut chunks: Vec<Bytes> = (0..base.len())
            .step_by(chunk)
            .map(|o| base.slice(o..(o + chunk).min(base.len())))
            .collect();
        if let Some(first) = chunks.first_mut() {
            let mut marked = first.to_vec();
            let n = marked.len().min(8);
            marked[..n].copy_from_slice(&variant.to_le_bytes()[..n]);
            *first = Bytes::from(marked);
        }
        let mut h = Sha256::new();
        for c in &chunks {
            h.update(c);
        }
        BigBlob {
            chunks,
            digest: format!("sha256:{}", hex::encode(h.finalize())),
            len: base.len() as u64,
        }
    }

    /// The blob's digest.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    fn body(&self) -> reqwest::Body {
        let chunks = self.chunks.clone();
        reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks.into_iter().map(Ok::<_, std::io::Error>),
        ))
    }
}

/// Upload in one `PUT`.
pub async fn upload_monolithic(
    client: &RegistryClient,
    repo: &str,
    blob: &BigBlob,
) -> Result<Figure, BenchError> {
    let t = Instant::now();
    client
        .push_monolithic(repo, &blob.digest, blob.len, blob.body())
        .await?;
    Ok(Figure::higher(
        "monolithic upload",
        "MB/s",
        mb_per_s(blob.len, t.elapsed()),
    ))
}

/// Upload in `PATCH` chunks of the blob's chunk size.
pub async fn upload_chunked(
    client: &RegistryClient,
    repo: &str,
    blob: &BigBlob,
) -> Result<Figure, BenchError> {
    let t = Instant::now();
    client
        .push_chunked(repo, &blob.digest, blob.chunks.clone())
        .await?;
    Ok(Figure::higher(
        "chunked upload (16 MiB PATCH)",
        "MB/s",
        mb_per_s(blob.len, t.elapsed()),
    ))
}

/// Download the whole blob.
pub async fn download(client: &RegistryClient, repo: &str, blob: &BigBlob) -> Result<Figure, BenchError> {
    let t = Instant::now();
    let n = client.get_blob(repo, &blob.digest).await?;
    if n != blob.len {
        return Err(BenchError::Mismatch(format!(
            "downloaded {n} bytes of {}",
            blob.len
        )));
    }
    Ok(Figure::higher("download", "MB/s", mb_per_s(n, t.elapsed())))
}
