//! HTTPS for `berth serve`: the crypto provider, loading the certificate
//! at start and loading it again on SIGHUP.

use std::path::Path;
use std::sync::Arc;

use berth_server::tls::Tls;
use rustls::crypto::CryptoProvider;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

use crate::config::Config;

/// The provider behind every TLS handshake the server makes: the FIPS
/// module's, restricted to approved algorithms, in FIPS mode.
fn crypto_provider(fips: bool) -> anyhow::Result<Arc<CryptoProvider>> {
    Ok(Arc::new(berth_core::crypto::tls_provider(fips)?))
}

/// The configured certificate and key, loaded; `None` for plain HTTP.
/// Invalid files fail the start, naming the file.
pub fn load(config: &Config, config_file: Option<&Path>) -> anyhow::Result<Option<Tls>> {
    let Some(settings) = config
        .tls(config_file)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?
    else {
        return Ok(None);
    };
    let (tls, fingerprint) = Tls::load(crypto_provider(config.FEATURE_FIPS)?, settings)
        .map_err(|e| anyhow::anyhow!("invalid TLS configuration: {e}"))?;
    tracing::info!(
        cert = %tls.settings().cert.display(),
        %fingerprint,
        "serving HTTPS (HTTP/2 and HTTP/1.1); SIGHUP reloads the certificate"
    );
    if config.PREFERRED_URL_SCHEME.as_deref() == Some("http") {
        tracing::warn!(
            "PREFERRED_URL_SCHEME is http while serving HTTPS: clients are sent to an http:// token realm"
        );
    }
    Ok(Some(tls))
}

/// Load the certificate again on every SIGHUP, until the task is aborted.
/// A new certificate that does not load is logged and the current one
/// kept. The handler is installed before this returns, so a SIGHUP after
/// the start is never fatal.
pub fn reload_on_sighup(tls: Tls) -> anyhow::Result<JoinHandle<()>> {
    let mut hangups =
        signal(SignalKind::hangup()).map_err(|e| anyhow::anyhow!("listening for SIGHUP: {e}"))?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(fingerprint) => {
                    tracing::info!(%fingerprint, "SIGHUP: reloaded the TLS certificate for new connections");
                }
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: TLS certificate not reloaded; still serving the previous one");
                }
            }
        }
    }))
}
