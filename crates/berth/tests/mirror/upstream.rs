//! Upstream registries for the mirror tests: Debian's `docker-registry`
//! (CNCF Distribution) with htpasswd authentication and its own storage,
//! a second Berth, and a hostile upstream that answers lies.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use reqwest::Method;
use serde_json::json;

use crate::api_support::{Admin, call, create_org, ok, put};
use crate::common::cli::skopeo;
use crate::common::layout::{Written, write_image, write_layout_index};
use crate::common::{Server, run, unique_seed};

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running Distribution registry on loopback.
pub struct Distribution {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    pub user: String,
    pub password: String,
}

impl Distribution {
    /// Start one whose only account is `user` / `password`.
    pub async fn start(user: &str, password: &str) -> Distribution {
        let dir = tempfile::tempdir().unwrap();
        // A bcrypt line, as Distribution's htpasswd reader requires.
        let line = run(Command::new("htpasswd").args(["-Bbn", user, password]));
        std::fs::write(dir.path().join("htpasswd"), line.trim()).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n\
             auth:\n  htpasswd:\n    realm: upstream\n    path: {htpasswd}\n",
            data = dir.path().join("data").display(),
            htpasswd = dir.path().join("htpasswd").display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry must be installed (Debian package docker-registry)");
        let d = Distribution {
            child,
            dir,
            addr,
            user: user.to_owned(),
            password: password.to_owned(),
        };
        let probe = reqwest::Client::new();
        crate::common::eventually("docker-registry listens", || {
            let url = format!("http://{}/v2/", d.addr);
            let probe = probe.clone();
            async move { probe.get(url).send().await.is_ok_and(|r| r.status() == 401) }
        })
        .await;
        d
    }

    /// `--creds`/`--dest-creds` value.
    pub fn creds(&self) -> String {
        format!("{}:{}", self.user, self.password)
    }

    /// skopeo, without the Berth test auth file.
    fn skopeo(&self) -> Command {
        let mut c = Command::new("skopeo");
        c.env("HOME", self.dir.path())
            .env("REGISTRY_AUTH_FILE", self.dir.path().join("auth.json"));
        c
    }

    /// Push the layout entry `name` (written in `layout`) to `repo:tag`.
    pub fn push(&self, layout: &Path, entry: &str, repo: &str, tag: &str) {
        run(self
            .skopeo()
            .args([
                "copy",
                "--all",
                "--preserve-digests",
                "--dest-tls-verify=false",
                "--dest-creds",
            ])
            .arg(self.creds())
            .arg(format!("oci:{}:{entry}", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.addr)));
    }

    /// Push several entries of one layout: (layout entry, tag).
    pub fn push_all(&self, layout: &Path, refs: &[(&str, &Written)], repo: &str) {
        write_layout_index(layout, refs);
        for (name, _) in refs {
            self.push(layout, name, repo, name);
        }
    }

    /// Delete `repo:tag` (its manifest, which Distribution deletes with
    /// every tag pointing to it).
    pub fn delete(&self, repo: &str, tag: &str) {
        run(self
            .skopeo()
            .args(["delete", "--tls-verify=false", "--creds"])
            .arg(self.creds())
            .arg(format!("docker://{}/{repo}:{tag}", self.addr)));
    }

    /// The registry's own log (its access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A hostile upstream: every request gets the same made-up answer (a tag
/// list naming `a`, and for everything else a manifest whose bytes do not
/// match the digest it announces). Returns its address.
pub async fn hostile_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (ctype, extra, body) = if request.contains("/tags/list") {
                    (
                        "application/json",
                        String::new(),
                        r#"{"name":"ns/app","tags":["a","b"]}"#.to_owned(),
                    )
                } else if request.contains("/manifests/b") {
                    // Not JSON at all.
                    (
                        "application/vnd.oci.image.manifest.v1+json",
                        String::new(),
                        "\u{0}garbage{".repeat(50),
                    )
                } else {
                    (
                        "application/vnd.oci.image.manifest.v1+json",
                        format!(
                            "Docker-Content-Digest: sha256:{}\r\n",
                            "0".repeat(64)
                        ),
                        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#.to_owned(),
                    )
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// A slow upstream: `tags` tags, each manifest answered 404 after 200 ms,
/// so a sync of it runs for `tags` × 200 ms. Returns its address and how
/// many manifest requests it got.
pub async fn slow_upstream(tags: usize) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (status, body) = if request.contains("/tags/list") {
                    let names: Vec<String> = (0..tags).map(|i| format!("\"t{i:03}\"")).collect();
                    (
                        "200 OK",
                        format!(r#"{{"name":"ns/app","tags":[{}]}}"#, names.join(",")),
                    )
                } else if request.contains("/manifests/") {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    ("404 Not Found", "{}".to_owned())
                } else {
                    ("200 OK", "{}".to_owned())
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, hits)
}

/// A second Berth as an upstream, with organization `team` and robot
/// `team+reader`; returns the robot's token.
pub async fn berth_upstream() -> (Server, String) {
    let up = Server::start().await;
    create_org(&up, "team").await;
    let robot = call(&up, Admin, Method::PUT, "/organization/team/robots/reader", None).await;
    ok(&robot, 201);
    (up, robot.1["token"].as_str().unwrap().to_owned())
}

/// Push a fresh image to `team/<repo>:<tag>` upstream and let the robot
/// read the repository.
pub async fn push_upstream(up: &Server, repo: &str, tag: &str) -> Written {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[600, 900], unique_seed());
    write_layout_index(&layout, &[("v", &image)]);
    run(skopeo(up.host())
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v", layout.display()))
        .arg(format!("docker://{}/team/{repo}:{tag}", up.host())));
    ok(
        &put(
            up,
            Admin,
            &format!("/repository/team/{repo}/permissions/user/team+reader"),
            json!({ "role": "read" }),
        )
        .await,
        200,
    );
    image
}
