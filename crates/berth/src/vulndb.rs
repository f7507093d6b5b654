//! `berth vulndb`: the vulnerability feeds of the registry's database.
//! `update` runs every configured feed now (one instance at a time, by the
//! feed's claim, so it is safe while servers run); `status` lists feeds,
//! their last update and record counts.

use anyhow::Context;
use berth_core::vulns::{FeedStatus, VulnUpdater};

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
}

pub async fn run(args: VulndbArgs) -> anyhow::Result<()> {
    match args.command {
        VulndbCommand::Update(source) => update(source).await,
        VulndbCommand::Status(source) => status(source).await,
    }
}

async fn update(source: SourceArgs) -> anyhow::Result<()> {
    let config = source.load()?;
    let updaters = config
        .updaters()
        .map_err(|p| anyhow::anyhow!("invalid configuration: {p}"))?;
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
