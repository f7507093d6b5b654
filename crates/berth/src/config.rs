//! `config.yaml`: Quay's field names where they mean the same thing, with
//! `BERTH_<FIELD>` environment overrides and command-line flags on top.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized};
use serde::{Deserialize, Serialize};

/// The registry's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct Config {
    /// Address to listen on (IPv4 or IPv6, with port).
    pub LISTEN_ADDRESS: SocketAddr,
    /// Directory for the embedded database and local blob storage.
    pub DATA_DIR: PathBuf,
    /// Metadata database; `postgresql://...` selects PostgreSQL, unset means
    /// SQLite inside `DATA_DIR`.
    pub DB_URI: Option<String>,
    /// Requests handled at once before answering 429.
    pub MAX_CONCURRENT_REQUESTS: usize,
    /// Largest manifest accepted, in bytes.
    pub MANIFEST_SIZE_LIMIT: usize,
    /// Index every pushed image in the background (package inventory).
    pub FEATURE_SECURITY_SCANNER: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            LISTEN_ADDRESS: SocketAddr::from(([127, 0, 0, 1], 5000)),
            DATA_DIR: PathBuf::from("berth-data"),
            DB_URI: None,
            MAX_CONCURRENT_REQUESTS: 1024,
            MANIFEST_SIZE_LIMIT: 4 * 1024 * 1024,
            FEATURE_SECURITY_SCANNER: true,
        }
    }
}

impl Config {
    /// Defaults, then the YAML file (if any), then `BERTH_*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            figment = figment.merge(serde_saphyr::figment::Yaml::string(&text));
        }
        figment = figment.merge(Env::prefixed("BERTH_").lowercase(false));
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        if config.MANIFEST_SIZE_LIMIT < 4 * 1024 * 1024 {
            anyhow::bail!("invalid configuration: MANIFEST_SIZE_LIMIT must be at least 4194304 (4 MiB)");
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_overrides_defaults_and_rejects_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            "DB_URI: postgresql://u@127.0.0.1/db\nLISTEN_ADDRESS: \"[::1]:5001\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.DB_URI.as_deref(), Some("postgresql://u@127.0.0.1/db"));
        assert_eq!(c.LISTEN_ADDRESS, "[::1]:5001".parse().unwrap());
        std::fs::write(&path, "DB_URL: x\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
        std::fs::write(&path, "MANIFEST_SIZE_LIMIT: 10\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
    }
}
