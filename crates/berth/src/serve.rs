//! `berth serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use berth_core::{Indexer, Registry, RegistryConfig};
use berth_server::ServerConfig;
use berth_store::{Db, LocalBlobStore};

use crate::config::Config;

/// Flags of `berth serve`; each overrides the config file.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:5000 or [::1]:5000.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the embedded database and blobs.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// YAML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Metadata database URI (postgresql://...); default: SQLite in the data dir.
    #[arg(long)]
    db_uri: Option<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.LISTEN_ADDRESS = listen;
    }
    if let Some(dir) = args.data_dir {
        config.DATA_DIR = dir;
    }
    if let Some(uri) = args.db_uri {
        config.DB_URI = Some(uri);
    }
    let db = match &config.DB_URI {
        Some(uri) => Db::open(uri).await.context("opening the metadata database")?,
        None => Db::open_sqlite(&config.DATA_DIR)
            .await
            .context("opening the embedded database")?,
    };
    let blobs = LocalBlobStore::open(&config.DATA_DIR).context("opening blob storage")?;
    let registry = Registry::new(
        db.clone(),
        Arc::new(blobs),
        RegistryConfig {
            manifest_size_limit: config.MANIFEST_SIZE_LIMIT,
            index_images: config.FEATURE_SECURITY_SCANNER,
        },
    );
    let orphans = registry
        .remove_orphaned_uploads()
        .await
        .context("cleaning staged uploads")?;
    if orphans > 0 {
        tracing::info!(orphans, "removed staged upload data no session owned");
    }
    let server_config = ServerConfig {
        max_concurrent_requests: config.MAX_CONCURRENT_REQUESTS,
        ..ServerConfig::default()
    };
    // The indexer works the queue of pushed images until the server stops.
    let (stop_indexer, indexer_stopped) = tokio::sync::oneshot::channel::<()>();
    let indexer = config.FEATURE_SECURITY_SCANNER.then(|| {
        let indexer = Indexer::new(registry.clone());
        tokio::spawn(indexer.run(async {
            let _ = indexer_stopped.await;
        }))
    });
    let router = berth_server::router(registry, &server_config);
    let listener = tokio::net::TcpListener::bind(config.LISTEN_ADDRESS)
        .await
        .with_context(|| format!("listening on {}", config.LISTEN_ADDRESS))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        metadata = db.backend(),
        data_dir = %config.DATA_DIR.display(),
        "berth {} ready",
        env!("CARGO_PKG_VERSION")
    );
    tracing::warn!("authentication is not configured: anonymous pushes are accepted from loopback only");
    // Tests and scripts read this line to learn the port.
    println!("listening on http://{addr}");
    berth_server::serve(listener, router, shutdown_signal()).await?;
    let _ = stop_indexer.send(());
    if let Some(task) = indexer {
        let _ = task.await;
    }
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(%e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(%e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
