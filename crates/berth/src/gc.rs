//! `berth gc`: one full garbage collection pass against the database and
//! blob storage the servers use, then exit. Safe while they run (and
//! collect): every step is a transaction that re-checks what it deletes.

use std::path::PathBuf;

use anyhow::Context;
use berth_core::{Identity, Registry};

use crate::config::Config;
use crate::serve::{open_blob_store, open_db};

/// Flags of `berth gc`; each overrides the config file.
#[derive(clap::Args)]
pub struct GcArgs {
    /// Directory of the embedded database and local blob storage.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// YAML configuration file (database, storage, time-machine default).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Metadata database URI (postgresql://...).
    #[arg(long)]
    db_uri: Option<String>,
}

pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    crate::logging::init(config.LOGS_FORMAT);
    if let Some(dir) = args.data_dir {
        config.DATA_DIR = dir;
    }
    if let Some(uri) = args.db_uri {
        config.DB_URI = Some(uri);
    }
    config.enter_crypto_mode()?;
    let registry_config = config.registry()?;
    let db = open_db(&config).await?;
    let (blobs, storage) = open_blob_store(&config)?;
    let identity = Identity::start(db.clone(), config.identity())
        .await
        .context("starting identity and access")?;
    let registry = Registry::new(db.clone(), blobs, registry_config, identity);
    let report = registry
        .collect_garbage()
        .await
        .with_context(|| format!("collecting garbage in {} and {storage}", db.backend()));
    db.close().await;
    let report = report?;
    println!("tag rows: {}", report.tag_rows);
    println!("manifests: {}", report.manifests);
    println!("blob links: {}", report.blob_links);
    println!("blobs: {}", report.blobs);
    println!("bytes: {}", report.bytes);
    println!("objects deleted: {}", report.objects);
    Ok(())
}
