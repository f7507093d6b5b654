//! Pull statistics through the real binary and real clients: pulls by tag
//! (skopeo, podman) count for the tag and its manifest, pulls by digest
//! (skopeo, a plain client) for the manifest only, a missing tag counts
//! nothing; Quay's `pull_statistics` endpoints and the tag API answer the
//! exact counts, written every second and when the server stops; pulls
//! spread over two instances on one PostgreSQL database add up.
#![allow(clippy::unwrap_used)]

mod common;

use common::api::{history, now_s};
use common::cli::{podman, skopeo};
use common::cluster::Cluster;
use common::layout::{write_image, write_layout_index};
use common::{OCI_MANIFEST, Server, auth_file, eventually, run, unique_seed};
use serde_json::Value;

/// Our own namespace (the test server's superuser).
const REPO: &str = "admin/pulled";

/// Push a fresh image to `<host>/<repo>:<tag>` with skopeo; returns its
/// manifest digest.
fn skopeo_push(host: &str, repo: &str, tag: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[2000], unique_seed());
    write_layout_index(&layout, &[(tag, &image)]);
    run(skopeo(host)
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{host}/{repo}:{tag}")));
    image.digest
}

/// One pull by tag with skopeo, into a fresh directory.
fn skopeo_pull(host: &str, reference: &str) {
    let out = tempfile::tempdir().unwrap();
    run(skopeo(host)
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{host}/{reference}"))
        .arg(format!("dir:{}", out.path().join("image").display())));
}

/// The answer to a statistics endpoint, checked to be 200.
async fn stats(s: &Server, path: &str) -> Value {
    let r = s
        .get(&format!("/api/v1/repository/{REPO}/{path}/pull_statistics"))
        .await;
    assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// A date as the API renders it, in seconds since the epoch.
fn seconds(date: &Value) -> i64 {
    let text = date.as_str().unwrap_or_else(|| panic!("a date, not {date}"));
    chrono::DateTime::parse_from_rfc2822(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .timestamp()
}

/// `GET` a manifest with the test client (an OCI manifest client).
async fn get_manifest(s: &Server, repo: &str, reference: &str) -> reqwest::StatusCode {
    s.client
        .get(s.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn pulls_are_counted_per_tag_and_per_manifest() {
    let mut s = Server::start().await;
    let host = s.host().to_owned();
    let digest = skopeo_push(&host, REPO, "v1");

    // Pushed, never pulled: zeros, and the manifest the tag resolves to.
    let v = stats(&s, "tag/v1").await;
    assert_eq!(v["tag_name"], "v1");
    assert_eq!(v["tag_pull_count"], 0);
    assert_eq!(v["last_tag_pull_date"], Value::Null);
    assert_eq!(v["current_manifest_digest"], digest.as_str());
    assert_eq!(v["manifest_pull_count"], 0);
    assert_eq!(v["last_manifest_pull_date"], Value::Null);

    let before = now_s();
    // By tag: three skopeo copies and one podman pull.
    for _ in 0..3 {
        skopeo_pull(&host, &format!("{REPO}:v1"));
    }
    let work = tempfile::tempdir().unwrap();
    run(podman(work.path())
        .env("REGISTRY_AUTH_FILE", auth_file(&host))
        .args(["pull", "--tls-verify=false", &format!("{host}/{REPO}:v1")]));
    // By digest: skopeo, then the test client.
    run(skopeo(&host).args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/{REPO}@{digest}"),
    ]));
    assert_eq!(get_manifest(&s, REPO, &digest).await, 200);
    // Counts nothing: a HEAD, a missing tag, a missing digest.
    assert_eq!(s.head(&format!("/v2/{REPO}/manifests/v1")).await.status(), 200);
    assert_eq!(get_manifest(&s, REPO, "missing").await, 404);
    let unknown = common::sha256(b"no such manifest");
    assert_eq!(get_manifest(&s, REPO, &unknown).await, 404);
    let missing = skopeo(&host)
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{host}/{REPO}:missing"))
        .output()
        .unwrap();
    assert!(!missing.status.success());

    // Written within about a second, without a restart.
    eventually("the pulls are written", || async {
        stats(&s, "tag/v1").await["manifest_pull_count"] == 6
    })
    .await;
    let after = now_s();
    let v = stats(&s, "tag/v1").await;
    assert_eq!(v["tag_pull_count"], 4, "{v}");
    assert_eq!(v["current_manifest_digest"], digest.as_str());
    assert_eq!(v["manifest_pull_count"], 6, "{v}");
    let last_tag = seconds(&v["last_tag_pull_date"]);
    let last_manifest = seconds(&v["last_manifest_pull_date"]);
    assert!(
        (before..=after).contains(&last_tag),
        "{before} <= {last_tag} <= {after}"
    );
    assert!(last_manifest >= last_tag && last_manifest <= after, "{v}");

    let m = stats(&s, &format!("manifest/{digest}")).await;
    assert_eq!(m["manifest_digest"], digest.as_str());
    assert_eq!(m["manifest_pull_count"], 6);
    assert_eq!(m["last_manifest_pull_date"], v["last_manifest_pull_date"]);

    // The tag API shows the tag's counts.
    let rows = history(&s, REPO, "v1").await;
    assert_eq!(rows[0]["pull_count"], 4, "{}", rows[0]);
    assert_eq!(rows[0]["last_pulled"], v["last_tag_pull_date"]);

    // Move the tag; pull twice by tag and stop at once: the pulls counted
    // since the last write are written when the server stops.
    let moved = skopeo_push(&host, REPO, "v1");
    assert_eq!(get_manifest(&s, REPO, "v1").await, 200);
    assert_eq!(get_manifest(&s, REPO, "v1").await, 200);
    s.stop();
    s.restart().await;
    let v = stats(&s, "tag/v1").await;
    assert_eq!(v["tag_pull_count"], 6, "{v}");
    assert_eq!(
        v["current_manifest_digest"],
        moved.as_str(),
        "the manifest of the latest pull"
    );
    assert_eq!(v["manifest_pull_count"], 2, "{v}");
    let m = stats(&s, &format!("manifest/{digest}")).await;
    assert_eq!(m["manifest_pull_count"], 6, "the old manifest keeps its own");

    // Unknown things and bad input.
    let r = s
        .get(&format!("/api/v1/repository/{REPO}/tag/missing/pull_statistics"))
        .await;
    assert_eq!(r.status(), 404);
    let r = s
        .get(&format!(
            "/api/v1/repository/{REPO}/manifest/{unknown}/pull_statistics"
        ))
        .await;
    assert_eq!(r.status(), 404);
    let r = s
        .get(&format!(
            "/api/v1/repository/{REPO}/manifest/sha256:zz/pull_statistics"
        ))
        .await;
    assert_eq!(r.status(), 400);
    let r = s
        .get("/api/v1/repository/admin/nothing/tag/v1/pull_statistics")
        .await;
    assert_eq!(r.status(), 404);

    // Read permission on the repository is needed.
    s.create_user("eve", "eve-password-1", false);
    let eve = s.client_as("eve", "eve-password-1");
    let r = eve
        .get(s.url(&format!("/api/v1/repository/{REPO}/tag/v1/pull_statistics")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn with_statistics_off_nothing_is_counted_or_shown() {
    let s = Server::start_with_config("FEATURE_IMAGE_PULL_STATS: false\n").await;
    let (_, digest) = s.push_image(REPO, "v1", 1).await;
    assert_eq!(get_manifest(&s, REPO, "v1").await, 200);
    let r = s
        .get(&format!("/api/v1/repository/{REPO}/tag/v1/pull_statistics"))
        .await;
    assert_eq!(r.status(), 404);
    let r = s
        .get(&format!(
            "/api/v1/repository/{REPO}/manifest/{digest}/pull_statistics"
        ))
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(history(&s, REPO, "v1").await[0]["pull_count"], 0);
}

#[tokio::test]
async fn pulls_spread_over_two_instances_add_up() {
    let Some(mut cluster) = Cluster::start(2, "").await else {
        return;
    };
    let (_, digest) = cluster.servers[0].push_image(REPO, "v1", 1).await;
    // Concurrent pulls on both instances, by tag and by digest, so both
    // write increments to the same rows, over several write intervals.
    let mut tasks = Vec::new();
    for (i, s) in cluster.servers.iter().enumerate() {
        let (client, base) = (s.client.clone(), s.base());
        let digest = digest.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..(60 + 20 * i) {
                let reference = if n % 3 == 0 { digest.as_str() } else { "v1" };
                let r = client
                    .get(format!("{base}/v2/{REPO}/manifests/{reference}"))
                    .header("accept", OCI_MANIFEST)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                if n % 20 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // 60 + 80 pulls; every third (0, 3, ...) by digest: 20 + 27.
    let (total, by_digest) = (140, 20 + 27);
    for s in &mut cluster.servers {
        s.stop();
    }
    for s in &mut cluster.servers {
        s.restart().await;
    }
    for s in &cluster.servers {
        let v = stats(s, "tag/v1").await;
        assert_eq!(v["tag_pull_count"], total - by_digest, "{v}");
        assert_eq!(v["manifest_pull_count"], total, "{v}");
    }
}
