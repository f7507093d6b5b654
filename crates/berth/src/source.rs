//! Where a command finds the registry's data, named as `berth serve` names
//! it: `--config`, `--data-dir`, `--db-uri`.

use std::path::PathBuf;

use anyhow::Context;
use berth_core::{Identity, Registry};
use berth_store::Db;

use crate::config::Config;
use crate::serve::{open_blob_store, open_db};

/// Flags naming the registry's data; each overrides the config file.
#[derive(clap::Args)]
pub struct SourceArgs {
    /// Directory of the embedded database and local blob storage.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// YAML configuration file (database, storage, settings).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Metadata database URI (postgresql://...).
    #[arg(long)]
    db_uri: Option<String>,
}

impl SourceArgs {
    /// The configuration with these flags applied; installs logging and
    /// enters FIPS mode when configured.
    pub fn load(self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        crate::logging::init(config.LOGS_FORMAT);
        if let Some(dir) = self.data_dir {
            config.DATA_DIR = dir;
        }
        if let Some(uri) = self.db_uri {
            config.DB_URI = Some(uri);
        }
        config.enter_crypto_mode()?;
        Ok(config)
    }
}

/// The registry service over the configured database and blob storage
/// (no workers), its database, and a description of the storage.
pub async fn open_registry(config: &Config) -> anyhow::Result<(Registry, Db, String)> {
    let registry_config = config.registry()?;
    let db = open_db(config).await?;
    let (blobs, storage) = open_blob_store(config)?;
    let identity = Identity::start(db.clone(), config.identity())
        .await
        .context("starting identity and access")?;
    Ok((
        Registry::new(db.clone(), blobs, registry_config, identity),
        db,
        storage,
    ))
}
