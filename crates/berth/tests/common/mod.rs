//! Test harness: starts the real `berth` binary on a free loopback port, on
//! SQLite or (with `TEST_DB=postgres`) on a fresh PostgreSQL database, with
//! blobs in its data directory or (with `TEST_STORAGE=s3`) in a real
//! S3-compatible server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod browser;
pub mod cli;
pub mod cluster;
pub mod feeds;
pub mod gc;
pub mod layout;
pub mod pg;
pub mod quota;
pub mod raw;
pub mod receiver;
pub mod storage;
pub mod tls;
pub mod vulnimages;
pub mod vulnreport;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

pub use pg::{PgDatabase, create_pg_database, pg_base_uri};
use storage::TestStorage;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The superuser every test server starts with.
pub const ADMIN: &str = "admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "berth-test-admin-password";

/// `Authorization` value for Basic credentials.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A client builder that sends the superuser's Basic credentials.
pub fn admin_client_builder() -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        basic_auth(ADMIN, ADMIN_PASSWORD).parse().unwrap(),
    );
    reqwest::Client::builder().default_headers(headers)
}

/// A containers auth file (for skopeo, podman) holding the superuser's
/// credentials for `host`.
pub fn auth_file(host: &str) -> PathBuf {
    use base64::Engine;
    let path = std::env::temp_dir().join(format!(
        "berth-test-auth-{}.json",
        host.replace([':', '[', ']'], "_")
    ));
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN}:{ADMIN_PASSWORD}"));
    std::fs::write(&path, format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)).unwrap();
    path
}

/// Content helpers shared with the benchmark's load generator.
pub use berth_bench::data::{random_bytes, sha256};

/// A unique seed per call, so parallel tests never collide on content.
pub fn unique_seed() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

/// The `berth` binary under test: `TEST_BERTH_BIN` if set (a build of
/// this checkout, when several checkouts share one target directory and
/// its `debug/berth`), else the one Cargo built.
pub fn berth_bin() -> PathBuf {
    std::env::var_os("TEST_BERTH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth")))
}

/// A running registry process and the state it keeps across restarts.
pub struct Server {
    child: Option<Child>,
    /// The `berth` binary this server and its admin commands run (another
    /// build may take over the same data at a restart).
    pub bin: PathBuf,
    pub data_dir: tempfile::TempDir,
    /// Dropped after the process is killed (fields drop after `drop`).
    db: Option<Arc<PgDatabase>>,
    config: PathBuf,
    pub storage: TestStorage,
    /// Where the server's log goes, when captured.
    pub log_file: Option<PathBuf>,
    pub addr: String,
    /// `http`, or `https` when the server announced it serves HTTPS.
    pub scheme: &'static str,
    /// The `METRICS_LISTEN` address, when configured.
    pub metrics_addr: Option<String>,
    /// Sends the superuser's Basic credentials with every request.
    pub client: reqwest::Client,
    /// Sends no credentials.
    pub anon: reqwest::Client,
}

impl Server {
    /// Start a fresh registry.
    pub async fn start() -> Server {
        Server::start_with_config("").await
    }

    /// Start a fresh registry with extra `config.yaml` lines.
    pub async fn start_with_config(yaml: &str) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let db = pg_base_uri().map(|base| create_pg_database(&base));
        let storage = TestStorage::for_server(data_dir.path());
        Server::start_member(data_dir, db, storage, yaml).await
    }

    /// Start a fresh registry that logs everything (debug level) to
    /// `log_file`, for tests that read the log.
    pub async fn start_capturing_logs() -> Server {
        Server::start_capturing_logs_with("").await
    }

    /// [`Server::start_capturing_logs`] with extra `config.yaml` lines.
    pub async fn start_capturing_logs_with(yaml: &str) -> Server {
        let mut s = Server::start_with_config(yaml).await;
        s.stop();
        s.log_file = Some(s.data_dir.path().join("server.log"));
        s.restart().await;
        s
    }

    /// Start a registry on the given database and storage (for clusters).
    pub async fn start_member(
        data_dir: tempfile::TempDir,
        db: Option<Arc<PgDatabase>>,
        storage: TestStorage,
        yaml: &str,
    ) -> Server {
        let config = data_dir.path().join("config.yaml");
        // Tests push to namespaces of their choosing, as the superuser.
        let namespaces = if yaml.contains("CREATE_NAMESPACE_ON_PUSH") {
            ""
        } else {
            "CREATE_NAMESPACE_ON_PUSH: true\n"
        };
        // Tests reach only loopback: no feed updates from the real servers.
        let updaters = if yaml.contains("SECURITY_SCANNER_DISABLE_UPDATERS") {
            ""
        } else {
            "SECURITY_SCANNER_DISABLE_UPDATERS: true\n"
        };
        std::fs::write(
            &config,
            format!("{}{namespaces}{updaters}{yaml}", storage.config_yaml()),
        )
        .unwrap();
        let mut server = Server {
            child: None,
            bin: berth_bin(),
            data_dir,
            db,
            config,
            storage,
            log_file: None,
            addr: String::new(),
            scheme: "http",
            metrics_addr: None,
            client: admin_client_builder().build().unwrap(),
            anon: reqwest::Client::builder().build().unwrap(),
        };
        server.create_user(ADMIN, ADMIN_PASSWORD, true);
        server.launch(None).await;
        server
    }

    /// `berth admin user create` against this server's database; a user
    /// that already exists (a cluster's shared database) is fine.
    pub fn create_user(&self, name: &str, password: &str, superuser: bool) {
        use std::io::Write;
        let mut cmd = Command::new(&self.bin);
        cmd.args(["admin", "user", "create", name, "--password-stdin"])
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .arg("--config")
            .arg(&self.config);
        if superuser {
            cmd.arg("--superuser");
        }
        if let Some(uri) = self.db_uri() {
            cmd.arg("--db-uri").arg(uri);
        }
        let mut child = cmd
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run berth admin");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || stderr.contains("already exists"),
            "berth admin user create {name}: {stderr}"
        );
    }

    /// Start the process (on `port` if given, else a free one).
    async fn launch(&mut self, port: Option<u16>) {
        let listen = format!("127.0.0.1:{}", port.unwrap_or(0));
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(self.data_dir.path());
        if let Some(uri) = self.db_uri() {
            cmd.arg("--db-uri").arg(uri);
        }
        cmd.arg("--config").arg(&self.config);
        match &self.log_file {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap();
                cmd.env("RUST_LOG", "debug").stderr(file);
            }
            None => {
                cmd.env(
                    "RUST_LOG",
                    std::env::var("TEST_SERVER_LOG").unwrap_or_else(|_| "error".into()),
                )
                .stderr(Stdio::inherit());
            }
        }
        cmd.stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("start berth");
        let stdout = child.stdout.take().unwrap();
        let ((scheme, addr), metrics_addr) = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut metrics_addr = None;
            let found = loop {
                let line = lines.next().expect("berth exited before listening").unwrap();
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    break ("http", addr.to_owned());
                }
                if let Some(addr) = line.strip_prefix("listening on https://") {
                    break ("https", addr.to_owned());
                }
                if let Some(url) = line.strip_prefix("metrics on http://") {
                    metrics_addr = url.strip_suffix("/metrics").map(str::to_owned);
                }
            };
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            (found, metrics_addr)
        })
        .await
        .unwrap();
        self.scheme = scheme;
        self.addr = addr;
        self.metrics_addr = metrics_addr;
        self.child = Some(child);
    }

    /// The base URL, e.g. `http://127.0.0.1:1234`.
    pub fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// The PostgreSQL database of this server, or `None` for SQLite in
    /// its data directory.
    pub fn db_uri(&self) -> Option<&str> {
        self.db.as_deref().map(PgDatabase::uri)
    }

    /// The server's `config.yaml`.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Registry host for clients, e.g. `127.0.0.1:1234`.
    pub fn host(&self) -> &str {
        &self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Stop gracefully (SIGTERM) and wait.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let status = child.wait().unwrap();
            assert!(status.success(), "berth exited with {status} after SIGTERM");
        }
    }

    /// Kill without warning (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            let _ = child.wait();
        }
    }

    /// Start again on the same data, same port.
    pub async fn restart(&mut self) {
        let port: u16 = self.addr.rsplit(':').next().unwrap().parse().unwrap();
        self.launch(Some(port)).await;
    }

    /// Peak resident memory of the server process so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Stored blob objects (files or S3 keys).
    pub async fn stored_blobs(&self) -> Vec<String> {
        self.storage.blob_objects().await
    }

    /// Ids of uploads that have staged data.
    pub async fn staged_uploads(&self) -> BTreeSet<String> {
        self.storage.staged().await.0
    }

    /// Bytes staged by all uploads.
    pub async fn staged_bytes(&self) -> u64 {
        self.storage.staged().await.1
    }

    // ---- protocol helpers ------------------------------------------------

    /// `GET` a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `GET` a path and parse the JSON body.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.unwrap()
    }

    /// `HEAD` a path.
    pub async fn head(&self, path: &str) -> reqwest::Response {
        self.client.head(self.url(path)).send().await.unwrap()
    }

    /// `DELETE` a path.
    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    /// Open an upload session in `repo`; returns its location.
    pub async fn start_upload(&self, repo: &str) -> String {
        let r = self
            .client
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        r.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Send `bytes` as the chunk at offset `from` of the session at
    /// `location`.
    pub async fn patch_chunk(&self, location: &str, from: usize, bytes: &[u8]) -> reqwest::Response {
        self.client
            .patch(self.url(location))
            .header("content-range", format!("{from}-{}", from + bytes.len() - 1))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// A client sending `user`'s Basic credentials.
    pub fn client_as(&self, user: &str, password: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            basic_auth(user, password).parse().unwrap(),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    /// Push a blob monolithically; returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        self.push_blob_via(&self.client, repo, bytes).await
    }

    /// [`Server::push_blob`] through `client`.
    pub async fn push_blob_via(&self, client: &reqwest::Client, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let r = client
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "push blob: {}", r.text().await.unwrap());
        digest
    }

    /// Push a manifest under `reference`; returns the response.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Push a small random image (config + `layers` layers) tagged `tag`;
    /// returns (manifest bytes, manifest digest).
    pub async fn push_image(&self, repo: &str, tag: &str, layers: usize) -> (Vec<u8>, String) {
        self.push_image_via(&self.client, repo, tag, layers).await
    }

    /// [`Server::push_image`] through `client`.
    pub async fn push_image_via(
        &self,
        client: &reqwest::Client,
        repo: &str,
        tag: &str,
        layers: usize,
    ) -> (Vec<u8>, String) {
        let seed = unique_seed();
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#).into_bytes();
        let config_digest = self.push_blob_via(client, repo, &config).await;
        let mut descs = Vec::new();
        for i in 0..layers {
            let layer = random_bytes(1000 + i * 10, seed + i as u64);
            let d = self.push_blob_via(client, repo, &layer).await;
            descs.push((d, layer.len()));
        }
        let manifest = image_manifest(&config_digest, config.len(), &descs, None);
        let r = client
            .put(self.url(&format!("/v2/{repo}/manifests/{tag}")))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "push manifest: {}", r.text().await.unwrap());
        let digest = sha256(&manifest);
        (manifest, digest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An OCI image manifest referencing a config and layers, with an optional
/// extra JSON fragment (e.g. a subject) spliced in.
pub fn image_manifest(
    config: &str,
    config_len: usize,
    layers: &[(String, usize)],
    extra: Option<&str>,
) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, n)| format!(r#"{{"mediaType":"{OCI_LAYER}","digest":"{d}","size":{n}}}"#))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config}","size":{config_len}}},"layers":[{}]{}}}"#,
        layers.join(","),
        extra.map(|e| format!(",{e}")).unwrap_or_default()
    )
    .into_bytes()
}

/// Recursively list regular files.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The spec error code of an error response body.
pub async fn error_code(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.expect("error body is JSON");
    v["errors"][0]["code"]
        .as_str()
        .expect("errors[0].code")
        .to_owned()
}

/// Run a command, panicking with its output on failure; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Give background work a moment (used only to let a process settle).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Wait until `check` holds, polling; panics with `what` if it never does
/// (a generous bound for background work, not a speed check).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}
