//! `berth autoprune`: one auto-prune pass against the database the servers
//! use, then exit: every namespace no server is pruning right now (the
//! same claims the servers' workers take), however recently it was pruned.

use anyhow::Context;
use berth_core::registry::PrunePass;

use crate::source::{SourceArgs, open_registry};

/// Flags of `berth autoprune`; each overrides the config file.
#[derive(clap::Args)]
pub struct AutopruneArgs {
    #[command(flatten)]
    source: SourceArgs,
}

pub async fn run(args: AutopruneArgs) -> anyhow::Result<()> {
    let config = args.source.load()?;
    let (registry, db, _storage) = open_registry(&config).await?;
    let pruned = registry
        .prune_tags(PrunePass::Now)
        .await
        .with_context(|| format!("pruning tags in {}", db.backend()));
    db.close().await;
    println!("pruned tags: {}", pruned?);
    Ok(())
}
