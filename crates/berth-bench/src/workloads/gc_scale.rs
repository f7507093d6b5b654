//! Workload 9: garbage collection at scale. A store of many small images
//! is pushed through the registry's own API, half of them untagged (so
//! garbage once the push grace period has passed); while a pass runs,
//! clients go on pushing new images and pulling kept ones; afterwards a
//! sample of kept images must pull whole and the sampled garbage must be
//! gone. The pass itself is a process the caller runs (`berth gc`, or
//! Distribution's offline `garbage-collect`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use crate::client::{BenchError, RegistryClient};
use crate::data::{image_manifest, random_bytes, sha256};

/// The store to make.
#[derive(Debug, Clone, Copy)]
pub struct GcPlan {
    /// Images (one manifest each); the odd ones are pushed untagged.
    pub manifests: usize,
    /// Blobs per image: a config and the rest layers, each its own.
    pub blobs_per_manifest: usize,
    /// Size of each layer.
    pub layer_bytes: usize,
    /// Repositories the images are spread over.
    pub repositories: usize,
    /// Images pushed at once.
    pub concurrency: usize,
    /// Every `sample`-th image is remembered for the checks.
    pub sample: usize,
    /// Seed of the content (a fresh one per store).
    pub seed: u64,
}

impl GcPlan {
    /// Blobs in the store.
    pub fn blobs(&self) -> usize {
        self.manifests * self.blobs_per_manifest
    }

    /// Blobs only untagged images reference: what a pass frees.
    pub fn garbage_blobs(&self) -> usize {
        (self.manifests / 2) * self.blobs_per_manifest
    }

    /// Bytes of one image's blobs, config included.
    pub fn image_bytes(&self) -> usize {
        let config = config_bytes(self.seed, 0).len();
        config + (self.blobs_per_manifest - 1) * self.layer_bytes
    }
}

/// One pushed image, remembered for the checks.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// Repository.
    pub repo: String,
    /// Manifest digest.
    pub digest: String,
    /// Whether a tag names it (kept) or not (garbage).
    pub tagged: bool,
    /// Its blobs' digests.
    pub blobs: Vec<String>,
}

fn config_bytes(seed: u64, i: usize) -> Bytes {
    Bytes::from(format!(
        r#"{{"architecture":"amd64","os":"linux","seed":{seed},"image":{i:012}}}"#
    ))
}

/// Push image `i` of the plan (tagged `t<i>` when `tagged`, else by digest
/// only) to `repo`.
async fn push_image(
    client: &RegistryClient,
    repo: &str,
    seed: u64,
    i: usize,
    plan: &GcPlan,
    tagged: bool,
) -> Result<PushedImage, BenchError> {
    let config = config_bytes(seed, i);
    let config_len = config.len();
    let config_digest = client.push_bytes(repo, config).await?;
    let mut layers = Vec::with_capacity(plan.blobs_per_manifest.saturating_sub(1));
    for j in 1..plan.blobs_per_manifest {
        let layer_seed = seed ^ ((i as u64) << 20 | j as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
        let layer = Bytes::from(random_bytes(plan.layer_bytes, layer_seed));
        layers.push((client.push_bytes(repo, layer).await?, plan.layer_bytes));
    }
    let manifest = image_manifest((&config_digest, config_len), &layers);
    let digest = sha256(&manifest);
    let reference = if tagged { format!("t{i}") } else { digest.clone() };
    client.put_manifest(repo, &reference, manifest).await?;
    let mut blobs = vec![config_digest];
    blobs.extend(layers.into_iter().map(|(d, _)| d));
    Ok(PushedImage {
        repo: repo.to_owned(),
        digest,
        tagged,
        blobs,
    })
}

/// Push the whole store; returns the sampled images and the push rate
/// (images per second).
pub async fn populate(client: &RegistryClient, plan: &GcPlan) -> Result<(Vec<PushedImage>, f64), BenchError> {
    let t = Instant::now();
    let sample = plan.sample.max(1);
    let pushed: Vec<Option<PushedImage>> = futures_util::stream::iter(0..plan.manifests)
        .map(|i| async move {
            // Pairs share a repository: every one has tags (Distribution's
            // `--delete-untagged` fails on a repository without any).
            let repo = format!("gc/r{}", (i / 2) % plan.repositories.max(1));
            let image = push_image(client, &repo, plan.seed, i, plan, i % 2 == 0).await?;
            // Keep a tagged and an untagged image of every sampled pair.
            Ok::<_, BenchError>((i / 2).is_multiple_of(sample).then_some(image))
        })
        .buffer_unordered(plan.concurrency.max(1))
        .try_collect()
        .await?;
    let rate = plan.manifests as f64 / t.elapsed().as_secs_f64();
    Ok((pushed.into_iter().flatten().collect(), rate))
}

/// What the clients did while a pass ran.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadDone {
    /// Images pushed (tagged, so kept).
    pub pushes: u64,
    /// Kept images pulled whole (manifest and every blob).
    pub pulls: u64,
    /// Time the load ran.
    pub elapsed: Duration,
}

/// Clients pushing new tagged images and pulling `kept` ones, until
/// stopped. Any failed request ends it with that error: garbage
/// collection must never break a push or a pull.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), BenchError>>>,
    pushes: Arc<AtomicU64>,
    pulls: Arc<AtomicU64>,
    started: Instant,
}

impl Load {
    /// Start `pushers` pushing clients and `pullers` pulling ones.
    pub fn start(
        client: &RegistryClient,
        plan: &GcPlan,
        kept: &[PushedImage],
        pushers: usize,
        pullers: usize,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let pushes = Arc::new(AtomicU64::new(0));
        let pulls = Arc::new(AtomicU64::new(0));
        let kept: Arc<Vec<PushedImage>> = Arc::new(kept.iter().filter(|i| i.tagged).cloned().collect());
        let mut tasks = Vec::new();
        for p in 0..pushers {
            let (client, plan, stop, pushes) = (client.clone(), *plan, stop.clone(), pushes.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = plan.manifests * 2 + p;
                while !stop.load(Ordering::Relaxed) {
                    // A fresh seed: content no image of the store shares.
                    push_image(&client, "gc/load", plan.seed ^ 0x5EED, i, &plan, true).await?;
                    pushes.fetch_add(1, Ordering::Relaxed);
                    i += pushers;
                }
                Ok(())
            }));
        }
        for p in 0..pullers {
            let (client, kept, stop, pulls) = (client.clone(), kept.clone(), stop.clone(), pulls.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = p;
                while !stop.load(Ordering::Relaxed) && !kept.is_empty() {
                    pull_whole(&client, &kept[n % kept.len()]).await?;
                    pulls.fetch_add(1, Ordering::Relaxed);
                    n += pullers;
                }
                Ok(())
            }));
        }
        Load {
            stop,
            tasks,
            pushes,
            pulls,
            started: Instant::now(),
        }
    }

    /// Stop the clients; fails with the first request that failed.
    pub async fn finish(self) -> Result<LoadDone, BenchError> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await
                .map_err(|e| BenchError::Mismatch(format!("load client: {e}")))??;
        }
        Ok(LoadDone {
            pushes: self.pushes.load(Ordering::Relaxed),
            pulls: self.pulls.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        })
    }
}

/// Pull an image's manifest and every blob.
async fn pull_whole(client: &RegistryClient, image: &PushedImage) -> Result<(), BenchError> {
    client.get_manifest(&image.repo, &image.digest).await?;
    for b in &image.blobs {
        client.get_blob(&image.repo, b).await?;
    }
    Ok(())
}

/// After a pass: every sampled tagged image pulls whole, and no sampled
/// untagged manifest is left.
pub async fn check_after(client: &RegistryClient, sample: &[PushedImage]) -> Result<(), BenchError> {
    futures_util::stream::iter(sample)
        .map(|image| async move {
            if image.tagged {
                return pull_whole(client, image).await;
            }
            if client.manifest_exists(&image.repo, &image.digest).await? {
                return Err(BenchError::Mismatch(format!(
                    "{}@{} is garbage but still there after the pass",
                    image.repo, image.digest
                )));
            }
            Ok(())
        })
        .buffer_unordered(16)
        .try_for_each(|()| async { Ok(()) })
        .await
}
