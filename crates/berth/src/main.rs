//! `berth`: the command-line entry point. Thin: parse arguments and config,
//! hand over to the server, the scanner or administration.

mod admin;
mod autoprune;
mod backup;
mod config;
mod gc;
mod logging;
mod scan;
mod serve;
mod source;
mod vulndb;

use clap::{Parser, Subcommand};

/// Berth, a container image registry.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry (SQLite + ./berth-data on 127.0.0.1:5000 by default).
    Serve(serve::ServeArgs),
    /// Index images: list every package with the layer that added it.
    Scan(scan::ScanArgs),
    /// Administer users and signing keys, offline (safe while servers run).
    Admin(admin::AdminArgs),
    /// Collect garbage once: everything collectable now (safe while servers run).
    Gc(gc::GcArgs),
    /// Apply the auto-prune policies once (safe while servers run).
    Autoprune(autoprune::AutopruneArgs),
    /// Check a configuration file offline: `berth config validate --config FILE`.
    Config(config::validate::ConfigArgs),
    /// Back up the registry while it runs (see the README for PostgreSQL and S3).
    Backup(backup::BackupArgs),
    /// Build a fresh data directory from a backup.
    Restore(backup::restore::RestoreArgs),
    /// Vulnerability feeds: `update` them now, or show their `status`.
    Vulndb(vulndb::VulndbArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Commands that read a configuration install logging once they have
    // it (`LOGS_FORMAT`); the scanner logs as text.
    match cli.command {
        Command::Scan(_) => logging::init(logging::LogsFormat::Text),
        // Offline and quick: no runtime, no logging.
        Command::Config(args) => return config::validate::run(args),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Scan(args) => runtime.block_on(scan::run(args)),
        Command::Admin(args) => runtime.block_on(admin::run(args)),
        Command::Gc(args) => runtime.block_on(gc::run(args)),
        Command::Autoprune(args) => runtime.block_on(autoprune::run(args)),
        Command::Config(_) => Ok(()),
        Command::Backup(args) => runtime.block_on(backup::run(args)),
        Command::Restore(args) => runtime.block_on(backup::restore::run(args)),
        Command::Vulndb(args) => runtime.block_on(vulndb::run(args)),
    };
    // Each command finishes its own work before returning (a server its
    // requests, the usage log and the database). A blocking task still
    // reading a layer for the background indexer is abandoned, not waited
    // for: waiting would let it find its runtime gone.
    runtime.shutdown_background();
    result
}
