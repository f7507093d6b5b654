//! `berth backup`: a consistent copy of the embedded default (SQLite and a
//! local blob directory) while servers run and push, or, for PostgreSQL
//! and S3, a command (`pg_dump` and a bucket copy) run while garbage
//! collection deletes no object.
//!
//! A backup holds garbage collection's object deletions (a row every
//! instance's collector respects), copies the database through SQLite's
//! online backup API, then copies every blob the copy records, verifying
//! each, and writes the manifest last.

mod layout;
pub mod restore;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use berth_oci::Digest;
use berth_store::StoredBlob;
use berth_store::metadata::{SQLITE_FILE, Snapshot, copy_sqlite_online};

use crate::config::{Config, StorageDriver};
use crate::source::{SourceArgs, open_registry};
use layout::{BackupManifest, BlobEntry, Counts, FORMAT_VERSION};

/// Flags of `berth backup`.
#[derive(clap::Args)]
pub struct BackupArgs {
    /// Write the backup into this directory (new or empty): the embedded
    /// database and local blob storage.
    #[arg(long, required_unless_present = "command", conflicts_with = "command")]
    to: Option<PathBuf>,
    #[command(flatten)]
    source: SourceArgs,
    /// Instead, run this command while garbage collection deletes no blob
    /// object (e.g. `pg_dump` then a bucket copy); exits with its status.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let config = args.source.load()?;
    match args.to {
        Some(to) => backup_embedded(&config, &to).await,
        None => run_held(&config, &args.command).await,
    }
}

/// The directory holding the blobs of the embedded default.
fn local_blob_root(config: &Config) -> anyhow::Result<PathBuf> {
    if config.DB_URI.is_some() {
        bail!(
            "berth backup --to copies the embedded database; for PostgreSQL and S3 run pg_dump and a \
             bucket copy under `berth backup -- COMMAND` (see the README)"
        );
    }
    match config
        .storage()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?
    {
        None => Ok(config.DATA_DIR.clone()),
        Some(StorageDriver::Local(local)) => Ok(local.storage_path.clone()),
        Some(StorageDriver::S3(_)) => bail!(
            "berth backup --to copies local blob storage; for S3 copy the bucket under \
             `berth backup -- COMMAND` (see the README)"
        ),
    }
}

async fn backup_embedded(config: &Config, to: &Path) -> anyhow::Result<()> {
    let blob_root = local_blob_root(config)?;
    let source_db = config.DATA_DIR.join(SQLITE_FILE);
    if !source_db.is_file() {
        bail!("no embedded database at {}", source_db.display());
    }
    if !layout::is_absent_or_empty(to)? {
        bail!("refusing to back up into {}: it is not empty", to.display());
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let (registry, db, _) = open_registry(config).await?;
    let copied = registry
        .while_gc_held("backup", copy_all(&source_db, &blob_root, to))
        .await;
    db.close().await;
    let manifest = match copied {
        Ok(manifest) => manifest,
        Err(e) => {
            // Leave nothing that could pass for a backup.
            if let Err(clean) = std::fs::remove_dir_all(to) {
                tracing::warn!(error = %clean, "cannot remove the incomplete backup {}", to.display());
            }
            return Err(e.context(format!("backing up into {}", to.display())));
        }
    };
    let c = &manifest.counts;
    println!(
        "backed up {} repositories, {} manifests, {} tags, {} accounts, {} blobs ({} bytes) to {}",
        c.repositories,
        c.manifests,
        c.tags,
        c.accounts,
        c.blobs,
        c.bytes,
        to.display()
    );
    Ok(())
}

/// Copy the database, then every blob it records; write the manifest.
async fn copy_all(source_db: &Path, blob_root: &Path, to: &Path) -> anyhow::Result<BackupManifest> {
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let target_db = to.join(SQLITE_FILE);
    let snapshot: Snapshot = tokio::task::spawn_blocking({
        let (source_db, target_db) = (source_db.to_owned(), target_db.clone());
        move || copy_sqlite_online(&source_db, &target_db)
    })
    .await?
    .context("copying the database")?;
    let mut blobs = Vec::with_capacity(snapshot.blobs.len());
    let mut bytes = 0u64;
    for row in &snapshot.blobs {
        let digest: Digest = row
            .digest
            .parse()
            .with_context(|| format!("the database records a malformed digest {}", row.digest))?;
        let size = u64::try_from(row.size).with_context(|| format!("blob {digest} has size {}", row.size))?;
        let stored = StoredBlob {
            digest: digest.clone(),
            key: row.location.clone(),
        };
        layout::copy_verified(
            &blob_root.join(stored.object_key()),
            &layout::blob_path(to, &digest),
            &digest,
            size,
        )
        .await?;
        bytes += size;
        blobs.push(BlobEntry {
            digest: row.digest.clone(),
            size,
        });
    }
    layout::sync_tree(to)?;
    let manifest = BackupManifest {
        format_version: FORMAT_VERSION,
        berth_version: env!("CARGO_PKG_VERSION").to_owned(),
        created,
        counts: Counts {
            repositories: snapshot.counts.repositories,
            manifests: snapshot.counts.manifests,
            tags: snapshot.counts.tags,
            accounts: snapshot.counts.accounts,
            blobs: blobs.len() as u64,
            bytes,
        },
        blobs,
    };
    manifest.write(to)?;
    Ok(manifest)
}

/// Run `command` while garbage collection deletes no object; fail unless
/// it succeeds.
async fn run_held(config: &Config, command: &[String]) -> anyhow::Result<()> {
    let Some((program, rest)) = command.split_first() else {
        bail!("name a backup directory (--to DIR) or a command to run (-- COMMAND ...)");
    };
    let (registry, db, _) = open_registry(config).await?;
    let status = registry
        .while_gc_held("backup", async {
            tracing::info!("garbage collection deletes no object until {program} exits");
            tokio::process::Command::new(program)
                .args(rest)
                .kill_on_drop(true)
                .status()
                .await
                .with_context(|| format!("running {program}"))
        })
        .await;
    db.close().await;
    let status = status?;
    if !status.success() {
        bail!("{program} failed ({status})");
    }
    Ok(())
}
