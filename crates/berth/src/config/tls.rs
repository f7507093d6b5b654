//! The TLS part of the configuration: Quay's `ssl.cert` and `ssl.key`
//! beside the config file (or `SSL_CERT_PATH` and `SSL_KEY_PATH`),
//! `SSL_PROTOCOLS`, and the scheme of the token realm.

use std::path::Path;

use berth_server::tls::{TlsSettings, TlsVersion};

use super::{Config, Problem};

/// Quay's names for the files beside its config file.
const CERT_FILE: &str = "ssl.cert";
const KEY_FILE: &str = "ssl.key";

impl Config {
    pub(super) fn check_tls(&self, problems: &mut Vec<Problem>) {
        if let Err(e) = self.tls_versions() {
            problems.push(Problem::new("SSL_PROTOCOLS", e));
        }
        match (&self.SSL_CERT_PATH, &self.SSL_KEY_PATH) {
            (Some(_), None) => problems.push(Problem::new(
                "SSL_KEY_PATH",
                "must be set too when SSL_CERT_PATH is: HTTPS needs both",
            )),
            (None, Some(_)) => problems.push(Problem::new(
                "SSL_CERT_PATH",
                "must be set too when SSL_KEY_PATH is: HTTPS needs both",
            )),
            _ => {}
        }
    }

    fn tls_versions(&self) -> Result<Vec<TlsVersion>, String> {
        if self.SSL_PROTOCOLS.is_empty() {
            return Err("SSL_PROTOCOLS must name at least one of TLSv1.2, TLSv1.3".into());
        }
        let mut versions = Vec::new();
        for name in &self.SSL_PROTOCOLS {
            let version: TlsVersion = name.parse().map_err(|e| format!("SSL_PROTOCOLS: {e}"))?;
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        Ok(versions)
    }

    /// What to serve HTTPS with, if anything: `SSL_CERT_PATH` and
    /// `SSL_KEY_PATH` (relative paths are relative to the config file's
    /// directory), else `ssl.cert` and `ssl.key` beside `config_file` when
    /// either is there. `None`: plain HTTP.
    pub fn tls(&self, config_file: Option<&Path>) -> Result<Option<TlsSettings>, String> {
        let dir = config_file.and_then(Path::parent).unwrap_or(Path::new(""));
        let (cert, key) = match (&self.SSL_CERT_PATH, &self.SSL_KEY_PATH) {
            (Some(cert), Some(key)) => (dir.join(cert), dir.join(key)),
            (None, None) => {
                let Some(_) = config_file else {
                    return Ok(None);
                };
                let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
                match (present(&cert)?, present(&key)?) {
                    (false, false) => return Ok(None),
                    (true, false) => return Err(missing(&cert, &key)),
                    (false, true) => return Err(missing(&key, &cert)),
                    (true, true) => (cert, key),
                }
            }
            // Refused when the configuration was loaded.
            _ => return Err("SSL_CERT_PATH and SSL_KEY_PATH must be set together".into()),
        };
        Ok(Some(TlsSettings {
            cert,
            key,
            versions: self.tls_versions()?,
        }))
    }

    /// The scheme of the token realm: `PREFERRED_URL_SCHEME` if set, else
    /// `https` when serving HTTPS and `http` otherwise.
    pub fn url_scheme(&self, tls: bool) -> String {
        match &self.PREFERRED_URL_SCHEME {
            Some(scheme) => scheme.clone(),
            None if tls => "https".into(),
            None => "http".into(),
        }
    }
}

fn present(path: &Path) -> Result<bool, String> {
    path.try_exists()
        .map_err(|e| format!("cannot look for {}: {e}", path.display()))
}

fn missing(found: &Path, absent: &Path) -> String {
    format!(
        "{} is there but {} is missing: HTTPS needs both the certificate and its key",
        found.display(),
        absent.display()
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn config(yaml: &str) -> (tempfile::TempDir, PathBuf, Result<Config, String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        let c = Config::load(Some(&path)).map_err(|e| e.to_string());
        (dir, path, c)
    }

    #[test]
    fn files_beside_the_config_turn_https_on() {
        let (dir, path, c) = config("LISTEN_ADDRESS: 127.0.0.1:0\n");
        let c = c.unwrap();
        assert!(c.tls(Some(&path)).unwrap().is_none(), "no files: plain HTTP");
        assert!(c.tls(None).unwrap().is_none());
        assert_eq!(c.url_scheme(false), "http");
        assert_eq!(c.url_scheme(true), "https", "TLS on and no preference: https");

        std::fs::write(dir.path().join("ssl.cert"), "x").unwrap();
        let e = c.tls(Some(&path)).unwrap_err();
        assert!(e.contains("ssl.key is missing"), "{e}");
        std::fs::write(dir.path().join("ssl.key"), "x").unwrap();
        let tls = c.tls(Some(&path)).unwrap().unwrap();
        assert_eq!(tls.cert, dir.path().join("ssl.cert"));
        assert_eq!(tls.key, dir.path().join("ssl.key"));
        assert_eq!(tls.versions, [TlsVersion::Tls12, TlsVersion::Tls13]);
        std::fs::remove_file(dir.path().join("ssl.cert")).unwrap();
        let e = c.tls(Some(&path)).unwrap_err();
        assert!(e.contains("ssl.cert is missing"), "{e}");
    }

    #[test]
    fn explicit_paths_are_relative_to_the_config_file() {
        let (dir, path, c) = config(
            "SSL_CERT_PATH: certs/server.pem\nSSL_KEY_PATH: /etc/keys/server.key\nSSL_PROTOCOLS: ['TLSv1.3']\nPREFERRED_URL_SCHEME: http\n",
        );
        let c = c.unwrap();
        let tls = c.tls(Some(&path)).unwrap().unwrap();
        assert_eq!(tls.cert, dir.path().join("certs/server.pem"));
        assert_eq!(tls.key, Path::new("/etc/keys/server.key"));
        assert_eq!(tls.versions, [TlsVersion::Tls13]);
        assert_eq!(c.url_scheme(true), "http", "an explicit preference wins");
    }

    #[test]
    fn bad_tls_settings_are_refused_with_a_reason() {
        let err = |yaml: &str| config(yaml).2.unwrap_err();
        for old in ["TLSv1", "TLSv1.1", "SSLv3"] {
            let e = err(&format!("SSL_PROTOCOLS: ['TLSv1.2', '{old}']\n"));
            assert!(
                e.contains("SSL_PROTOCOLS") && e.contains(old) && e.contains("not supported"),
                "{e}"
            );
        }
        let e = err("SSL_PROTOCOLS: ['TLSv1.4']\n");
        assert!(
            e.contains("SSL_PROTOCOLS") && e.contains("unknown protocol \"TLSv1.4\""),
            "{e}"
        );
        assert!(err("SSL_PROTOCOLS: []\n").contains("at least one"));
        assert!(err("SSL_CERT_PATH: a.pem\n").contains("SSL_KEY_PATH: must be set too"));
        assert!(err("SSL_KEY_PATH: a.key\n").contains("SSL_CERT_PATH: must be set too"));
        assert!(err("PREFERRED_URL_SCHEME: ftp\n").contains("PREFERRED_URL_SCHEME"));
    }
}
