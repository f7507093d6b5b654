//! Images built from the real package databases in `tests/data`, the feed
//! configuration pointing at a loopback [`FeedServer`], and the findings
//! worked out by hand from `tests/data/vulndata` (the same expectations
//! `tests/vulns.rs` holds the security API to; see its comments).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::feeds::FeedServer;
use super::layout::{gzip_layer, write_image_layers, write_layout_index};
use super::{Server, run};

/// `tests/data`.
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

fn python_metadata(name: &str, version: &str) -> (String, Vec<u8>) {
    (
        format!("usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes(),
    )
}

/// Debian 12 (dpkg database) with Python packages in a second layer, as
/// an OCI layout tagged `v1`.
pub fn write_debian_image(layout: &Path) {
    let status = std::fs::read(data().join("images/debian-12/status")).unwrap();
    let os_release = std::fs::read(data().join("images/debian-12/os-release")).unwrap();
    let base = tar_layer(&[("var/lib/dpkg/status", &status), ("etc/os-release", &os_release)]);
    let python: Vec<(String, Vec<u8>)> = [("redis", "4.5.1"), ("sqlparse", "0.4.3"), ("Paramiko", "2.10.0")]
        .iter()
        .map(|(n, v)| python_metadata(n, v))
        .collect();
    let files: Vec<(&str, &[u8])> = python.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    let app = tar_layer(&files);
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&base), gzip_layer(&app)]);
    write_layout_index(layout, &[("v1", &image)]);
}

/// alpine:3.18.0's installed database under a 3.19 release file, tagged `v1`.
pub fn write_alpine_image(layout: &Path) {
    let installed = std::fs::read(data().join("images/alpine-3.18/lib/apk/db/installed")).unwrap();
    let os_release =
        b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.0\nPRETTY_NAME=\"Alpine Linux v3.19\"\n";
    let base = tar_layer(&[
        ("lib/apk/db/installed", &installed),
        ("etc/os-release", os_release),
    ]);
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&base)]);
    write_layout_index(layout, &[("v1", &image)]);
}

/// The feeds of `feeds` (Debian, Alpine, OSV PyPI), updaters off.
pub fn feed_config(feeds: &FeedServer) -> String {
    format!(
        "SECURITY_SCANNER_DISABLE_UPDATERS: true\n\
         SECURITY_SCANNER_UPDATERS:\n  \
           debian:\n    url: {base}/debian/tracker/data/json\n  \
           alpine:\n    url: {base}/alpine-secdb/\n  \
           osv:\n    url: {base}/osv/\n    ecosystems: [PyPI]\n",
        base = feeds.base
    )
}

/// `berth ARGS` against the server's configuration and database.
pub async fn berth_on(s: &Server, args: &[&str]) -> Output {
    let mut cmd = Command::new(super::berth_bin());
    cmd.args(args)
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

/// `berth vulndb ARGS` against the server's database.
pub async fn vulndb(s: &Server, args: &[&str]) -> Output {
    let mut all = vec!["vulndb"];
    all.extend_from_slice(args);
    berth_on(s, &all).await
}

/// Push the layout's `v1` to `repo:v1` with skopeo; its manifest digest.
pub async fn push(s: &Server, layout: &Path, repo: &str) -> String {
    let dest = format!("docker://{}/{repo}:v1", s.host());
    let src = format!("oci:{}:v1", layout.display());
    let host = s.host().to_owned();
    tokio::task::spawn_blocking(move || {
        run(super::cli::skopeo(&host).args(["copy", "--dest-tls-verify=false", &src, &dest]));
    })
    .await
    .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

/// The security report of `digest` once the background indexer has
/// scanned it (a generous bound for background work, not a speed check).
pub async fn scanned(s: &Server, repo: &str, digest: &str) -> serde_json::Value {
    let path = format!("/api/v1/repository/{repo}/manifest/{digest}/security?vulnerabilities=true");
    for _ in 0..600 {
        let report = s.get_json(&path).await;
        if report["status"] == "scanned" {
            return report;
        }
        assert_eq!(report["status"], "queued", "{report}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path} never scanned");
}

/// (vulnerability, fixed by, severity).
pub type Finding = (String, String, String);
/// Package name → its sorted findings.
pub type Findings = BTreeMap<String, Vec<Finding>>;
type Written<'a> = &'a [(&'a str, &'a str, &'a str)];

/// Package name → sorted findings of a Quay security report.
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

fn expect(entries: &[(&str, Written<'_>)]) -> Findings {
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

/// The Debian image's findings (see `tests/vulns.rs`).
pub fn debian_expected() -> Findings {
    expect(&[
        (
            "libc6",
            &[
                ("CVE-2010-4756", "", "Negligible"),
                ("CVE-2019-1010022", "", "Negligible"),
                ("CVE-2023-4806", "", "Unknown"),
                ("CVE-2023-6246", "2.36-9+deb12u4", "Unknown"),
                ("CVE-2024-2961", "2.36-9+deb12u6", "Unknown"),
                ("CVE-2024-33599", "2.36-9+deb12u7", "Unknown"),
                ("CVE-2025-0395", "", "Unknown"),
                ("CVE-2025-4802", "", "Unknown"),
            ],
        ),
        (
            "tar",
            &[
                ("CVE-2005-2541", "", "Negligible"),
                ("CVE-2023-39804", "", "Unknown"),
            ],
        ),
        ("zlib1g", &[("CVE-2023-45853", "", "Unknown")]),
        (
            "redis",
            &[
                ("PYSEC-2023-45", "4.5.3", "Unknown"),
                ("PYSEC-2023-46", "4.5.4", "Unknown"),
            ],
        ),
        ("sqlparse", &[("PYSEC-2023-87", "0.4.4", "Unknown")]),
        ("Paramiko", &[("PYSEC-2022-166", "2.10.1", "Unknown")]),
    ])
}

/// The Alpine image's findings (see `tests/vulns.rs`).
pub fn alpine_expected() -> Findings {
    let busybox: Written<'_> = &[
        ("CVE-2022-48174", "1.36.1-r2", "Unknown"),
        ("CVE-2023-42363", "1.36.1-r17", "Unknown"),
        ("CVE-2023-42364", "1.36.1-r19", "Unknown"),
        ("CVE-2023-42365", "1.36.1-r19", "Unknown"),
        ("CVE-2023-42366", "1.36.1-r16", "Unknown"),
        ("CVE-2024-58251", "1.36.1-r21", "Unknown"),
        ("CVE-2025-46394", "1.36.1-r21", "Unknown"),
    ];
    let openssl: Written<'_> = &[
        ("CVE-2023-2650", "3.1.1-r0", "Unknown"),
        ("CVE-2023-2975", "3.1.1-r2", "Unknown"),
        ("CVE-2023-3446", "3.1.1-r3", "Unknown"),
        ("CVE-2023-3817", "3.1.2-r0", "Unknown"),
        ("CVE-2023-5363", "3.1.4-r0", "Unknown"),
        ("CVE-2023-5678", "3.1.4-r1", "Unknown"),
        ("CVE-2023-6129", "3.1.4-r3", "Unknown"),
        ("CVE-2023-6237", "3.1.4-r4", "Unknown"),
    ];
    let musl: Written<'_> = &[
        ("CVE-2025-26519", "1.2.4_git20230717-r5", "Unknown"),
        ("CVE-2026-40200", "1.2.4_git20230717-r6", "Unknown"),
        ("CVE-2026-6042", "1.2.4_git20230717-r6", "Unknown"),
    ];
    expect(&[
        ("busybox", busybox),
        ("busybox-binsh", busybox),
        ("ssl_client", busybox),
        ("libcrypto3", openssl),
        ("libssl3", openssl),
        ("musl", musl),
        ("musl-utils", musl),
    ])
}

/// Create organization `name` as the superuser.
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
