//! HTTPS: the rustls server configuration, built from a PEM certificate
//! chain and private key, offering HTTP/2 and HTTP/1.1 through ALPN, and
//! replaceable while serving (new connections get the new certificate,
//! open ones keep theirs).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{Error as RustlsError, InconsistentKeys, SupportedProtocolVersion};
use tokio::net::TcpListener;

/// A TLS protocol version the server may offer, named as in Quay's
/// `SSL_PROTOCOLS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// `TLSv1.2`.
    Tls12,
    /// `TLSv1.3`.
    Tls13,
}

impl TlsVersion {
    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        })
    }
}

/// A protocol name that is not `TLSv1.2` or `TLSv1.3`.
#[derive(Debug, thiserror::Error)]
pub enum UnsupportedVersion {
    /// An old protocol with known weaknesses (rustls does not implement it).
    #[error("{0} is not supported (obsolete and insecure); use TLSv1.2 and/or TLSv1.3")]
    Obsolete(String),
    /// Not a protocol name at all.
    #[error("unknown protocol {0:?}; use TLSv1.2 and/or TLSv1.3")]
    Unknown(String),
}

impl FromStr for TlsVersion {
    type Err = UnsupportedVersion;

    fn from_str(name: &str) -> Result<TlsVersion, UnsupportedVersion> {
        match name {
            "TLSv1.2" => Ok(TlsVersion::Tls12),
            "TLSv1.3" => Ok(TlsVersion::Tls13),
            "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.0" | "TLSv1.1" => {
                Err(UnsupportedVersion::Obsolete(name.to_owned()))
            }
            _ => Err(UnsupportedVersion::Unknown(name.to_owned())),
        }
    }
}

/// Where the certificate and key are, and which protocol versions to offer.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of that certificate.
    pub key: PathBuf,
    /// Versions offered; at least one.
    pub versions: Vec<TlsVersion>,
}

/// Why a certificate and key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no usable PEM certificate.
    #[error("{}: no valid PEM certificate: {reason}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file holds no usable PEM private key.
    #[error("{}: no valid PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("the private key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The crypto provider refused the versions asked for.
    #[error("SSL_PROTOCOLS: {0}")]
    Versions(RustlsError),
}

/// The rustls server configuration for `settings`, with every
/// cryptographic operation done by `provider`, offering `h2` and
/// `http/1.1`. Fails, naming the file, on unreadable or invalid PEM or a
/// key that is not the certificate's.
pub fn server_config(
    provider: Arc<CryptoProvider>,
    settings: &TlsSettings,
) -> Result<rustls::ServerConfig, TlsError> {
    build(provider, settings).map(|(config, _)| config)
}

/// [`server_config`], and the `sha256:<hex>` fingerprint of the server
/// certificate it serves (for logs).
fn build(
    provider: Arc<CryptoProvider>,
    settings: &TlsSettings,
) -> Result<(rustls::ServerConfig, String), TlsError> {
    let chain = read_chain(&settings.cert)?;
    let fingerprint = format!("sha256:{}", hex::encode(berth_core::crypto::sha256(&[&chain[0]])));
    let key = read_key(&settings.key)?;
    let versions: Vec<_> = settings.versions.iter().map(|v| v.rustls()).collect();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(TlsError::Versions)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            RustlsError::InconsistentKeys(InconsistentKeys::KeyMismatch) => TlsError::Mismatch {
                cert: settings.cert.clone(),
                key: settings.key.clone(),
            },
            // The certificate was parsed already: the key is what failed.
            other => TlsError::Key {
                path: settings.key.clone(),
                reason: other.to_string(),
            },
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, fingerprint))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_reason(e: pem::Error) -> String {
    match e {
        pem::Error::NoItemsFound => "none found".into(),
        other => other.to_string(),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::Certificate {
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_reason(e)))?;
    if chain.is_empty() {
        return Err(bad("none found".into()));
    }
    // Parse the leaf now, so a PEM block holding garbage is named here
    // rather than failing every handshake later.
    rustls::server::ParsedCertificate::try_from(&chain[0]).map_err(|e| bad(e.to_string()))?;
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(&read(path)?).map_err(|e| TlsError::Key {
        path: path.to_owned(),
        reason: pem_reason(e),
    })
}

/// A server's TLS configuration, replaceable while it serves.
#[derive(Clone)]
pub struct Tls {
    current: RustlsConfig,
    provider: Arc<CryptoProvider>,
    settings: Arc<TlsSettings>,
}

impl Tls {
    /// Load the certificate and key named by `settings`; returns the
    /// certificate's fingerprint too.
    pub fn load(provider: Arc<CryptoProvider>, settings: TlsSettings) -> Result<(Tls, String), TlsError> {
        let (config, fingerprint) = build(provider.clone(), &settings)?;
        let tls = Tls {
            current: RustlsConfig::from_config(Arc::new(config)),
            provider,
            settings: Arc::new(settings),
        };
        Ok((tls, fingerprint))
    }

    /// Where the certificate and key are read from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Read the files again and serve them to new connections; returns the
    /// new certificate's fingerprint. On error nothing changes. Two small
    /// local files, read once per reload: reading them here blocks no one
    /// for long.
    pub fn reload(&self) -> Result<String, TlsError> {
        let (config, fingerprint) = build(self.provider.clone(), &self.settings)?;
        self.current.reload_from_config(Arc::new(config));
        Ok(fingerprint)
    }
}

/// How often an idle HTTP/2 connection is pinged, and how long an answer
/// may take.
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);

/// [`crate::serve`] over TLS: serve `router` on `listener` until
/// `shutdown` resolves, then finish the requests in flight. A connection
/// whose handshake fails (a plain-HTTP client, an untrusted certificate)
/// is closed and logged at debug level; nothing else notices.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: &Tls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    tokio::spawn({
        let handle = handle.clone();
        async move {
            shutdown.await;
            // No deadline, as for plain HTTP: requests in flight finish.
            handle.graceful_shutdown(None);
        }
    });
    let mut server = axum_server::Server::from_listener(listener)
        .acceptor(
            // As for plain HTTP (see crate::serve).
            RustlsAcceptor::new(tls.current.clone()).acceptor(axum_server::accept::NoDelayAcceptor::new()),
        )
        .handle(handle);
    // An HTTP/2 connection ends gracefully only once the client answers a
    // ping; one whose peer stops answering is closed, so neither a dead
    // nor a frozen client holds a shutdown (or a socket) forever.
    server
        .http_builder()
        .http2()
        .keep_alive_interval(Some(H2_PING_INTERVAL))
        .keep_alive_timeout(H2_PING_INTERVAL);
    server
        .accept_error_handler(|peer: Option<&SocketAddr>, e: &std::io::Error| {
            tracing::debug!(?peer, %e, "connection closed before any request");
        })
        .serve(router.into_make_service_with_connect_info::<SocketAddr>())
        .await
}
