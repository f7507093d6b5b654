//! Vulnerability events and the reports read across images: an image
//! indexed with findings at or above `NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX`
//! records `vulnerability_found` (Quay's first-index shape), a feed update
//! records it for the new finding only, both delivered by a real webhook
//! to a loopback receiver; the tag listing carries each tag's findings per
//! severity; `GET /api/v1/vulnerability/{id}/manifests` finds images under
//! any alias, within the caller's visible repositories.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::feeds::FeedServer;
use common::quota::Caller;
use common::receiver::Receiver;
use common::vulnimages::{feed_config, write_debian_image};
use common::vulnreport::{create_org, data, push, scanned, vulndb};
use common::{Server, eventually};
use serde_json::{Value, json};

/// Webhooks to loopback, quick retries, and first-index events from
/// Negligible up (the Debian image has three Negligible findings).
fn config(feeds: &FeedServer) -> String {
    format!(
        "{}DATABASE_SECRET_KEY: vuln-events-test-key-0123456789\n\
         SSRF_ALLOWED_HOSTS: [127.0.0.1]\n\
         NOTIFICATION_RETRY_DELAY_S: 1\n\
         NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX: Negligible\n",
        feed_config(feeds)
    )
}

/// Run `sql` on the server's database; the first column of its one row
/// if it returns one.
async fn sql(s: &Server, sql: &'static str) -> Option<i64> {
    macro_rules! on {
        ($pool:expr) => {{
            let pool = $pool;
            let row: Option<(i64,)> = if sql.starts_with("SELECT") {
                Some(sqlx::query_as(sql).fetch_one(&pool).await.unwrap())
            } else {
                sqlx::query(sql).execute(&pool).await.unwrap();
                None
            };
            pool.close().await;
            row.map(|r| r.0)
        }};
    }
    match s.db_uri() {
        Some(uri) => on!(sqlx::PgPool::connect(uri).await.unwrap()),
        None => {
            let opts =
                sqlx::sqlite::SqliteConnectOptions::new().filename(s.data_dir.path().join("metadata.db"));
            on!(sqlx::SqlitePool::connect_with(opts).await.unwrap())
        }
    }
}

/// Deliveries still queued.
async fn queued(s: &Server) -> i64 {
    sql(s, "SELECT count(*) FROM notification_queue").await.unwrap()
}

fn ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["vulnerability"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn vulnerability_found_is_recorded_on_index_and_for_new_findings_only() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let mut s = Server::start_with_config(&config(&feeds)).await;
    create_org(&s, "vulns").await;
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // The repository and its webhook exist before the push.
    let (status, body) = Caller::admin(&s)
        .post(
            "/repository",
            json!({"namespace": "vulns", "repository": "debian", "visibility": "private", "description": ""}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let hook = Receiver::start().await;
    let (status, body) = Caller::admin(&s)
        .post(
            "/repository/vulns/debian/notification/",
            json!({"event": "vulnerability_found", "method": "webhook", "config": {"url": hook.url()},
                   "eventConfig": {}, "title": "vulnerabilities"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("debian");
    write_debian_image(&layout);
    let digest = push(&s, &layout, "vulns/debian").await;
    scanned(&s, "vulns/debian", &digest).await;

    // First index: one event per finding at Negligible or above, in Quay's
    // shape with `vulnerable_index_report_created`.
    eventually("the first-index events are delivered", || async {
        hook.received().len() >= 3
    })
    .await;
    let first: Vec<Value> = hook.received().iter().map(|r| r.json()).collect();
    assert_eq!(
        ids(&first),
        BTreeSet::from([
            "CVE-2005-2541".to_owned(),
            "CVE-2010-4756".to_owned(),
            "CVE-2019-1010022".to_owned()
        ]),
        "{first:?}"
    );
    let host = s.host().to_owned();
    let tar = first
        .iter()
        .find(|e| e["vulnerability"]["id"] == "CVE-2005-2541")
        .unwrap();
    assert_eq!(tar["repository"], "vulns/debian");
    assert_eq!(tar["docker_url"], format!("{host}/vulns/debian"));
    assert_eq!(tar["tags"], json!(["v1"]));
    assert_eq!(tar["vulnerable_index_report_created"], "true");
    assert_eq!(tar["vulnerability"]["priority"], "Negligible");
    assert_eq!(tar["vulnerability"]["has_fix"], false);
    assert_eq!(
        tar["vulnerability"]["link"],
        "https://security-tracker.debian.org/tracker/CVE-2005-2541"
    );

    // The tag listing and the repository view carry the summary.
    let tags = s.get_json("/api/v1/repository/vulns/debian/tag/").await;
    let want = json!({"status": "scanned", "vulnerabilities":
        {"Critical": 0, "High": 0, "Medium": 0, "Low": 0, "Negligible": 3, "Unknown": 12}});
    assert_eq!(tags["tags"][0]["security_summary"], want, "{tags}");
    let repo = s.get_json("/api/v1/repository/vulns/debian").await;
    assert_eq!(repo["tags"]["v1"]["security_summary"], want, "{repo}");

    // Unchanged feeds record nothing.
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success());
    // A changed feed: a new zlib entry (High) and an unrelated OSV record
    // naming a Debian CVE as its alias. Only the new finding is recorded.
    let json_path = feeds.root.join("debian/tracker/data/json");
    let mut tracker: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    tracker["zlib"]["CVE-2026-0001"] = json!({
        "description": "a new zlib flaw",
        "releases": {"bookworm": {"status": "resolved", "fixed_version": "1:1.2.13.dfsg-1+deb12u1", "urgency": "high"}}
    });
    std::fs::write(&json_path, serde_json::to_vec(&tracker).unwrap()).unwrap();
    std::fs::write(
        feeds.root.join("osv/PyPI/GHSA-berth-test-0001.json"),
        serde_json::to_vec(&json!({
            "id": "GHSA-berth-test-0001", "modified": "2026-01-01T00:00:00Z",
            "aliases": ["CVE-2024-2961"],
            "affected": [{"package": {"ecosystem": "PyPI", "name": "not-installed-here"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]
        }))
        .unwrap(),
    )
    .unwrap();
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    eventually("the new finding is delivered", || async {
        hook.received().len() >= 4
    })
    .await;
    let tags = s.get_json("/api/v1/repository/vulns/debian/tag/").await;
    assert_eq!(
        tags["tags"][0]["security_summary"]["vulnerabilities"]["High"], 1,
        "{tags}"
    );
    // Another unchanged run; every queued delivery made, nothing else came.
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success());
    eventually("nothing is left queued", || async { queued(&s).await == 0 }).await;
    let all: Vec<Value> = hook.received().iter().map(|r| r.json()).collect();
    assert_eq!(all.len(), 4, "{all:?}");
    let mut new = all[3].clone();
    // `berth vulndb update` names the registry by SERVER_HOSTNAME, else
    // LISTEN_ADDRESS; the test server listens where `--listen` says.
    let url = new["docker_url"].as_str().unwrap().to_owned();
    assert!(url.ends_with("/vulns/debian"), "{url}");
    let site = url.trim_end_matches("/vulns/debian").to_owned();
    assert_eq!(new["homepage"], format!("http://{site}/repository/vulns/debian"));
    new["docker_url"] = json!(format!("{host}/vulns/debian"));
    new["homepage"] = json!(format!("http://{host}/repository/vulns/debian"));
    assert_eq!(
        new,
        json!({"repository": "vulns/debian", "namespace": "vulns", "name": "debian",
                "docker_url": format!("{host}/vulns/debian"),
                "homepage": format!("http://{host}/repository/vulns/debian"),
                "tags": ["v1"],
                "vulnerability": {"id": "CVE-2026-0001", "description": "a new zlib flaw",
                                  "link": "https://security-tracker.debian.org/tracker/CVE-2026-0001",
                                  "priority": "High", "has_fix": true}})
    );

    // Looked up by vulnerability: by id, by an alias of a merged finding,
    // and by a record whose alias names the finding (GHSA → CVE).
    let affected = |id: &str| {
        let s = &s;
        let id = id.to_owned();
        async move { s.get_json(&format!("/api/v1/vulnerability/{id}/manifests")).await }
    };
    let want = json!([{"repository": "vulns/debian", "namespace": "vulns", "name": "debian",
                       "manifest_digest": digest, "tags": ["v1"]}]);
    for id in [
        "CVE-2024-2961",
        "CVE-2023-30608",
        "GHSA-rrm6-wvj7-cwh2",
        "PYSEC-2023-87",
        "GHSA-berth-test-0001",
        // Added by the re-match, not the first match.
        "CVE-2026-0001",
    ] {
        let got = affected(id).await;
        assert_eq!(got["manifests"], want, "{id}: {got}");
        assert_eq!(got["vulnerability"], id);
    }
    let back = affected("GHSA-berth-test-0001").await;
    assert_eq!(back["ids"], json!(["CVE-2024-2961", "GHSA-berth-test-0001"]));
    // Not affected, withdrawn, never affected ("0"): nothing.
    for id in ["CVE-2099-0001", "PYSEC-2023-73", "CVE-2024-3094"] {
        assert_eq!(affected(id).await["manifests"], json!([]), "{id}");
    }
    // The repository is private: anonymous callers see nothing of it.
    let r = s
        .anon
        .get(s.url("/api/v1/vulnerability/CVE-2024-2961/manifests"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));
    // Not an id: 400.
    let r = s.get("/api/v1/vulnerability/a%20b/manifests").await;
    assert_eq!(r.status(), 400);

    // The entry leaves the feed: the re-match drops the finding, its
    // summary count and its look-up row.
    tracker["zlib"].as_object_mut().unwrap().remove("CVE-2026-0001");
    std::fs::write(&json_path, serde_json::to_vec(&tracker).unwrap()).unwrap();
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(affected("CVE-2026-0001").await["manifests"], json!([]));
    let tags = s.get_json("/api/v1/repository/vulns/debian/tag/").await;
    assert_eq!(
        tags["tags"][0]["security_summary"]["vulnerabilities"]["High"], 0,
        "{tags}"
    );

    // Reports stored before summaries and finding ids were kept are
    // matched again when the indexer starts.
    sql(&s, "DELETE FROM vuln_report_ids").await;
    sql(&s, "UPDATE vuln_reports SET summary = NULL").await;
    assert_eq!(affected("CVE-2024-2961").await["manifests"], json!([]));
    s.stop();
    s.restart().await;
    eventually("the stored report is matched again", || async {
        sql(&s, "SELECT count(*) FROM vuln_reports WHERE summary IS NULL").await == Some(0)
    })
    .await;
    assert_eq!(
        s.get_json("/api/v1/vulnerability/CVE-2024-2961/manifests").await["manifests"],
        want
    );
}
