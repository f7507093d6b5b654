//! The backup directory: `metadata.db` (the database copy),
//! `blobs/<alg>/<hex[0..2]>/<hex>` (every blob the copy records, under its
//! content-addressed key) and `berth-backup.json` (the manifest), written
//! last: a directory without it is not a complete backup.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use berth_oci::{Digest, Hasher};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "berth-backup.json";

/// The layout this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Copy buffer.
const CHUNK: usize = 256 * 1024;

/// `berth-backup.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupManifest {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The Berth version that wrote it.
    pub berth_version: String,
    /// When the database was copied (RFC 3339, UTC).
    pub created: String,
    /// How much it holds.
    pub counts: Counts,
    /// Every blob, so a restore can verify each one.
    pub blobs: Vec<BlobEntry>,
}

/// Counts of what a backup holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Counts {
    /// Repositories.
    pub repositories: i64,
    /// Manifests.
    pub manifests: i64,
    /// Live tags.
    pub tags: i64,
    /// Users, organizations and robots.
    pub accounts: i64,
    /// Blobs.
    pub blobs: u64,
    /// Bytes of blobs.
    pub bytes: u64,
}

/// One blob of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobEntry {
    /// Its digest (`sha256:...`), which its bytes must hash to.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

impl BackupManifest {
    /// Read and check the manifest of the backup in `dir`.
    pub fn read(dir: &Path) -> anyhow::Result<BackupManifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{} has no {MANIFEST_FILE}: not a complete Berth backup (a backup writes it last)",
                dir.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let manifest: BackupManifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a backup manifest", path.display()))?;
        if manifest.format_version != FORMAT_VERSION {
            bail!(
                "{} has backup format {}; this Berth reads format {FORMAT_VERSION}",
                path.display(),
                manifest.format_version
            );
        }
        Ok(manifest)
    }

    /// Write the manifest into `dir` atomically (a temporary file, flushed,
    /// then renamed), making the backup complete.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self)?;
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, dir.join(MANIFEST_FILE))?;
        sync_dir(dir)
    }
}

/// Where a blob lives under a backup or data directory.
pub fn blob_path(root: &Path, digest: &Digest) -> PathBuf {
    root.join(berth_store::canonical_key(digest))
}

/// Flush a directory's entries to disk.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing {}", dir.display()))
}

/// Whether `dir` is missing or an empty directory.
pub fn is_absent_or_empty(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// Copy a blob from `from` to a new file `to` (creating its directory),
/// hashing it on the way; fails unless it has `digest` and `size`. The
/// copy is flushed to disk before this returns.
pub async fn copy_verified(from: &Path, to: &Path, digest: &Digest, size: u64) -> anyhow::Result<()> {
    let mut src = match tokio::fs::File::open(from).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("blob {digest} is missing: no file {}", from.display())
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", from.display())),
    };
    if let Some(dir) = to.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut dst = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .await
        .with_context(|| format!("creating {}", to.display()))?;
    let mut hasher = Hasher::new(digest.algorithm());
    let mut buf = vec![0u8; CHUNK];
    let mut copied = 0u64;
    loop {
        let n = src
            .read(&mut buf)
            .await
            .with_context(|| format!("reading {}", from.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])
            .await
            .with_context(|| format!("writing {}", to.display()))?;
        copied += n as u64;
    }
    let actual = hasher.finish();
    if &actual != digest || copied != size {
        bail!(
            "blob {digest} is corrupt: {} holds {copied} bytes with digest {actual} (expected {size} bytes)",
            from.display()
        );
    }
    dst.sync_all().await?;
    Ok(())
}

/// Flush every directory under (and including) `root`, so the entries of
/// files copied into them survive a power cut.
pub fn sync_tree(root: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(root)
}
