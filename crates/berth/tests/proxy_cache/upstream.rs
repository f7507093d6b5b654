//! A real upstream registry for the proxy-cache tests: Debian's
//! `docker-registry` (CNCF Distribution) on a free loopback port, with
//! filesystem storage in a temporary directory, optional htpasswd
//! authentication, and its access log captured to count requests.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::layout::{Written, write_image, write_image_layers, write_layout_index};
use crate::common::{run, unique_seed};

/// A running upstream registry.
pub struct Upstream {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub host: String,
    credentials: Option<(String, String)>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Upstream {
    /// Start an upstream; with `credentials`, it requires them (htpasswd,
    /// bcrypt).
    pub async fn start(credentials: Option<(&str, &str)>) -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let auth = match credentials {
            Some((user, password)) => {
                let line = run(Command::new("htpasswd").args(["-Bbn", user, password]));
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, line.trim()).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: upstream\n    path: {}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {host}\n{auth}",
            dir.path().join("storage").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut up = Upstream {
            child: None,
            dir,
            host,
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
        };
        up.launch().await;
        up
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.access_log_path())
            .unwrap();
        let errors = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(errors))
            .spawn()
            .expect("docker-registry must be installed (apt: docker-registry)");
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("http://{}/v2/", self.host)).send().await
                && (r.status() == 200 || r.status() == 401)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    fn access_log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// Stop the upstream (SIGKILL: as if it went away).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            let _ = child.wait();
        }
    }

    /// Requests `METHOD path` the upstream answered, from its access log.
    pub fn count(&self, method: &str, path: &str) -> usize {
        let log = std::fs::read_to_string(self.access_log_path()).unwrap_or_default();
        let needle = format!("\"{method} {path} HTTP");
        log.lines().filter(|l| l.contains(&needle)).count()
    }

    fn copy_in(&self, layout: &Path, name: &str, repo_tag: &str) {
        let mut cmd = Command::new("skopeo");
        cmd.env("HOME", std::env::temp_dir())
            .args(["copy", "--dest-tls-verify=false"]);
        if let Some((u, p)) = &self.credentials {
            cmd.arg("--dest-creds").arg(format!("{u}:{p}"));
        }
        run(cmd
            .arg(format!("oci:{}:{name}", layout.display()))
            .arg(format!("docker://{}/{repo_tag}", self.host)));
    }

    /// Push a fresh image with gzip layers of `layer_sizes` to
    /// `repo_tag` with skopeo; returns its manifest descriptor.
    pub fn push(&self, repo_tag: &str, layer_sizes: &[usize]) -> Written {
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("layout");
        let image = write_image(&layout, "amd64", layer_sizes, unique_seed());
        write_layout_index(&layout, &[("v", &image)]);
        self.copy_in(&layout, "v", repo_tag);
        image
    }

    /// Push an image whose one layer is `layer` (gzip bytes, diff id) as
    /// is; returns the manifest descriptor.
    pub fn push_layer(&self, repo_tag: &str, layer: Vec<u8>, diff_id: String) -> Written {
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("layout");
        let image = write_image_layers(&layout, "amd64", &[(layer, diff_id)]);
        write_layout_index(&layout, &[("v", &image)]);
        self.copy_in(&layout, "v", repo_tag);
        image
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}
