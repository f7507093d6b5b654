//! `berth gc`: one full garbage collection pass against the database and
//! blob storage the servers use, then exit. Safe while they run (and
//! collect): every step is a transaction that re-checks what it deletes.

use anyhow::Context;

use crate::source::{SourceArgs, open_registry};

/// Flags of `berth gc`; each overrides the config file.
#[derive(clap::Args)]
pub struct GcArgs {
    #[command(flatten)]
    source: SourceArgs,
}

pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    let config = args.source.load()?;
    let (registry, db, storage) = open_registry(&config).await?;
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
