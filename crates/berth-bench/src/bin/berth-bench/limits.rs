//! The physical limits blob throughput is measured against: SHA-256 speed
//! (`sha256sum` of the big blob), raw disk write speed (`dd` with
//! `conv=fsync`) and, on S3, the server's own rate for the big blob with
//! plain clients: one `PUT` and one `GET` (`curl`), and a multipart upload
//! in 8 MiB parts, 3 in flight (object_store), the requests a registry
//! that streams uploads of unknown length makes.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use berth_bench::stats::median;
use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, WriteMultipart};

use crate::servers::{S3Bucket, Storage};

/// Measured limits in MB/s.
pub struct Limits {
    pub sha256_mb_s: f64,
    pub disk_write_mb_s: f64,
    /// The S3 server's rates, when blobs are on S3.
    pub s3: Option<S3Limits>,
}

/// An S3 server's own rates for one big object, MB/s.
pub struct S3Limits {
    pub put: f64,
    pub multipart: f64,
    pub get: f64,
}

impl Limits {
    /// An upload must hash and write (to disk, or to S3 in parts, as the
    /// length of a stream is not known ahead): the slower bounds it.
    pub fn upload_limit(&self) -> f64 {
        let write = self.s3.as_ref().map_or(self.disk_write_mb_s, |s3| s3.multipart);
        self.sha256_mb_s.min(write)
    }

    /// On S3 a download cannot outrun the server's own `GET`.
    pub fn download_limit(&self) -> Option<f64> {
        self.s3.as_ref().map(|s3| s3.get)
    }
}

fn timed(cmd: &mut Command) -> anyhow::Result<f64> {
    let t = Instant::now();
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Write `blob` to disk under `work` and measure the limits `rounds` times.
pub async fn measure(work: &Path, blob: &Bytes, rounds: usize, storage: &Storage) -> anyhow::Result<Limits> {
    let file = work.join("limit.bin");
    std::fs::write(&file, blob)?;
    let mb = blob.len() as f64 / 1e6;
    let mut sha = Vec::new();
    let mut disk = Vec::new();
    for _ in 0..rounds {
        sha.push(mb / timed(Command::new("sha256sum").arg(&file))?);
        let count = (blob.len() >> 20).max(1);
        let of = work.join("dd.bin");
        let secs = timed(Command::new("dd").args([
            "if=/dev/zero",
            &format!("of={}", of.display()),
            "bs=1M",
            &format!("count={count}"),
            "conv=fsync",
            "status=none",
        ]))?;
        disk.push((count as f64 * 1048576.0 / 1e6) / secs);
        std::fs::remove_file(&of)?;
    }
    let s3 = match storage {
        Storage::S3(s3) => {
            let (put, get) = measure_s3(work, &file, mb, rounds, s3)?;
            let multipart = measure_multipart(blob, rounds, s3).await?;
            Some(S3Limits { put, multipart, get })
        }
        Storage::Dir => None,
    };
    std::fs::remove_file(&file)?;
    Ok(Limits {
        sha256_mb_s: median(&sha),
        disk_write_mb_s: median(&disk),
        s3,
    })
}

/// `PUT` then `GET` of `file` (`mb` MB) as one object, signed with AWS
/// Signature V4 as any S3 client signs: the medians of `rounds` each.
fn measure_s3(work: &Path, file: &Path, mb: f64, rounds: usize, s3: &S3Bucket) -> anyhow::Result<(f64, f64)> {
    // The credentials go in a curl config file, not on a command line.
    let config = work.join("s3-curl.conf");
    std::fs::write(
        &config,
        format!(
            "user = \"{}:{}\"\naws-sigv4 = \"aws:amz:us-east-1:s3\"\n\
             header = \"x-amz-content-sha256: UNSIGNED-PAYLOAD\"\nfail\nsilent\nshow-error\n",
            s3.access_key, s3.secret_key
        ),
    )?;
    let url = format!("{}/{}/limit/blob", s3.endpoint, s3.bucket);
    let curl = || {
        let mut c = Command::new("curl");
        c.arg("-K").arg(&config);
        c
    };
    let (mut put, mut get) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        put.push(mb / timed(curl().arg("-T").arg(file).arg(&url))?);
        get.push(mb / timed(curl().args(["-o", "/dev/null", &url]))?);
    }
    timed(curl().args(["-X", "DELETE", &url]))?;
    std::fs::remove_file(&config)?;
    Ok((median(&put), median(&get)))
}

/// A multipart upload of `blob` in 8 MiB parts, 3 in flight, as Berth sends
/// them: the median rate of `rounds`.
async fn measure_multipart(blob: &Bytes, rounds: usize, s3: &S3Bucket) -> anyhow::Result<f64> {
    const PART: usize = 8 << 20;
    let store = AmazonS3Builder::new()
        .with_endpoint(&s3.endpoint)
        .with_allow_http(true)
        .with_bucket_name(&s3.bucket)
        .with_region("us-east-1")
        .with_access_key_id(&s3.access_key)
        .with_secret_access_key(&s3.secret_key)
        .build()?;
    let path = ObjectPath::from("limit/multipart");
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let mut upload = WriteMultipart::new_with_chunk_size(store.put_multipart(&path).await?, PART);
        for o in (0..blob.len()).step_by(PART) {
            upload.wait_for_capacity(3).await?;
            upload.put(blob.slice(o..(o + PART).min(blob.len())));
        }
        upload.finish().await?;
        rates.push(blob.len() as f64 / 1e6 / t.elapsed().as_secs_f64());
        store.delete(&path).await?;
    }
    Ok(median(&rates))
}
