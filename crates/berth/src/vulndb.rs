//! `berth vulndb`: the vulnerability feeds of the registry's database.
//! `update` runs every configured feed now (one instance at a time, by the
//! feed's claim, so it is safe while servers run); `status` lists feeds,
//! their last update and record counts; `export` writes a bundle of every
//! feed's records and fingerprints, `import` loads one (air-gapped
//! instances), each feed under its claim.

use anyhow::Context;
use berth_core::vulns::{Bundle, FeedStatus, VulnUpdater};

use crate::serve::open_db;
use crate::source::SourceArgs;

/// `berth vulndb` subcommands.
#[derive(clap::Args)]
pub struct VulndbArgs {
    #[command(subcommand)]
    command: VulndbCommand,
}

#[derive(clap::Subcommand)]
enum VulndbCommand {
    /// Update every configured feed now.
    Update(SourceArgs),
    /// List the feeds, their last update, last error and record counts.
    Status(SourceArgs),
    /// Write every feed's records and fingerprints to a bundle (zstd).
    Export(BundleArgs),
    /// Load a bundle written by `export` (air-gapped instances).
    Import(BundleArgs),
}

#[derive(clap::Args)]
struct BundleArgs {
    /// The bundle file.
    file: std::path::PathBuf,
    #[command(flatten)]
    source: SourceArgs,
}

pub async fn run(args: VulndbArgs) -> anyhow::Result<()> {
    match args.command {
        VulndbCommand::Update(source) => update(source).await,
        VulndbCommand::Status(source) => status(source).await,
        VulndbCommand::Export(args) => export(args).await,
        VulndbCommand::Import(args) => import(args).await,
    }
}

async fn update(source: SourceArgs) -> anyhow::Result<()> {
    let config = source.load()?;
    let mut updaters = config
        .updaters()
        .map_err(|p| anyhow::anyhow!("invalid configuration: {p}"))?;
    // New findings record `vulnerability_found`, as a server's update does.
    updaters.site = Some(config.notifications()?.site);
    let db = open_db(&config).await?;
    let updater = VulnUpdater::new(db.clone(), updaters).context("starting the feed updater")?;
    let results = updater.update(true).await;
    db.close().await;
    let mut failed = 0;
    for (feed, status) in results {
        match status {
            FeedStatus::Updated {
                changed_keys,
                rematched,
            } => {
                println!(
                    "{}: updated ({changed_keys} packages changed, {rematched} images matched again)",
                    feed.name()
                );
            }
            FeedStatus::Skipped => println!("{}: another instance is updating it", feed.name()),
            FeedStatus::Failed(e) => {
                failed += 1;
                println!("{}: failed: {e}", feed.name());
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} feed(s) failed; their previous records stand");
    }
    Ok(())
}

async fn status(source: SourceArgs) -> anyhow::Result<()> {
    let config = source.load()?;
    let db = open_db(&config).await?;
    let feeds = db.vuln_feeds().await;
    db.close().await;
    let date = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map_or_else(|| "never".to_owned(), |d| d.to_rfc3339())
    };
    println!(
        "{:<8} {:>8} {:<26} {:<26} ERROR",
        "FEED", "RECORDS", "CHECKED", "CHANGED"
    );
    for f in feeds? {
        println!(
            "{:<8} {:>8} {:<26} {:<26} {}",
            f.name,
            f.records,
            date(f.checked_ms),
            date(f.changed_ms),
            f.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

async fn export(args: BundleArgs) -> anyhow::Result<()> {
    let config = args.source.load()?;
    let db = open_db(&config).await?;
    let result = berth_core::vulns::export(&db, &args.file).await;
    db.close().await;
    for (feed, records) in result? {
        println!("{feed}: {records} records");
    }
    println!("wrote {}", args.file.display());
    Ok(())
}

async fn import(args: BundleArgs) -> anyhow::Result<()> {
    let config = args.source.load()?;
    // The whole file is checked before anything is written.
    let bundle = Bundle::read(&args.file).await?;
    let site = config.notifications()?.site;
    let db = open_db(&config).await?;
    let result = bundle.import(&db, Some(&site)).await;
    db.close().await;
    for (feed, records, rematched) in result? {
        println!("{feed}: {records} records ({rematched} images matched again)");
    }
    Ok(())
}
