//! HTTPS for tests: a throwaway certificate authority (rcgen), server
//! certificates for the loopback addresses it signs, and registries
//! started with Quay's `ssl.cert` and `ssl.key` beside their config file.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use super::{Server, admin_client_builder, create_pg_database, pg_base_uri, storage::TestStorage};

/// A certificate authority of one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate (PEM) and its private key (PEM).
pub struct ServerCert {
    pub cert: String,
    pub key: String,
    /// The certificate, DER, to compare with what a connection got.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A fresh certificate for `127.0.0.1`, `::1` and `localhost`, with a
    /// key of its own (so a new serial and fingerprint every time).
    pub fn server_cert(&self) -> ServerCert {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".into(), "::1".into(), "localhost".into()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ServerCert {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A directory holding this CA as `ca.crt`, as the containers tools'
    /// `--cert-dir` wants it.
    pub fn cert_dir(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), self.pem()).unwrap();
        dir
    }

    /// `builder` trusting this CA and nothing else, reporting TLS details
    /// on every response.
    pub fn trust(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder
            .tls_certs_only([reqwest::Certificate::from_pem(self.pem().as_bytes()).unwrap()])
            .tls_info(true)
    }

    /// A client with no credentials trusting only this CA.
    pub fn client(&self) -> reqwest::Client {
        self.trust(reqwest::Client::builder()).build().unwrap()
    }
}

/// Write `ssl.cert` and `ssl.key` into `dir`.
pub fn write_files(dir: &Path, cert: &ServerCert) {
    std::fs::write(dir.join("ssl.cert"), &cert.cert).unwrap();
    std::fs::write(dir.join("ssl.key"), &cert.key).unwrap();
}

/// The DER certificate a response's connection was served, and its TLS
/// version.
pub fn served(r: &reqwest::Response) -> (Vec<u8>, reqwest::tls::Version) {
    let info = r.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    (info.peer_certificate().unwrap().to_vec(), info.version().unwrap())
}

impl Server {
    /// Start a fresh registry serving HTTPS with `cert` (`ssl.cert` and
    /// `ssl.key` beside its `config.yaml`); its clients trust only `ca`.
    pub async fn start_tls(ca: &TestCa, cert: &ServerCert, yaml: &str) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        write_files(data_dir.path(), cert);
        let db = pg_base_uri().map(|base| create_pg_database(&base));
        let storage = TestStorage::for_server(data_dir.path());
        let mut s = Server::start_member(data_dir, db, storage, yaml).await;
        assert_eq!(s.scheme, "https", "the server announces HTTPS");
        s.client = ca.trust(admin_client_builder()).build().unwrap();
        s.anon = ca.client();
        s
    }

    /// Send SIGHUP.
    pub fn hangup(&self) {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}
