//! `config.yaml`: Quay's field names where they mean the same thing, with
//! `BERTH_<FIELD>` environment overrides and command-line flags on top.

mod autoprune;
mod gc;
mod identity;
mod lifecycle;
mod notifications;
mod quay;
mod registry;
mod storage;
mod tls;
pub mod validate;
mod vulns;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Serialized};
use figment::value::Dict;
use serde::{Deserialize, Serialize};

pub use quay::IgnoredKey;
pub use storage::StorageDriver;

/// Longest presigned URL lifetime accepted, in seconds.
const MAX_REDIRECT_EXPIRATION_S: u64 = 3600;

/// `DB_CONNECTION_ARGS`: how the metadata database is connected.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbConnectionArgs {
    /// Most connections this instance opens (PostgreSQL), or SQLite
    /// reader connections.
    pub max_connections: u32,
}

impl Default for DbConnectionArgs {
    fn default() -> Self {
        DbConnectionArgs { max_connections: 16 }
    }
}

/// The registry's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct Config {
    /// Address to listen on (IPv4 or IPv6, with port).
    pub LISTEN_ADDRESS: SocketAddr,
    /// A second address serving only `/metrics` (it is on
    /// `LISTEN_ADDRESS` too), e.g. on a private interface.
    #[serde(default)]
    pub METRICS_LISTEN: Option<SocketAddr>,
    /// Directory for the embedded database and local blob storage.
    pub DATA_DIR: PathBuf,
    /// Metadata database; `postgresql://...` selects PostgreSQL, unset means
    /// SQLite inside `DATA_DIR`.
    pub DB_URI: Option<String>,
    /// Requests handled at once before answering 429.
    pub MAX_CONCURRENT_REQUESTS: usize,
    /// Largest manifest accepted, in bytes.
    pub MANIFEST_SIZE_LIMIT: usize,
    /// Connection pool settings.
    #[serde(default)]
    pub DB_CONNECTION_ARGS: DbConnectionArgs,
    /// Blob storage locations by id; none means `LocalStorage` in `DATA_DIR`.
    #[serde(default)]
    pub DISTRIBUTED_STORAGE_CONFIG: BTreeMap<String, StorageDriver>,
    /// The location to use (exactly one; optional with a single location).
    #[serde(default)]
    pub DISTRIBUTED_STORAGE_PREFERENCE: Vec<String>,
    /// Redirect blob downloads to presigned storage URLs (S3 only).
    pub FEATURE_BLOB_REDIRECTS: bool,
    /// Lifetime of those URLs, in seconds (1 to 3600).
    pub BLOB_REDIRECT_EXPIRATION_S: u64,
    /// How long an instance that dies mid-chunk keeps its upload blocked.
    pub UPLOAD_LEASE_S: u64,
    /// Inactivity after which an upload is abandoned and its data removed.
    pub UPLOAD_EXPIRATION_S: u64,
    /// Index every pushed image in the background (package inventory).
    pub FEATURE_SECURITY_SCANNER: bool,
    /// Vulnerability feeds to update, by name (`debian`, `alpine`, `osv`),
    /// each with optional `url`, `releases` (alpine) and `ecosystems`
    /// (osv). Unset: every feed from its production URL.
    #[serde(default)]
    pub SECURITY_SCANNER_UPDATERS: Option<BTreeMap<String, Option<berth_core::vulns::FeedSettings>>>,
    /// Time between two updates of a feed (`6h`).
    pub SECURITY_SCANNER_UPDATE_INTERVAL: String,
    /// No background feed updates (air-gapped instances).
    pub SECURITY_SCANNER_DISABLE_UPDATERS: bool,
    /// Record `vulnerability_found` when an image is indexed with findings
    /// at or above `NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX`.
    pub FEATURE_SECURITY_SCANNER_NOTIFY_ON_NEW_INDEX: bool,
    /// The least severity a newly indexed image's finding needs to record
    /// `vulnerability_found` (`High`).
    pub NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX: String,
    /// The registry's public host name (and port): the token service name
    /// and the token realm's host. Unset: each request's `Host`.
    pub SERVER_HOSTNAME: Option<String>,
    /// `http` or `https`: the scheme of the token realm URL. Unset:
    /// `https` when serving HTTPS, else `http`.
    pub PREFERRED_URL_SCHEME: Option<String>,
    /// PEM certificate chain to serve HTTPS with (relative to the config
    /// file's directory). Unset: `ssl.cert` beside the config file, if
    /// there.
    pub SSL_CERT_PATH: Option<PathBuf>,
    /// Its PEM private key. Unset: `ssl.key` beside the config file.
    pub SSL_KEY_PATH: Option<PathBuf>,
    /// TLS versions offered: `TLSv1.2`, `TLSv1.3`.
    pub SSL_PROTOCOLS: Vec<String>,
    /// `text` (default) or `json`: one JSON object per log line.
    #[serde(default)]
    pub LOGS_FORMAT: crate::logging::LogsFormat,
    /// Users who are superusers.
    #[serde(default)]
    pub SUPER_USERS: Vec<String>,
    /// Superusers may administer every namespace and repository.
    pub FEATURE_SUPERUSERS_FULL_ACCESS: bool,
    /// Anonymous callers may pull public repositories.
    pub FEATURE_ANONYMOUS_ACCESS: bool,
    /// A push to a namespace that does not exist creates it as an
    /// organization owned by the pusher.
    pub CREATE_NAMESPACE_ON_PUSH: bool,
    /// Repositories created by a push are private (else public).
    pub CREATE_PRIVATE_REPO_ON_PUSH: bool,
    /// Issuer name in registry tokens.
    pub INSTANCE_SERVICE_KEY_SERVICE: String,
    /// Lifetime of registry tokens, in seconds (60 to 86400).
    pub REGISTRY_TOKEN_EXPIRATION_S: u64,
    /// How long a console sign-in lasts, in seconds (Quay's key; 31 days).
    pub PERMANENT_SESSION_LIFETIME: u64,
    /// Time-machine windows an organization or user may choose
    /// (`0s`, `1d`, `1w`, `2w`, `4w`, ...).
    #[serde(default)]
    pub TAG_EXPIRATION_OPTIONS: Vec<String>,
    /// The time-machine window of a namespace that chose none (`2w`).
    pub DEFAULT_TAG_EXPIRATION: String,
    /// Shortest expiration the tag API sets, counted from the tag's start
    /// (`1h`); shorter requests are raised to it.
    pub LABELED_EXPIRATION_MINIMUM: String,
    /// Longest expiration the tag API sets (`104w`).
    pub LABELED_EXPIRATION_MAXIMUM: String,
    /// `normal`, or `readonly`: every write is refused (pulls and reads
    /// work) and background work that changes content pauses.
    pub REGISTRY_STATE: String,
    /// Refuse pushes (deletes and API changes still work).
    pub DISABLE_PUSHES: bool,
    /// Namespace quotas can be configured and are enforced.
    pub FEATURE_QUOTA_MANAGEMENT: bool,
    /// Pushes are checked against quotas.
    pub FEATURE_VERIFY_QUOTA: bool,
    /// Reject limit in bytes of namespaces without a quota; 0: none.
    pub DEFAULT_SYSTEM_REJECT_QUOTA_BYTES: u64,
    /// Count pulls per tag and per manifest (pull statistics).
    pub FEATURE_IMAGE_PULL_STATS: bool,
    /// Store indexes with some child manifests absent (sparse indexes):
    /// needed by a mirror's `architecture_filter`.
    pub FEATURE_SPARSE_INDEX: bool,
    /// With `FEATURE_SPARSE_INDEX`: the architectures a client's push of
    /// an index must include; children of others may be absent. Empty:
    /// every child is required of a client's push.
    #[serde(default)]
    pub SPARSE_INDEX_REQUIRED_ARCHS: Vec<String>,
    /// An auto-prune policy (`{method, value}`) for every namespace
    /// without one of its own.
    #[serde(default)]
    pub DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: Option<autoprune::DefaultPrunePolicy>,
    /// Seconds between two auto-prune passes of an instance; a namespace
    /// is pruned at most once per period.
    pub AUTO_PRUNING_POLL_PERIOD: u64,
    /// Run garbage collection in the background on every instance.
    pub FEATURE_GARBAGE_COLLECTION: bool,
    /// Seconds between two garbage collection passes of an instance.
    pub GARBAGE_COLLECTION_FREQUENCY: u64,
    /// Seconds an untagged manifest or an unreferenced uploaded blob is
    /// kept for the push it may belong to.
    pub PUSH_TEMP_TAG_EXPIRATION_SEC: u64,
    /// Every cryptographic operation through the FIPS 140-3 module; needs
    /// a binary built with `--features fips`.
    pub FEATURE_FIPS: bool,
    /// Encrypts secrets stored in the database (webhook signing secrets);
    /// webhooks cannot be created without it. Keep it when restoring.
    pub DATABASE_SECRET_KEY: Option<String>,
    /// Hosts (names or IP literals, no ports) that webhook and Slack
    /// targets may reach even though they resolve to loopback, private,
    /// link-local or multicast addresses.
    #[serde(default)]
    pub SSRF_ALLOWED_HOSTS: Vec<String>,
    /// SMTP server of e-mail notifications; unset: no e-mail.
    pub MAIL_SERVER: Option<String>,
    /// Its port.
    pub MAIL_PORT: u16,
    /// Require STARTTLS.
    pub MAIL_USE_TLS: bool,
    /// SMTP login.
    pub MAIL_USERNAME: Option<String>,
    /// SMTP password.
    pub MAIL_PASSWORD: Option<String>,
    /// The `From` address of e-mail notifications.
    pub MAIL_DEFAULT_SENDER: String,
    /// Seconds one notification attempt may take.
    pub NOTIFICATION_SEND_TIMEOUT: u64,
    /// Seconds before a failed notification delivery is tried again.
    pub NOTIFICATION_RETRY_DELAY_S: u64,
    /// Whether `repo_image_expiry` notifications fire (on by default: a
    /// notification someone created should not stay silent).
    pub FEATURE_IMAGE_EXPIRY_TRIGGER: bool,
    /// Minutes between two scans of one `repo_image_expiry` notification.
    pub NOTIFICATION_TASK_RUN_MINIMUM_INTERVAL_MINUTES: u64,
    /// Keys of a Quay `config.yaml` the file sets that Berth ignores
    /// (warned about at start).
    #[serde(skip)]
    pub ignored_quay_keys: Vec<IgnoredKey>,
}

/// One thing wrong with a configuration: where, and what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, dotted for nested ones (`DB_CONNECTION_ARGS.max_connections`).
    pub path: String,
    /// What is wrong or expected.
    pub message: String,
}

impl Problem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Messages from shared helpers often name the key already.
        if self.message.starts_with(&self.path) {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            LISTEN_ADDRESS: SocketAddr::from(([127, 0, 0, 1], 5000)),
            METRICS_LISTEN: None,
            DATA_DIR: PathBuf::from("berth-data"),
            DB_URI: None,
            MAX_CONCURRENT_REQUESTS: 1024,
            MANIFEST_SIZE_LIMIT: 4 * 1024 * 1024,
            DB_CONNECTION_ARGS: DbConnectionArgs::default(),
            DISTRIBUTED_STORAGE_CONFIG: BTreeMap::new(),
            DISTRIBUTED_STORAGE_PREFERENCE: Vec::new(),
            FEATURE_BLOB_REDIRECTS: false,
            BLOB_REDIRECT_EXPIRATION_S: 600,
            UPLOAD_LEASE_S: 30,
            UPLOAD_EXPIRATION_S: 24 * 3600,
            FEATURE_SECURITY_SCANNER: true,
            SECURITY_SCANNER_UPDATERS: None,
            SECURITY_SCANNER_UPDATE_INTERVAL: "6h".into(),
            SECURITY_SCANNER_DISABLE_UPDATERS: false,
            FEATURE_SECURITY_SCANNER_NOTIFY_ON_NEW_INDEX: true,
            NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX: "High".into(),
            SERVER_HOSTNAME: None,
            PREFERRED_URL_SCHEME: None,
            SSL_CERT_PATH: None,
            SSL_KEY_PATH: None,
            SSL_PROTOCOLS: ["TLSv1.2", "TLSv1.3"].map(String::from).to_vec(),
            LOGS_FORMAT: crate::logging::LogsFormat::Text,
            SUPER_USERS: Vec::new(),
            FEATURE_SUPERUSERS_FULL_ACCESS: false,
            FEATURE_ANONYMOUS_ACCESS: true,
            CREATE_NAMESPACE_ON_PUSH: false,
            CREATE_PRIVATE_REPO_ON_PUSH: true,
            INSTANCE_SERVICE_KEY_SERVICE: "berth".into(),
            REGISTRY_TOKEN_EXPIRATION_S: 3600,
            PERMANENT_SESSION_LIFETIME: 31 * 86_400,
            TAG_EXPIRATION_OPTIONS: ["0s", "1d", "1w", "2w", "4w"].map(String::from).to_vec(),
            DEFAULT_TAG_EXPIRATION: "2w".into(),
            LABELED_EXPIRATION_MINIMUM: "1h".into(),
            LABELED_EXPIRATION_MAXIMUM: "104w".into(),
            REGISTRY_STATE: "normal".into(),
            DISABLE_PUSHES: false,
            // On, unlike Quay: without a configured quota it costs one
            // indexed lookup per push request.
            FEATURE_QUOTA_MANAGEMENT: true,
            FEATURE_VERIFY_QUOTA: true,
            DEFAULT_SYSTEM_REJECT_QUOTA_BYTES: 0,
            // On, unlike Quay: no Redis to run, and counting costs a pull
            // a map update in memory (measured by bench/pull-stats.sh).
            FEATURE_IMAGE_PULL_STATS: true,
            FEATURE_SPARSE_INDEX: false,
            SPARSE_INDEX_REQUIRED_ARCHS: Vec::new(),
            DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: None,
            AUTO_PRUNING_POLL_PERIOD: 30,
            FEATURE_GARBAGE_COLLECTION: true,
            GARBAGE_COLLECTION_FREQUENCY: 30,
            PUSH_TEMP_TAG_EXPIRATION_SEC: 3600,
            ignored_quay_keys: Vec::new(),
            FEATURE_FIPS: false,
            DATABASE_SECRET_KEY: None,
            SSRF_ALLOWED_HOSTS: Vec::new(),
            MAIL_SERVER: None,
            MAIL_PORT: 587,
            MAIL_USE_TLS: true,
            MAIL_USERNAME: None,
            MAIL_PASSWORD: None,
            MAIL_DEFAULT_SENDER: "berth@localhost".into(),
            NOTIFICATION_SEND_TIMEOUT: 10,
            NOTIFICATION_RETRY_DELAY_S: 30,
            FEATURE_IMAGE_EXPIRY_TRIGGER: true,
            NOTIFICATION_TASK_RUN_MINIMUM_INTERVAL_MINUTES: 300,
        }
    }
}

impl Config {
    /// Defaults, then the YAML file (if any), then `BERTH_*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let mut ignored = Vec::new();
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let mut doc = validate::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if let Some(p) = validate::unsupported_values(&doc).into_iter().next() {
                anyhow::bail!("invalid configuration: {p}");
            }
            ignored = quay::take_quay_only(&mut doc, &Config::keys());
            figment = figment.merge(Serialized::defaults(doc));
        }
        figment = figment.merge(Env::prefixed("BERTH_").lowercase(false));
        let mut config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let problems = config.problems();
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(Problem::to_string).collect();
            anyhow::bail!("invalid configuration: {}", list.join("; "));
        }
        config.ignored_quay_keys = ignored;
        Ok(config)
    }

    /// Turn FIPS mode on if `FEATURE_FIPS` asks; an error if this binary
    /// cannot. Every command that reads the configuration calls it first.
    pub fn enter_crypto_mode(&self) -> anyhow::Result<()> {
        if !self.FEATURE_FIPS {
            return Ok(());
        }
        berth_core::crypto::enable_fips_mode()?;
        // The S3 client reads this from the environment and sends the key's
        // MD5 with every request, outside the module.
        if std::env::var_os("AWS_SSE_CUSTOMER_KEY_BASE64").is_some() {
            anyhow::bail!(
                "FEATURE_FIPS is true, but AWS_SSE_CUSTOMER_KEY_BASE64 (S3 SSE-C) is set: \
                 S3 requires the MD5 of the key with every request"
            );
        }
        tracing::info!(
            module = berth_core::crypto::module_version(),
            "FIPS mode: cryptography through the FIPS 140-3 module"
        );
        if self.DB_URI.as_deref().is_some_and(|u| u.starts_with("postgres")) {
            tracing::warn!(
                "FIPS mode: PostgreSQL password authentication (SCRAM-SHA-256 or MD5) is computed by \
                 the database driver outside the FIPS module; prefer TLS client-certificate authentication"
            );
        }
        Ok(())
    }

    /// The configuration of a YAML document's keys over the defaults.
    fn from_dict(doc: Dict) -> Result<Config, Box<figment::Error>> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Serialized::defaults(doc))
            .extract()
            .map_err(Box::new)
    }

    /// Every top-level key Berth implements.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Every problem of a configuration whose values have the right types.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut add = |path: &str, message: String| problems.push(Problem::new(path, message));
        if self.MANIFEST_SIZE_LIMIT < 4 * 1024 * 1024 {
            add("MANIFEST_SIZE_LIMIT", "must be at least 4194304 (4 MiB)".into());
        }
        if self.DB_CONNECTION_ARGS.max_connections == 0 {
            add("DB_CONNECTION_ARGS.max_connections", "must be at least 1".into());
        }
        if let Some(uri) = &self.DB_URI
            && !["postgresql://", "postgres://", "sqlite://"]
                .iter()
                .any(|s| uri.starts_with(s))
        {
            add(
                "DB_URI",
                "must be a postgresql:// URI (leave it unset for the embedded SQLite database)".into(),
            );
        }
        if !(1..=MAX_REDIRECT_EXPIRATION_S).contains(&self.BLOB_REDIRECT_EXPIRATION_S) {
            add(
                "BLOB_REDIRECT_EXPIRATION_S",
                format!("must be between 1 and {MAX_REDIRECT_EXPIRATION_S}"),
            );
        }
        if !(1..=3600).contains(&self.UPLOAD_LEASE_S) {
            add("UPLOAD_LEASE_S", "must be between 1 and 3600".into());
        }
        if self.UPLOAD_EXPIRATION_S == 0 {
            add("UPLOAD_EXPIRATION_S", "must be at least 1".into());
        }
        if i64::try_from(self.DEFAULT_SYSTEM_REJECT_QUOTA_BYTES).is_err() {
            add(
                "DEFAULT_SYSTEM_REJECT_QUOTA_BYTES",
                format!("must be at most {}", i64::MAX),
            );
        }
        if self
            .SPARSE_INDEX_REQUIRED_ARCHS
            .iter()
            .any(|a| a.trim().is_empty())
        {
            add(
                "SPARSE_INDEX_REQUIRED_ARCHS",
                "must list architecture names (amd64, arm64, ...), none empty".into(),
            );
        }
        match self.storage() {
            Err(e) => add("DISTRIBUTED_STORAGE_PREFERENCE", e),
            Ok(Some(StorageDriver::S3(s3))) => {
                if s3.s3_bucket.is_empty() {
                    add("DISTRIBUTED_STORAGE_CONFIG", "S3Storage needs s3_bucket".into());
                }
                if let Err(e) = s3.endpoint() {
                    add("DISTRIBUTED_STORAGE_CONFIG", e);
                }
            }
            Ok(_) => {}
        }
        self.check_identity(&mut problems);
        self.check_tls(&mut problems);
        self.check_lifecycle(&mut problems);
        self.check_autoprune(&mut problems);
        self.check_notifications(&mut problems);
        self.check_vulns(&mut problems);
        problems
    }

    /// The storage location in use; `None` means `LocalStorage` in
    /// `DATA_DIR`.
    pub fn storage(&self) -> Result<Option<&StorageDriver>, String> {
        let locations = &self.DISTRIBUTED_STORAGE_CONFIG;
        let id = match (self.DISTRIBUTED_STORAGE_PREFERENCE.as_slice(), locations.len()) {
            ([], 0) => return Ok(None),
            ([], 1) => locations.keys().next(),
            ([], _) => {
                return Err("DISTRIBUTED_STORAGE_PREFERENCE must name the location to use".into());
            }
            ([id], _) => Some(id),
            (_, _) => {
                return Err(
                    "DISTRIBUTED_STORAGE_PREFERENCE may name one location: replication is not supported"
                        .into(),
                );
            }
        };
        let id = id.map(String::as_str).unwrap_or_default();
        locations.get(id).map(Some).ok_or_else(|| {
            format!("DISTRIBUTED_STORAGE_PREFERENCE names {id:?}, which DISTRIBUTED_STORAGE_CONFIG does not define")
        })
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

    fn load(yaml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        Config::load(Some(&path))
    }

    fn error(yaml: &str) -> String {
        load(yaml).unwrap_err().to_string()
    }

    #[test]
    fn quay_storage_config_is_understood() {
        let c = load(concat!(
            "DISTRIBUTED_STORAGE_CONFIG:\n",
            "  local: [LocalStorage, {storage_path: /var/lib/berth}]\n",
            "  s3_us:\n",
            "    - S3Storage\n",
            "    - s3_bucket: images\n",
            "      storage_path: /registry\n",
            "      s3_access_key: AKIA1\n",
            "      s3_secret_key: hunter2\n",
            "      s3_region: eu-west-1\n",
            "      endpoint_url: http://127.0.0.1:9000/\n",
            "DISTRIBUTED_STORAGE_PREFERENCE: [s3_us]\n",
            "DB_CONNECTION_ARGS: {max_connections: 5}\n",
            "FEATURE_BLOB_REDIRECTS: true\n",
        ))
        .unwrap();
        let Some(StorageDriver::S3(s3)) = c.storage().unwrap() else {
            panic!("S3 expected");
        };
        assert_eq!(s3.s3_bucket, "images");
        assert_eq!(s3.endpoint().unwrap().as_deref(), Some("http://127.0.0.1:9000"));
        assert!(
            !format!("{c:?}").contains("hunter2"),
            "secrets stay out of debug output"
        );
        assert_eq!(c.DB_CONNECTION_ARGS.max_connections, 5);
        assert!(c.FEATURE_BLOB_REDIRECTS);

        let c = load("DISTRIBUTED_STORAGE_CONFIG:\n  default: [LocalStorage, {storage_path: /d}]\n").unwrap();
        assert!(
            matches!(c.storage().unwrap(), Some(StorageDriver::Local(l)) if l.storage_path == Path::new("/d"))
        );
        assert!(
            load("LISTEN_ADDRESS: 127.0.0.1:5000\n")
                .unwrap()
                .storage()
                .unwrap()
                .is_none()
        );
        let host = storage::S3Storage {
            s3_bucket: "b".into(),
            storage_path: String::new(),
            s3_access_key: None,
            s3_secret_key: None,
            s3_region: None,
            endpoint_url: None,
            host: Some("rgw.example".into()),
            port: Some(8443),
        };
        assert_eq!(
            host.endpoint().unwrap().as_deref(),
            Some("https://rgw.example:8443")
        );
    }

    #[test]
    fn bad_storage_config_is_refused_with_a_reason() {
        let two = "DISTRIBUTED_STORAGE_CONFIG:\n  a: [LocalStorage, {storage_path: /a}]\n  b: [LocalStorage, {storage_path: /b}]\n";
        assert!(
            error(two).contains("DISTRIBUTED_STORAGE_PREFERENCE must name"),
            "{}",
            error(two)
        );
        assert!(error(&format!("{two}DISTRIBUTED_STORAGE_PREFERENCE: [a, b]\n")).contains("replication"));
        assert!(error(&format!("{two}DISTRIBUTED_STORAGE_PREFERENCE: [c]\n")).contains("\"c\""));
        assert!(error("DISTRIBUTED_STORAGE_CONFIG:\n  a: [SwiftStorage, {}]\n").contains("SwiftStorage"));
        assert!(
            error("DISTRIBUTED_STORAGE_CONFIG:\n  a: [S3Storage, {s3_bucket: b, s3_bukket: c}]\n")
                .contains("s3_bukket")
        );
        assert!(
            error("DISTRIBUTED_STORAGE_CONFIG:\n  a: [S3Storage, {s3_bucket: b, endpoint_url: ftp://x}]\n")
                .contains("http://")
        );
        assert!(error("DISTRIBUTED_STORAGE_CONFIG:\n  a: [S3Storage]\n").contains("DriverName"));
        assert!(error("BLOB_REDIRECT_EXPIRATION_S: 0\n").contains("BLOB_REDIRECT_EXPIRATION_S"));
        assert!(error("BLOB_REDIRECT_EXPIRATION_S: 86400\n").contains("BLOB_REDIRECT_EXPIRATION_S"));
        assert!(error("UPLOAD_LEASE_S: 0\n").contains("UPLOAD_LEASE_S"));
        assert!(error("DB_CONNECTION_ARGS: {max_connections: 0}\n").contains("max_connections"));
    }

    #[test]
    fn sparse_indexes_are_configured_with_quay_keys() {
        let c = load("FEATURE_SPARSE_INDEX: true\nSPARSE_INDEX_REQUIRED_ARCHS: [amd64]\n").unwrap();
        assert!(c.ignored_quay_keys.is_empty(), "{:?}", c.ignored_quay_keys);
        let sparse = c.registry().unwrap().sparse_index;
        assert!(sparse.enabled);
        assert_eq!(sparse.required_architectures, ["amd64"]);
        assert!(!load("").unwrap().registry().unwrap().sparse_index.enabled);
        assert!(error("SPARSE_INDEX_REQUIRED_ARCHS: ['']\n").contains("SPARSE_INDEX_REQUIRED_ARCHS"));
    }
}
