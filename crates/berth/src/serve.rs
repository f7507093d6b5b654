//! `berth serve`.

mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_core::registry::WriteMode;
use berth_core::vulns::VulnUpdater;
use berth_core::{Identity, Indexer, Registry};
use berth_server::ServerConfig;
use berth_store::{BlobStore, Db, LocalBlobStore, PoolSettings, S3BlobStore, S3Settings};

use crate::config::{Config, StorageDriver};

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

/// How long after the server listens its background work begins: on few
/// cores the workers' first rounds would slow the first answers (a client's
/// first `GET /v2/`, a readiness probe).
const BACKGROUND_DELAY: Duration = Duration::from_millis(100);

/// `work`, begun [`BACKGROUND_DELAY`] from now.
async fn delayed<F: std::future::Future>(work: F) -> F::Output {
    tokio::time::sleep(BACKGROUND_DELAY).await;
    work.await
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    crate::logging::init(config.LOGS_FORMAT);
    for key in &config.ignored_quay_keys {
        tracing::warn!(key = %key.path, "{}", key.reason);
    }
    // First, so that no event of the start-up or the workers goes uncounted.
    let metrics = berth_server::metrics::Metrics::install().context("installing the metrics recorder")?;
    if let Some(listen) = args.listen {
        config.LISTEN_ADDRESS = listen;
    }
    if let Some(dir) = args.data_dir {
        config.DATA_DIR = dir;
    }
    if let Some(uri) = args.db_uri {
        config.DB_URI = Some(uri);
    }
    config.enter_crypto_mode()?;
    // Before anything else: a bad certificate fails the start at once.
    let tls = tls::load(&config, args.config.as_deref())?;
    let db = open_db(&config).await?;
    let identity = Identity::start(db.clone(), config.identity())
        .await
        .context("starting identity and access")?;
    let (blobs, storage) = open_blob_store(&config)?;
    // Bound before the registry is made: notification payloads name the
    // address actually listened on (the port may have been 0).
    let listener = tokio::net::TcpListener::bind(config.LISTEN_ADDRESS)
        .await
        .with_context(|| format!("listening on {}", config.LISTEN_ADDRESS))?;
    let addr = listener.local_addr()?;
    let mut registry_config = config.registry()?;
    registry_config.notifications.site.scheme = config.url_scheme(tls.is_some());
    if config.SERVER_HOSTNAME.is_none() {
        registry_config.notifications.site.host = addr.to_string();
    }
    if registry_config.blob_redirect.is_some() && !storage.starts_with("s3://") {
        tracing::warn!("FEATURE_BLOB_REDIRECTS has no effect on local storage: blobs are served directly");
    }
    let registry = Registry::new(db.clone(), blobs, registry_config, identity.clone());
    match config.write_mode() {
        WriteMode::ReadOnly => tracing::warn!("REGISTRY_STATE is readonly: every write is refused"),
        WriteMode::PushesDisabled => tracing::warn!("DISABLE_PUSHES is set: pushes are refused"),
        WriteMode::Normal => {}
    }
    // Fails fast on unreachable storage or wrong credentials. Safe while
    // other instances serve: staged data always has a session row first.
    let orphans = registry
        .remove_orphaned_uploads()
        .await
        .with_context(|| format!("checking blob storage {storage}"))?;
    if orphans > 0 {
        tracing::info!(orphans, "removed staged upload data no session owned");
    }
    // Only once storage is known to work: a start that fails prints nothing.
    first_start_admin(&config, &identity).await?;
    let server_config = ServerConfig {
        max_concurrent_requests: config.MAX_CONCURRENT_REQUESTS,
        server_hostname: config.SERVER_HOSTNAME.clone(),
        url_scheme: config.url_scheme(tls.is_some()),
        metrics: Some(metrics.clone()),
    };
    // Before the workers start: on few cores their first rounds would
    // slow building the routes, which the first answer waits for.
    let metrics_router = berth_server::metrics::router(registry.clone(), metrics);
    let router = berth_server::router(registry.clone(), identity.clone(), &server_config);
    // Every instance runs the workers; the database shares the work out.
    let workers = tokio::spawn({
        let registry = registry.clone();
        delayed(async move { registry.run_workers().await })
    });
    // The indexer works the queue of pushed images until the server stops.
    let (stop_indexer, indexer_stopped) = tokio::sync::oneshot::channel::<()>();
    let indexer = config.FEATURE_SECURITY_SCANNER.then(|| {
        let indexer = Indexer::new(registry.clone());
        tokio::spawn(delayed(indexer.run(async {
            let _ = indexer_stopped.await;
        })))
    });
    // Notification deliveries, on every instance; the database shares them out.
    let (stop_notifier, notifier_stopped) = tokio::sync::oneshot::channel::<()>();
    let notifier = tokio::spawn(delayed(berth_core::Notifier::new(registry.clone()).run(async {
        let _ = notifier_stopped.await;
    })));
    // Feed updates: every instance runs the loop; each feed's claim in the
    // database lets one instance at a time update it.
    let (stop_updater, updater_stopped) = tokio::sync::oneshot::channel::<()>();
    let updater = if config.FEATURE_SECURITY_SCANNER
        && !config.SECURITY_SCANNER_DISABLE_UPDATERS
        && config.write_mode() != WriteMode::ReadOnly
    {
        let mut updaters = config
            .updaters()
            .map_err(|p| anyhow::anyhow!("invalid configuration: {p}"))?;
        updaters.site = Some(registry.config().notifications.site.clone());
        let updater = VulnUpdater::new(db.clone(), updaters).context("starting the feed updater")?;
        Some(tokio::spawn(updater.run(async {
            let _ = updater_stopped.await;
        })))
    } else {
        None
    };
    let metrics_listener = match config.METRICS_LISTEN {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening for metrics on {addr}"))?,
        ),
        None => None,
    };
    tracing::info!(
        metadata = db.backend(),
        %storage,
        "berth {} ready",
        env!("CARGO_PKG_VERSION")
    );
    // Listen for SIGTERM before announcing the address, so a stop right
    // after the announcement is a graceful one.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let reloader = tls.clone().map(tls::reload_on_sighup).transpose()?;
    let metrics_server = match metrics_listener {
        Some(listener) => {
            let addr = listener.local_addr()?;
            println!("metrics on http://{addr}/metrics");
            Some(tokio::spawn(berth_server::serve(
                listener,
                metrics_router,
                std::future::pending(),
            )))
        }
        None => None,
    };
    // Off the start-up path, and after the first answers (it keeps a core
    // busy for tens of milliseconds): the first token or upload id needs it.
    tokio::spawn(delayed(async {
        tokio::task::spawn_blocking(berth_core::crypto::warm_up_random).await
    }));
    // Tests and scripts read this line to learn the port (last: once it
    // is printed, everything listens).
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{addr}");
    match &tls {
        Some(tls) => berth_server::tls::serve_tls(listener, router, tls, shutdown_signal(term)).await?,
        None => berth_server::serve(listener, router, shutdown_signal(term)).await?,
    }
    if let Some(task) = metrics_server {
        task.abort();
    }
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    workers.abort();
    identity.audit().flush().await;
    registry.flush_pull_stats().await;
    let _ = stop_indexer.send(());
    let _ = stop_notifier.send(());
    let _ = notifier.await;
    if let Some(task) = indexer {
        let _ = task.await;
    }
    // An update in flight is dropped; its claim lapses and nothing half
    // written stays (each source is stored in one transaction).
    let _ = stop_updater.send(());
    if let Some(task) = updater {
        let _ = task.await;
    }
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The configured metadata database, migrated.
pub async fn open_db(config: &Config) -> anyhow::Result<Db> {
    let pools = PoolSettings {
        max_connections: config.DB_CONNECTION_ARGS.max_connections,
    };
    Ok(match &config.DB_URI {
        Some(uri) => Db::open(uri, pools)
            .await
            .context("opening the metadata database")?,
        None => Db::open_sqlite(&config.DATA_DIR, pools)
            .await
            .context("opening the embedded database")?,
    })
}

/// On the first start of the embedded default, with no users yet, create
/// the `admin` superuser with a random password and print it, once.
async fn first_start_admin(config: &Config, identity: &Identity) -> anyhow::Result<()> {
    if config.DB_URI.is_some() || identity.has_users().await? {
        return Ok(());
    }
    let password = berth_core::identity::secrets::random_password();
    identity
        .create_user("admin", None, &password, true)
        .await
        .context("creating the first superuser")?;
    // Printed, not logged: it is shown once, to whoever started the server.
    println!("created superuser \"admin\" with password {password}");
    println!("log in with: podman login {}", config.LISTEN_ADDRESS);
    tracing::info!("created the first superuser \"admin\"; its password was printed on standard output");
    Ok(())
}

/// The configured blob store, and a description of it for logs (no
/// secrets).
pub fn open_blob_store(config: &Config) -> anyhow::Result<(Arc<dyn BlobStore>, String)> {
    let storage = config
        .storage()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let local = |dir: &std::path::Path| -> anyhow::Result<(Arc<dyn BlobStore>, String)> {
        let store = LocalBlobStore::open(dir).context("opening blob storage")?;
        Ok((Arc::new(store), format!("local:{}", dir.display())))
    };
    match storage {
        None => local(&config.DATA_DIR),
        Some(StorageDriver::Local(l)) => local(&l.storage_path),
        Some(StorageDriver::S3(s3)) => {
            let settings = S3Settings {
                endpoint: s3
                    .endpoint()
                    .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?,
                bucket: s3.s3_bucket.clone(),
                region: s3.s3_region.clone(),
                access_key: s3.s3_access_key.clone(),
                secret_key: s3.s3_secret_key.clone(),
                prefix: s3.storage_path.trim_matches('/').to_owned(),
                // Its requests carry an MD5, which FIPS mode does not use.
                bulk_delete: !config.FEATURE_FIPS,
            };
            let store = S3BlobStore::open(&settings).context("configuring S3 storage")?;
            Ok((
                Arc::new(store),
                format!("s3://{}/{}", settings.bucket, settings.prefix),
            ))
        }
    }
}

async fn shutdown_signal(mut term: tokio::signal::unix::Signal) {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(%e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        term.recv().await;
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
