//! Starting the two registries under test, each on a fresh data directory,
//! and reading their memory use.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_bench::RegistryClient;

/// Which registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Berth, embedded default (SQLite + directory).
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

/// A running registry.
pub struct Server {
    pub kind: Kind,
    child: Child,
    pub host: String,
    pub client: RegistryClient,
    /// Time from spawn to the first `GET /v2/` answered 200.
    pub startup: Duration,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Start `kind` with its data under `dir` (created fresh); Berth also
    /// gets `berth_args`.
    pub async fn start(
        kind: Kind,
        binary: &Path,
        berth_args: &[String],
        dir: &Path,
    ) -> anyhow::Result<Server> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let started = Instant::now();
        let (mut child, host) = match kind {
            Kind::Berth => {
                let mut child = Command::new(binary)
                    .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                    .arg(dir)
                    .args(berth_args)
                    .env("RUST_LOG", "error")
                    // Measure the registry, as Distribution has no scanner;
                    // bench/scan-index.sh measures indexing on its own.
                    .env("BERTH_FEATURE_SECURITY_SCANNER", "false")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .with_context(|| format!("starting {}", binary.display()))?;
                let stdout = child.stdout.take().context("berth stdout")?;
                let line = tokio::task::spawn_blocking(move || {
                    let mut lines = BufReader::new(stdout).lines();
                    let first = lines.next();
                    std::thread::spawn(move || for _ in lines {});
                    first
                })
                .await?
                .context("berth exited before listening")??;
                let host = line
                    .strip_prefix("listening on http://")
                    .context("unexpected first line")?
                    .to_owned();
                (child, host)
            }
            Kind::Distribution => {
                let host = format!("127.0.0.1:{}", free_port()?);
                let config = dir.join("config.yml");
                std::fs::write(
                    &config,
                    format!(
                        "version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n\
                         storage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n\
                         http: {{addr: {host}}}\n",
                        dir.join("data").display()
                    ),
                )?;
                // It logs every 404 (clients probe blobs before pushing) at
                // error level; keep that out of the report.
                let log = std::fs::File::create(dir.join("distribution.log"))?;
                let child = Command::new(binary)
                    .arg("serve")
                    .arg(&config)
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .with_context(|| format!("starting {}", binary.display()))?;
                (child, host)
            }
        };
        let client = RegistryClient::new(&format!("http://{host}"))?;
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
        Ok(Server {
            kind,
            startup: started.elapsed(),
            child,
            host,
            client,
        })
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
