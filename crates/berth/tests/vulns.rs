//! Vulnerability reports end to end: the feed updaters fetch real Debian,
//! Alpine and OSV records from a loopback server at the real paths, images
//! built from real package databases are pushed with skopeo, and Quay's
//! security API must report exactly the findings worked out by hand from
//! those records (see `tests/data/PROVENANCE.md`).
#![allow(clippy::unwrap_used)]

mod common;

use common::Server;
use common::feeds::FeedServer;
use common::vulnimages::{
    alpine_expected, debian_expected, feed_config, write_alpine_image, write_debian_image,
};
use common::vulnreport::{create_org, data, findings, push, scanned, security, vulndb};

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

#[tokio::test]
async fn reports_match_the_feeds_and_follow_their_changes() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let s = Server::start_with_config(&feed_config(&feeds)).await;
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
