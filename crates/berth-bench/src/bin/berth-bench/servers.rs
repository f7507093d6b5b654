//! Starting the two registries under test, each on a fresh data directory
//! and with the benchmark's login, and reading their memory use.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_bench::RegistryClient;
use berth_bench::workloads::copy_image;

/// The user the benchmark pushes and pulls as: a Berth superuser, so it
/// may push to any repository. Distribution has no users and never asks.
pub struct Login {
    pub user: String,
    pub password: String,
}

impl Login {
    /// User `bench` with a fresh random password.
    pub fn generate() -> Login {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = nanos ^ u64::from(std::process::id()).rotate_left(32);
        Login {
            user: "bench".to_owned(),
            password: hex::encode(berth_bench::data::random_bytes(16, seed)),
        }
    }
}

/// Which registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Berth (on SQLite or PostgreSQL, see [`Metadata`]).
    Berth,
    /// The CNCF Distribution registry, filesystem storage.
    Distribution,
}

impl Kind {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Berth => "berth",
            Kind::Distribution => "distribution",
        }
    }
}

/// Where Berth keeps its metadata.
pub enum Metadata {
    /// The embedded default: SQLite in the data directory.
    Sqlite,
    /// A database per start on this PostgreSQL server
    /// (`postgresql://USER@HOST:PORT`).
    Postgres(String),
}

impl Metadata {
    /// Name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Metadata::Sqlite => "sqlite",
            Metadata::Postgres(_) => "postgres",
        }
    }

    /// `berth` arguments for an empty metadata store named after `what`
    /// (on PostgreSQL, the database `berth_bench_WHAT` made afresh).
    pub fn fresh(&self, what: &str) -> anyhow::Result<Vec<String>> {
        let Metadata::Postgres(server) = self else {
            return Ok(Vec::new());
        };
        let db = format!("berth_bench_{what}");
        psql(server, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))?;
        psql(server, &format!("CREATE DATABASE {db}"))?;
        Ok(vec!["--db-uri".to_owned(), format!("{server}/{db}")])
    }

    /// Drop the databases [`Metadata::fresh`] made.
    pub fn drop_all(&self, names: &[&str]) -> anyhow::Result<()> {
        if let Metadata::Postgres(server) = self {
            for what in names {
                psql(
                    server,
                    &format!("DROP DATABASE IF EXISTS berth_bench_{what} WITH (FORCE)"),
                )?;
            }
        }
        Ok(())
    }
}

/// Where Berth keeps blobs, and Distribution too where the server can
/// hold them (see [`Storage::distribution_yaml`]).
pub enum Storage {
    /// Its own directory under the benchmark's work directory.
    Dir,
    /// A bucket of an S3-compatible server, under a prefix per start.
    S3(S3Bucket),
}

/// An S3-compatible server's bucket and credentials.
pub struct S3Bucket {
    /// `http://HOST:PORT`.
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// The server's name from `BENCH_S3_SERVER` (bench/s3.sh names its
    /// own), or `S3 server` when unnamed.
    pub server: String,
}

impl S3Bucket {
    /// From `BENCH_S3_ENDPOINT`, `BENCH_S3_BUCKET`, `BENCH_S3_ACCESS_KEY`,
    /// `BENCH_S3_SECRET_KEY` and `BENCH_S3_SERVER` (bench/s3.sh sets them;
    /// secrets stay off command lines).
    pub fn from_env() -> anyhow::Result<S3Bucket> {
        let var = |name: &str| std::env::var(name).with_context(|| format!("--s3 needs {name}"));
        Ok(S3Bucket {
            endpoint: var("BENCH_S3_ENDPOINT")?.trim_end_matches('/').to_owned(),
            bucket: var("BENCH_S3_BUCKET")?,
            access_key: var("BENCH_S3_ACCESS_KEY")?,
            secret_key: var("BENCH_S3_SECRET_KEY")?,
            server: std::env::var("BENCH_S3_SERVER").unwrap_or_else(|_| "S3 server".to_owned()),
        })
    }

    /// Whether Distribution can keep its blobs here too. Its S3 driver
    /// resumes every upload with `ListMultipartUploads`, which plain s3s-fs
    /// (named `s3s-fs` by hand) answers 501 Not Implemented, so there it
    /// cannot store one blob; bench/s3.sh's server answers it.
    pub fn holds_distribution(&self) -> bool {
        self.server != "s3s-fs"
    }
}

impl Storage {
    /// Name used in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Storage::Dir => "dir",
            Storage::S3(_) => "s3",
        }
    }

    /// `berth` arguments for blobs of a start in `dir` (on S3, a config
    /// file there naming the bucket and a prefix of its own, see [`prefix`]).
    fn berth_args(&self, dir: &Path) -> anyhow::Result<Vec<String>> {
        let Storage::S3(s3) = self else {
            return Ok(Vec::new());
        };
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "DISTRIBUTED_STORAGE_CONFIG:\n  s3:\n    - S3Storage\n    - s3_bucket: {}\n      \
                 storage_path: /{}/\n      s3_access_key: {}\n      s3_secret_key: {}\n      \
                 endpoint_url: {}\nDISTRIBUTED_STORAGE_PREFERENCE: [s3]\n",
                s3.bucket,
                prefix(dir),
                s3.access_key,
                s3.secret_key,
                s3.endpoint
            ),
        )?;
        Ok(vec!["--config".to_owned(), config.display().to_string()])
    }

    /// Where Distribution keeps blobs in this run: `dir` or `s3`.
    pub fn distribution_name(&self) -> &'static str {
        match self {
            Storage::S3(s3) if s3.holds_distribution() => "s3",
            _ => "dir",
        }
    }

    /// Distribution's `storage:` section for a start in `dir`: the bucket,
    /// under a prefix of its own, where the server can hold its blobs (and
    /// it serves them itself, as Berth does, rather than redirect clients
    /// to the bucket); its directory otherwise.
    fn distribution_yaml(&self, dir: &Path) -> String {
        match self {
            Storage::S3(s3) if s3.holds_distribution() => format!(
                "storage:\n  s3: {{accesskey: {}, secretkey: {}, region: us-east-1, \
                 regionendpoint: \"{}\", bucket: {}, rootdirectory: /{}, secure: false, v4auth: true}}\n  \
                 redirect: {{disable: true}}\n  delete: {{enabled: true}}\n",
                s3.access_key,
                s3.secret_key,
                s3.endpoint,
                s3.bucket,
                prefix(dir)
            ),
            _ => format!(
                "storage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n",
                dir.join("data").display()
            ),
        }
    }
}

/// The key prefix of a start in `dir`: the first letter of the
/// directory's name and a number, unique per start, so a server started
/// again on a fresh directory starts on empty storage too. Short: s3s-fs
/// names a metadata file after the whole key, and Distribution's tag index
/// keys come near the 255-byte file name limit.
fn prefix(dir: &Path) -> String {
    static STARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let initial = name.and_then(|n| n.chars().next()).unwrap_or('s');
    format!("{initial}{n}")
}

/// Run one statement on `server`'s `postgres` database.
fn psql(server: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args([
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            &format!("{server}/postgres"),
            "-c",
            sql,
        ])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A running registry.
pub struct Server {
    pub kind: Kind,
    child: Child,
    pub host: String,
    /// Sends the login's credentials when the registry asks for them.
    pub client: RegistryClient,
    /// A containers auth file with the login for `host`, for skopeo.
    pub auth_file: PathBuf,
    /// Time from spawn to the first answer to `GET /v2/` (200, or Berth's
    /// 401 naming its token realm).
    pub startup: Duration,
    /// Its data directory.
    pub dir: PathBuf,
    /// Berth: the arguments naming its data (database, storage) for other
    /// `berth` commands, and the environment it was started with.
    pub berth_args: Vec<String>,
    pub berth_env: Vec<(String, String)>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `berth admin user create` of the login as a superuser, on the database
/// `berth serve` will use (same data directory and arguments).
fn create_superuser(binary: &Path, berth_args: &[String], dir: &Path, login: &Login) -> anyhow::Result<()> {
    let mut child = Command::new(binary)
        .args([
            "admin",
            "user",
            "create",
            &login.user,
            "--superuser",
            "--password-stdin",
        ])
        .arg("--data-dir")
        .arg(dir)
        .args(berth_args)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {} admin user create", binary.display()))?;
    // Passwords go on stdin, never on a command line `ps` shows.
    child
        .stdin
        .take()
        .context("admin stdin")?
        .write_all(login.password.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "berth admin user create {}: {}",
            login.user,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Read `berth serve`'s stdout up to its `listening on` line (a first start
/// may print other lines before it); returns the address and keeps
/// draining the rest so the server never blocks on a full pipe.
fn listening_address(stdout: std::process::ChildStdout) -> anyhow::Result<String> {
    let mut lines = BufReader::new(stdout).lines();
    let host = loop {
        let line = lines.next().context("berth exited before listening")??;
        if let Some(host) = line.strip_prefix("listening on http://") {
            break host.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(host)
}

impl Server {
    /// Start `kind` with its data under `dir` (created fresh); Berth also
    /// gets `berth_args`, its blobs on `storage`, its scanner on or off,
    /// the variables `berth_env`, and `login` as a superuser before it
    /// starts.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        kind: Kind,
        binary: &Path,
        berth_args: &[String],
        berth_env: &[(&str, &str)],
        storage: &Storage,
        scanner: bool,
        dir: &Path,
        login: &Login,
    ) -> anyhow::Result<Server> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let mut berth_args = berth_args.to_vec();
        if kind == Kind::Berth {
            berth_args.extend(storage.berth_args(dir)?);
            create_superuser(binary, &berth_args, dir, login)?;
        }
        let started = Instant::now();
        let (mut child, host) = match kind {
            Kind::Berth => {
                let mut child = Command::new(binary)
                    .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                    .arg(dir)
                    .args(&berth_args)
                    .env("RUST_LOG", "error")
                    // Off, Berth is measured doing what Distribution does
                    // (bench/scan-index.sh measures indexing on its own);
                    // on (the default), what the scanner costs the rest.
                    .env("BERTH_FEATURE_SECURITY_SCANNER", scanner.to_string())
                    // The workloads push to namespaces nobody created.
                    .env("BERTH_CREATE_NAMESPACE_ON_PUSH", "true")
                    .envs(berth_env.iter().copied())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .with_context(|| format!("starting {}", binary.display()))?;
                let stdout = child.stdout.take().context("berth stdout")?;
                let listening = tokio::task::spawn_blocking(move || listening_address(stdout)).await;
                let host = match listening.map_err(anyhow::Error::from).and_then(|r| r) {
                    Ok(host) => host,
                    Err(e) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(e);
                    }
                };
                (child, host)
            }
            Kind::Distribution => {
                let host = format!("127.0.0.1:{}", free_port()?);
                let config = dir.join("config.yml");
                std::fs::write(
                    &config,
                    format!(
                        "version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n{}\
                         http: {{addr: {host}}}\n",
                        storage.distribution_yaml(dir)
                    ),
                )?;
                // It logs every 404 (clients probe blobs before pushing) at
                // error level; keep that out of the report.
                let log = std::fs::File::create(dir.join("distribution.log"))?;
                let child = Command::new(binary)
                    .arg("serve")
                    .arg(&config)
                    // Set for other tools on some machines, it makes the
                    // AWS SDK it is built with refuse to start.
                    .env_remove("AWS_CA_BUNDLE")
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .with_context(|| format!("starting {}", binary.display()))?;
                (child, host)
            }
        };
        let client =
            RegistryClient::with_credentials(&format!("http://{host}"), &login.user, &login.password)?;
        let deadline = started + Duration::from_secs(30);
        loop {
            if client.ping().await.is_ok() {
                break;
            }
            if Instant::now() > deadline || child.try_wait()?.is_some() {
                let _ = child.kill();
                bail!("{} did not answer GET /v2/ within 30 s", kind.name());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let server = Server {
            kind,
            startup: started.elapsed(),
            child,
            host,
            client,
            auth_file: dir.join("auth.json"),
            dir: dir.to_owned(),
            berth_args,
            berth_env: berth_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        copy_image::write_auth_file(&server.auth_file, &server.host, &login.user, &login.password)?;
        Ok(server)
    }

    fn status_field(&self, field: &str) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("{field} missing"))?;
        Ok(kib / 1024.0)
    }

    /// Current resident memory, MiB.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        self.status_field("VmRSS:")
    }

    /// Peak resident memory since start, MiB.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        self.status_field("VmHWM:")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Data directory of one server.
pub fn data_dir(work: &Path, kind: Kind, what: &str) -> PathBuf {
    work.join(format!("{}-{what}", kind.name()))
}
