//! `berth gc`: one full garbage collection pass against the database and
//! blob storage the servers use, then exit. Safe while they run (and
//! collect): every step is a transaction that re-checks what it deletes.
//! `--dry-run` reports what a pass would remove and free, removing nothing.

use anyhow::Context;
use berth_core::registry::StorageReport;

use crate::source::{SourceArgs, open_registry};

/// Flags of `berth gc`; each overrides the config file.
#[derive(clap::Args)]
pub struct GcArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Report blob storage (physical, referenced, reclaimable) and what a
    /// pass would remove, without removing anything.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    let config = args.source.load()?;
    let (registry, db, storage) = open_registry(&config).await?;
    if args.dry_run {
        let report = registry
            .preview_garbage()
            .await
            .with_context(|| format!("reading {} and {storage}", db.backend()));
        db.close().await;
        print_preview(&report?);
        return Ok(());
    }
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

/// The dry run's report: first what a pass would remove (the names a pass
/// reports), then the storage totals.
fn print_preview(r: &StorageReport) {
    println!("tag rows: {}", r.tag_rows);
    println!("manifests: {}", r.manifests);
    println!("blob links: {}", r.blob_links);
    println!("blobs: {}", r.reclaimable.blobs);
    println!("bytes: {}", r.reclaimable.bytes);
    println!("physical blobs: {}", r.physical.blobs);
    println!("physical bytes: {}", r.physical.bytes);
    println!("referenced blobs: {}", r.referenced.blobs);
    println!("referenced bytes: {}", r.referenced.bytes);
    println!("queued object deletions: {}", r.queued_objects);
}
