//! Vulnerability reports end to end: the feed updaters fetch real Debian,
//! Alpine and OSV records from a loopback server at the real paths, images
//! built from real package databases are pushed with skopeo, and Quay's
//! security API must report exactly the findings worked out by hand from
//! those records (see `tests/data/PROVENANCE.md`).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::feeds::FeedServer;
use common::layout::{gzip_layer, write_image_layers, write_layout_index};
use common::{Server, run};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A tar stream of (path, content) files.
fn tar_layer(files: &[(&str, &[u8])]) -> Vec<u8> {
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

/// Debian 12: a base layer with the dpkg database, a second with Python
/// packages.
fn write_debian_image(layout: &Path) {
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

/// alpine:3.18.0's installed database under a 3.19 release file: the
/// secdb records at hand are those of v3.19.
fn write_alpine_image(layout: &Path) {
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

fn config(feeds: &FeedServer) -> String {
    format!(
        "SECURITY_SCANNER_DISABLE_UPDATERS: true\n\
         SECURITY_SCANNER_UPDATERS:\n  \
           debian:\n    url: {base}/debian/tracker/data/json\n  \
           alpine:\n    url: {base}/alpine-secdb/\n  \
           osv:\n    url: {base}/osv/\n    ecosystems: [PyPI]\n",
        base = feeds.base
    )
}

/// `berth vulndb ARGS` against the server's database.
async fn vulndb(s: &Server, args: &[&str]) -> Output {
    let mut cmd = Command::new(common::berth_bin());
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

async fn push(s: &Server, layout: &Path, repo: &str) -> String {
    let dest = format!("docker://{}/{repo}:v1", s.host());
    let src = format!("oci:{}:v1", layout.display());
    let host = s.host().to_owned();
    tokio::task::spawn_blocking(move || {
        run(common::cli::skopeo(&host).args(["copy", "--dest-tls-verify=false", &src, &dest]));
    })
    .await
    .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

async fn security(s: &Server, repo: &str, digest: &str) -> serde_json::Value {
    s.get_json(&format!(
        "/api/v1/repository/{repo}/manifest/{digest}/security?vulnerabilities=true"
    ))
    .await
}

async fn scanned(s: &Server, repo: &str, digest: &str) -> serde_json::Value {
    wait_scanned(
        s,
        &format!("/api/v1/repository/{repo}/manifest/{digest}/security?vulnerabilities=true"),
    )
    .await
}

/// The report at `path` once the background indexer has scanned the image
/// (a generous bound for background work, not a speed check).
async fn wait_scanned(s: &Server, path: &str) -> serde_json::Value {
    for _ in 0..600 {
        let report = s.get_json(path).await;
        if report["status"] == "scanned" {
            return report;
        }
        assert_eq!(report["status"], "queued", "{report}");
        assert_eq!(report["data"], serde_json::Value::Null);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path} never scanned");
}

/// (vulnerability, fixed by, severity).
type Finding = (String, String, String);
/// Feature name → its sorted findings.
type Findings = BTreeMap<String, Vec<Finding>>;
/// Findings as written below.
type Written<'a> = &'a [(&'a str, &'a str, &'a str)];

/// Feature name → sorted (vulnerability, fixed by, severity) of a report.
fn findings(report: &serde_json::Value) -> Findings {
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

/// Worked out from `vulndata/debian/tracker/data/json` (bookworm) and the
/// PYSEC records: binaries map to their source packages (libc6 → glibc,
/// zlib1g → zlib, liblzma5 → xz-utils); xz-utils' CVE-2024-3094 is
/// `fixed_version "0"` (never affected); perl's CVE-2023-31484 is fixed in
/// deb12u3, below the installed deb12u4; tar's CVE-2022-48303 is fixed in
/// exactly the installed version; glibc CVE-2025-0395 and tar
/// CVE-2023-39804 are no-dsa (affected, no fix). redis PYSEC-2023-73 is
/// withdrawn; sqlparse's and paramiko's GIT ranges are skipped, their
/// ECOSYSTEM ranges (paramiko's out of order) decide.
fn debian_expected() -> Findings {
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

/// Worked out from `vulndata/alpine-secdb/v3.19/main.json` for the
/// alpine:3.18.0 packages, by origin (libcrypto3 and libssl3 → openssl,
/// ssl_client → busybox): ids under `"0"` are never affected (busybox
/// CVE-2021-42373, openssl CVE-2023-4807, zlib CVE-2023-45853);
/// openssl's CVE-2023-1255 is fixed in exactly 3.1.0-r4; musl 1.2.4 sorts
/// below 1.2.4_git20230717 (a `_git` suffix is newer).
fn alpine_expected() -> Findings {
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

async fn create_org(s: &Server, name: &str) {
    let r = s
        .client
        .post(s.url("/api/v1/organization/"))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn reports_match_the_feeds_and_follow_their_changes() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let s = Server::start_with_config(&config(&feeds)).await;
    create_org(&s, "vulns").await;

    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let first = feeds.take_log();
    // Neither release has a community.json here (404).
    assert!(
        first
            .iter()
            .all(|r| !r.conditional && (r.status == 200 || r.path.ends_with("/community.json"))),
        "{first:?}"
    );
    let paths: Vec<&str> = first.iter().map(|r| r.path.as_str()).collect();
    for want in [
        "/debian/tracker/data/json",
        "/alpine-secdb/",
        "/alpine-secdb/v3.19/main.json",
        "/alpine-secdb/v3.20/main.json",
        "/osv/PyPI/all.zip",
    ] {
        assert!(paths.contains(&want), "{want} not fetched: {paths:?}");
    }

    let work = tempfile::tempdir().unwrap();
    let debian = work.path().join("debian");
    write_debian_image(&debian);
    let alpine = work.path().join("alpine");
    write_alpine_image(&alpine);
    let debian_digest = push(&s, &debian, "vulns/debian").await;
    let alpine_digest = push(&s, &alpine, "vulns/alpine").await;

    let report = scanned(&s, "vulns/debian", &debian_digest).await;
    assert_eq!(findings(&report), debian_expected());
    let layer = &report["data"]["Layer"];
    assert_eq!(layer["Name"], debian_digest.as_str());
    assert_eq!(layer["IndexedByVersion"], 4);
    let libc = layer["Features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Name"] == "libc6")
        .unwrap();
    assert_eq!(libc["Version"], "2.36-9+deb12u3");
    assert_eq!(libc["VersionFormat"], "dpkg");
    assert!(libc["AddedBy"].as_str().unwrap().starts_with("sha256:"));
    assert!(
        libc["CVEIds"]
            .as_array()
            .unwrap()
            .contains(&"CVE-2024-2961".into())
    );
    let vuln = libc["Vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "CVE-2024-2961")
        .unwrap();
    assert_eq!(vuln["NamespaceName"], "debian:bookworm");
    assert_eq!(
        vuln["Link"],
        "https://security-tracker.debian.org/tracker/CVE-2024-2961"
    );
    assert_eq!(vuln["Metadata"]["UpdatedBy"], "debian");
    assert_eq!(vuln["Metadata"]["DistroVersion"], "12");
    let redis = layer["Features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Name"] == "redis")
        .unwrap();
    assert_eq!(redis["Vulnerabilities"][0]["Metadata"]["RepoName"], "pypi");
    // Packages without findings are listed too.
    assert!(
        layer["Features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["Name"] == "liblzma5")
    );
    let report = scanned(&s, "vulns/alpine", &alpine_digest).await;
    assert_eq!(findings(&report), alpine_expected());

    // Unchanged feeds: every file asked for conditionally, answered 304,
    // and no body transferred.
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let second = feeds.take_log();
    let existing: Vec<_> = second.iter().filter(|r| r.status != 404).collect();
    assert_eq!(existing.len(), 5, "{second:?}");
    assert!(
        existing.iter().all(|r| r.conditional && r.status == 304),
        "{second:?}"
    );
    assert!(second.iter().all(|r| r.body_bytes == 0), "{second:?}");

    // A changed feed: a new tracker entry for zlib is matched into the
    // stored report without the image being indexed again.
    let json_path = feeds.root.join("debian/tracker/data/json");
    let mut tracker: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    tracker["zlib"]["CVE-2026-0001"] = serde_json::json!({
        "releases": {"bookworm": {"status": "resolved", "fixed_version": "1:1.2.13.dfsg-1+deb12u1", "urgency": "high"}}
    });
    std::fs::write(&json_path, serde_json::to_vec(&tracker).unwrap()).unwrap();
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("debian: updated (1 packages changed, 1 images matched again)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut want = debian_expected();
    want.get_mut("zlib1g").unwrap().push((
        "CVE-2026-0001".into(),
        "1:1.2.13.dfsg-1+deb12u1".into(),
        "High".into(),
    ));
    want.get_mut("zlib1g").unwrap().sort();
    assert_eq!(
        findings(&security(&s, "vulns/debian", &debian_digest).await),
        want
    );
    assert_eq!(
        findings(&security(&s, "vulns/alpine", &alpine_digest).await),
        alpine_expected()
    );

    // Hostile input: a truncated archive fails the update, says so in the
    // status, and the previous records stand.
    let osv = feeds.root.join("osv/PyPI");
    let mut bad = std::fs::read(osv.join("PYSEC-2023-87.json")).unwrap();
    bad.truncate(bad.len() / 2);
    std::fs::write(osv.join("PYSEC-2023-87.json"), bad).unwrap();
    let out = vulndb(&s, &["update"]).await;
    assert!(!out.status.success());
    let status = vulndb(&s, &["status"]).await;
    let text = String::from_utf8_lossy(&status.stdout);
    let osv_line = text.lines().find(|l| l.starts_with("osv ")).unwrap();
    assert!(osv_line.contains("PYSEC-2023-87"), "{text}");
    assert_eq!(
        findings(&security(&s, "vulns/debian", &debian_digest).await),
        want
    );
}

#[tokio::test]
async fn refuses_and_answers_like_quay() {
    let s = Server::start_with_config("SECURITY_SCANNER_DISABLE_UPDATERS: true\n").await;
    create_org(&s, "sec").await;
    let (_, digest) = s.push_image("sec/app", "v1", 1).await;
    let path = format!("/api/v1/repository/sec/app/manifest/{digest}/security");
    // Its layer holds no package database: scanned, with no features.
    let report = wait_scanned(&s, &path).await;
    assert_eq!(report["data"]["Layer"]["Features"], serde_json::json!([]));
    // Private repository: anonymous callers are refused.
    let r = s.anon.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .get(&format!(
            "/api/v1/repository/sec/app/manifest/sha256:{}/security",
            "0".repeat(64)
        ))
        .await;
    assert_eq!(r.status(), 404);
    let r = s.get("/api/v1/repository/sec/app/manifest/nope/security").await;
    assert_eq!(r.status(), 400);
}
