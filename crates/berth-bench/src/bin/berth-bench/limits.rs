//! The physical limits blob throughput is measured against: SHA-256 speed
//! (`sha256sum` of the big blob) and raw disk write speed (`dd` with
//! `conv=fsync`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use berth_bench::stats::median;

/// Measured limits in MB/s.
pub struct Limits {
    pub sha256_mb_s: f64,
    pub disk_write_mb_s: f64,
}

impl Limits {
    /// An upload must hash and write: the slower of the two bounds it.
    pub fn upload_limit(&self) -> f64 {
        self.sha256_mb_s.min(self.disk_write_mb_s)
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

/// Write `blob` to disk under `work` and measure both limits `rounds` times.
pub fn measure(work: &Path, blob: &[u8], rounds: usize) -> anyhow::Result<Limits> {
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
    std::fs::remove_file(&file)?;
    Ok(Limits {
        sha256_mb_s: median(&sha),
        disk_write_mb_s: median(&disk),
    })
}
