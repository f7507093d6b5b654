//! `berth restore`: a fresh data directory from a backup. Everything is
//! built beside the target under a temporary name and renamed into place
//! only once every blob was verified, so a failed restore leaves no
//! directory that looks like a data directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use berth_oci::Digest;
use berth_store::metadata::SQLITE_FILE;
use berth_store::{Db, PoolSettings};

use super::layout::{self, BackupManifest};

/// Flags of `berth restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The backup directory (written by `berth backup --to`).
    #[arg(long)]
    from: PathBuf,
    /// The new data directory; must not exist or be empty.
    #[arg(long)]
    data_dir: PathBuf,
}

pub async fn run(args: RestoreArgs) -> anyhow::Result<()> {
    crate::logging::init(crate::logging::LogsFormat::Text);
    let target = &args.data_dir;
    if !layout::is_absent_or_empty(target)? {
        bail!("refusing to restore into {}: it is not empty", target.display());
    }
    let manifest = BackupManifest::read(&args.from)?;
    let staging = staging_dir(target)?;
    std::fs::create_dir(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let restored = match restore_into(&args.from, &manifest, &staging).await {
        Ok(()) => move_into_place(&staging, target),
        Err(e) => Err(e),
    };
    if let Err(e) = restored {
        if let Err(clean) = std::fs::remove_dir_all(&staging) {
            eprintln!("cannot remove {}: {clean}", staging.display());
        }
        return Err(e.context(format!(
            "restoring {} into {}",
            args.from.display(),
            target.display()
        )));
    }
    let c = &manifest.counts;
    println!(
        "restored {} repositories, {} manifests, {} tags, {} accounts, {} blobs ({} bytes) into {}",
        c.repositories,
        c.manifests,
        c.tags,
        c.accounts,
        c.blobs,
        c.bytes,
        target.display()
    );
    Ok(())
}

/// A new directory beside `target`, hidden, named for this restore.
fn staging_dir(target: &Path) -> anyhow::Result<PathBuf> {
    let name = target
        .file_name()
        .with_context(|| format!("{} names no directory", target.display()))?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok(parent.join(format!(
        ".{}.restoring-{}",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    )))
}

/// Rename the finished directory to `target` (which may be an empty
/// directory: rename replaces it), then flush the parent.
fn move_into_place(staging: &Path, target: &Path) -> anyhow::Result<()> {
    if !layout::is_absent_or_empty(target)? {
        bail!("{} is no longer empty", target.display());
    }
    std::fs::rename(staging, target)
        .with_context(|| format!("renaming {} to {}", staging.display(), target.display()))?;
    layout::sync_dir(
        target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
}

async fn restore_into(from: &Path, manifest: &BackupManifest, staging: &Path) -> anyhow::Result<()> {
    let backup_db = from.join(SQLITE_FILE);
    if !backup_db.is_file() {
        bail!("{} has no {SQLITE_FILE}", from.display());
    }
    tokio::fs::copy(&backup_db, staging.join(SQLITE_FILE))
        .await
        .with_context(|| format!("copying {}", backup_db.display()))?;
    // Opening migrates a copy from an older Berth.
    let db = Db::open_sqlite(staging, PoolSettings { max_connections: 1 })
        .await
        .with_context(|| format!("opening the database copy {}", backup_db.display()))?;
    let checked = async {
        db.forget_instance_state().await?;
        anyhow::Ok(db.snapshot().await?)
    }
    .await;
    db.close().await;
    let snapshot = checked.context("preparing the restored database")?;
    // The manifest must list exactly the blobs the database records.
    let mut recorded: BTreeMap<&str, i64> = snapshot
        .blobs
        .iter()
        .map(|b| (b.digest.as_str(), b.size))
        .collect();
    for entry in &manifest.blobs {
        match recorded.remove(entry.digest.as_str()) {
            Some(size) if u64::try_from(size).ok() == Some(entry.size) => {}
            Some(size) => bail!(
                "the backup manifest gives blob {} {} bytes, the database {size}",
                entry.digest,
                entry.size
            ),
            None => bail!(
                "the backup manifest lists blob {}, which the database does not record",
                entry.digest
            ),
        }
    }
    if let Some((digest, _)) = recorded.first_key_value() {
        bail!(
            "the database records {} blob(s) the backup manifest does not list, e.g. {digest}",
            recorded.len()
        );
    }
    for entry in &manifest.blobs {
        let digest: Digest = entry
            .digest
            .parse()
            .with_context(|| format!("the backup manifest lists a malformed digest {}", entry.digest))?;
        layout::copy_verified(
            &layout::blob_path(from, &digest),
            &layout::blob_path(staging, &digest),
            &digest,
            entry.size,
        )
        .await?;
    }
    std::fs::create_dir_all(staging.join("blobs"))?;
    layout::sync_tree(staging)
}
