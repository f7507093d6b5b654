//! Helpers of the vulnerability-report tests: image layers from files,
//! pushing an OCI layout with skopeo, `berth vulndb`, waiting for the
//! security report and reducing it to comparable findings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::Server;

/// `crates/berth/tests/data`.
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A tar stream of (path, content) files.
pub fn tar_layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, *content).unwrap();
    }
    b.into_inner().unwrap()
}

/// `berth vulndb ARGS` against the server's database.
pub async fn vulndb(s: &Server, args: &[&str]) -> Output {
    let mut cmd = Command::new(super::berth_bin());
    cmd.arg("vulndb")
        .args(args)
        .arg("--data-dir")
        .arg(s.data_dir.path())
        .arg("--config")
        .arg(s.config_path());
    if let Some(uri) = s.db_uri() {
        cmd.arg("--db-uri").arg(uri);
    }
    tokio::task::spawn_blocking(move || cmd.env("RUST_LOG", "error").output().unwrap())
        .await
        .unwrap()
}

/// Push the layout's `v1` to `repo:v1`; the manifest's digest.
pub async fn push(s: &Server, layout: &Path, repo: &str) -> String {
    let dest = format!("docker://{}/{repo}:v1", s.host());
    let src = format!("oci:{}:v1", layout.display());
    let host = s.host().to_owned();
    tokio::task::spawn_blocking(move || {
        super::run(super::cli::skopeo(&host).args(["copy", "--dest-tls-verify=false", &src, &dest]));
    })
    .await
    .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

/// The security report of `repo@digest` as it is now.
pub async fn security(s: &Server, repo: &str, digest: &str) -> serde_json::Value {
    s.get_json(&format!(
        "/api/v1/repository/{repo}/manifest/{digest}/security?vulnerabilities=true"
    ))
    .await
}

/// The report once the background indexer has scanned the image (a
/// generous bound for background work, not a speed check).
pub async fn scanned(s: &Server, repo: &str, digest: &str) -> serde_json::Value {
    for _ in 0..600 {
        let report = security(s, repo, digest).await;
        if report["status"] == "scanned" {
            return report;
        }
        assert_eq!(report["status"], "queued", "{report}");
        assert_eq!(
            report["data"],
            serde_json::Value::Null,
            "a queued report has no data"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{repo}@{digest} never scanned");
}

/// (vulnerability, fixed by, severity).
pub type Finding = (String, String, String);
/// Feature name → its sorted findings.
pub type Findings = BTreeMap<String, Vec<Finding>>;
/// Findings as written in a test.
pub type Written<'a> = &'a [(&'a str, &'a str, &'a str)];

/// Feature name → sorted (vulnerability, fixed by, severity) of a report.
pub fn findings(report: &serde_json::Value) -> Findings {
    let mut out = BTreeMap::new();
    for f in report["data"]["Layer"]["Features"].as_array().unwrap() {
        let mut v: Vec<Finding> = f["Vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap().to_owned();
                (s("Name"), s("FixedBy"), s("Severity"))
            })
            .collect();
        if v.is_empty() {
            continue;
        }
        v.sort();
        out.insert(f["Name"].as_str().unwrap().to_owned(), v);
    }
    out
}

/// Package → sorted (vulnerability, fixed by, severity) of
/// `berth scan vulns --format json` output.
pub fn json_findings(stdout: &[u8]) -> Findings {
    let doc: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    let mut found = Findings::new();
    for v in doc["vulnerabilities"].as_array().unwrap() {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        found
            .entry(s("package"))
            .or_default()
            .push((s("name"), s("fixed_by"), s("severity")));
    }
    for list in found.values_mut() {
        list.sort();
    }
    found
}

/// `berth scan vulns --format json IMAGE` against the records of the
/// registry at `host`.
pub async fn scan_against(host: &str, image: &str) -> Output {
    let mut cmd = Command::new(super::berth_bin());
    cmd.args(["scan", "vulns", "--no-cache", "--format", "json", image])
        .arg("--registry")
        .arg(format!("http://{host}"));
    tokio::task::spawn_blocking(move || cmd.env("RUST_LOG", "error").output().unwrap())
        .await
        .unwrap()
}

/// Findings from a written table.
pub fn expect(entries: &[(&str, Written<'_>)]) -> Findings {
    entries
        .iter()
        .map(|(name, vulns)| {
            let mut v: Vec<Finding> = vulns
                .iter()
                .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
                .collect();
            v.sort();
            ((*name).to_owned(), v)
        })
        .collect()
}

/// The feature named `name` of a report.
pub fn feature<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["data"]["Layer"]["Features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Name"] == name)
        .unwrap_or_else(|| panic!("no feature {name}"))
}

/// Create organization `name` as the test's admin.
pub async fn create_org(s: &Server, name: &str) {
    let r = s
        .client
        .post(s.url("/api/v1/organization/"))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}
