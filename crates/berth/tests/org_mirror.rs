//! Organization mirroring through the real binary, against a second Berth
//! as the upstream (it serves Quay's repository listing): an organization
//! mirror configured through Quay 3.17's API discovers exactly the upstream
//! repositories its filters match, each becomes a `MIRROR` repository
//! synced with the upstream's digests, a repository added upstream appears
//! on the next sync, users cannot push or create repositories inside the
//! mirror, and the upstream credentials are nowhere in clear.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
#[path = "mirror/store.rs"]
mod store;
#[path = "mirror/upstream.rs"]
mod upstream;

use api_support::{ALICE, Admin, BAD, FORBIDDEN, call, create_org, create_repo, del, get, ok, put, refused};
use common::api::usage_log;
use common::cli::skopeo;
use common::layout::{write_image, write_layout_index};
use common::{Server, unique_seed};
use reqwest::Method;
use serde_json::{Value, json};
use store::{contains, database_bytes};
use upstream::{berth_upstream, push_upstream};

const SECRET_KEY: &str = "DATABASE_SECRET_KEY: org-mirror-test-key-0123456789abcdef\n";
const CONFIG: &str = "FEATURE_SECURITY_SCANNER: false\nSSRF_ALLOWED_HOSTS: [127.0.0.1]\n";

async fn post(s: &Server, path: &str, body: Option<Value>) -> (u16, Value) {
    call(s, Admin, Method::POST, path, body).await
}

/// A Berth with organization `acme` and robot `acme+mirror`.
async fn downstream(extra: &str) -> Server {
    let s = Server::start_capturing_logs_with(&format!("{SECRET_KEY}{CONFIG}{extra}")).await;
    create_org(&s, "acme").await;
    ok(
        &call(&s, Admin, Method::PUT, "/organization/acme/robots/mirror", None).await,
        201,
    );
    s
}

/// Quay's organization mirror body for upstream `url`, namespace `team`.
fn body(url: &str, filters: &[&str], creds: Option<(&str, &str)>) -> Value {
    let mut b = json!({
        "external_registry_type": "quay",
        "external_registry_url": url,
        "external_namespace": "team",
        "robot_username": "acme+mirror",
        "visibility": "private",
        "sync_interval": 86400,
        "sync_start_date": "2099-01-01T00:00:00Z",
        "repository_filters": filters,
        "external_registry_config": { "verify_tls": false },
        "skopeo_timeout": 300,
    });
    if let Some((u, p)) = creds {
        b["external_registry_username"] = u.into();
        b["external_registry_password"] = p.into();
    }
    b
}

/// Ask for a discovery and wait until it and every repository sync it
/// asked for ended; returns the discovered repositories.
async fn sync(s: &Server) -> Vec<Value> {
    let mut asked = false;
    for _ in 0..600 {
        let r = post(s, "/organization/acme/mirror/sync-now", None).await;
        if r.0 == 204 {
            asked = true;
            break;
        }
        assert_eq!(r.0, 404, "{}", r.1);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(asked, "sync-now never accepted");
    for _ in 0..1200 {
        let view = get(s, Admin, "/organization/acme/mirror").await.1;
        let repos = get(s, Admin, "/organization/acme/mirror/repositories").await.1["repositories"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let discovered = matches!(view["sync_status"].as_str(), Some("SUCCESS" | "FAIL"));
        let synced = repos
            .iter()
            .all(|r| matches!(r["sync_status"].as_str(), Some("SUCCESS" | "FAIL" | "SKIP")));
        if discovered && synced {
            assert_eq!(view["sync_status"], "SUCCESS", "{view}");
            return repos;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the organization mirror never finished syncing");
}

/// (name, status) of each discovered repository.
fn statuses(repos: &[Value]) -> Vec<(String, String)> {
    repos
        .iter()
        .map(|r| {
            (
                r["repository_name"].as_str().unwrap().to_owned(),
                r["sync_status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The local tags of `acme/<repo>`, sorted.
async fn local_tags(s: &Server, repo: &str) -> Vec<String> {
    let list = s.get_json(&format!("/v2/acme/{repo}/tags/list")).await;
    let mut tags: Vec<String> = list["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

/// The digest `acme/<repo>:<tag>` resolves to locally.
async fn local_digest(s: &Server, repo: &str, tag: &str) -> Option<String> {
    let r = s
        .client
        .head(s.url(&format!("/v2/acme/{repo}/manifests/{tag}")))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    (r.status() == 200).then(|| r.headers()["docker-content-digest"].to_str().unwrap().to_owned())
}

/// Push a fresh image to `acme/<repo>:v` with skopeo as the superuser:
/// (success, stderr).
fn push_local(s: &Server, repo: &str) -> (bool, String) {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[200], unique_seed());
    write_layout_index(&layout, &[("v", &image)]);
    let out = skopeo(s.host())
        .args(["copy", "--dest-tls-verify=false", "--retry-times=0"])
        .arg(format!("oci:{}:v", layout.display()))
        .arg(format!("docker://{}/acme/{repo}:v", s.host()))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_org_mirror_discovers_the_filtered_repositories_and_syncs_them() {
    let (up, token) = berth_upstream().await;
    let app1 = push_upstream(&up, "app1", "v1").await;
    let app2_v1 = push_upstream(&up, "app2", "v1").await;
    let app2_v2 = push_upstream(&up, "app2", "v2").await;
    push_upstream(&up, "other", "v1").await;

    let s = downstream("").await;
    let url = format!("http://{}", up.host());
    let created = post(
        &s,
        "/organization/acme/mirror",
        Some(body(&url, &["app*"], Some(("team+reader", &token)))),
    )
    .await;
    ok(&created, 201);
    assert_eq!(created.1["sync_status"], "NEVER_RUN");
    assert_eq!(created.1["external_registry_type"], "quay");
    assert_eq!(created.1["external_registry_url"], url);
    assert_eq!(created.1["repository_filters"], json!(["app*"]));
    assert_eq!(created.1["has_credentials"], true);
    assert_eq!(created.1["external_registry_username"], Value::Null);
    assert_eq!(created.1["visibility"], "private");
    let verified = post(&s, "/organization/acme/mirror/verify", None).await;
    ok(&verified, 200);
    assert!(
        verified.1["message"].as_str().unwrap().contains("3 repositories"),
        "{}",
        verified.1
    );

    let repos = sync(&s).await;
    assert_eq!(
        statuses(&repos),
        [
            ("app1".to_owned(), "SUCCESS".to_owned()),
            ("app2".to_owned(), "SUCCESS".to_owned()),
            ("other".to_owned(), "SKIP".to_owned()),
        ]
    );
    assert_eq!(local_tags(&s, "app1").await, ["v1"]);
    assert_eq!(local_tags(&s, "app2").await, ["v1", "v2"]);
    assert_eq!(
        local_digest(&s, "app1", "v1").await.as_deref(),
        Some(app1.digest.as_str())
    );
    assert_eq!(
        local_digest(&s, "app2", "v1").await.as_deref(),
        Some(app2_v1.digest.as_str())
    );
    assert_eq!(
        local_digest(&s, "app2", "v2").await.as_deref(),
        Some(app2_v2.digest.as_str())
    );
    assert_eq!(get(&s, Admin, "/repository/acme/other").await.0, 404);
    let repo = get(&s, Admin, "/repository/acme/app1").await;
    assert_eq!(repo.1["state"], "MIRROR", "{}", repo.1);
    assert_eq!(repo.1["is_public"], false, "{}", repo.1);

    // Users write nothing inside the mirror: no push into a mirrored
    // repository, no new repository, no repository mirror, no proxy cache.
    let (pushed, stderr) = push_local(&s, "app1");
    assert!(!pushed);
    assert!(stderr.contains("acme/app1 is a mirror"), "{stderr}");
    let (pushed, stderr) = push_local(&s, "mine");
    assert!(!pushed);
    assert!(stderr.contains("organization mirror"), "{stderr}");
    let r = create_repo(&s, Admin, "acme", "mine").await;
    refused(&r, FORBIDDEN);
    assert!(
        r.1["detail"].as_str().unwrap().contains("organization mirror"),
        "{}",
        r.1
    );
    let r = post(
        &s,
        "/repository/acme/app1/mirror",
        Some(json!({
            "external_reference": format!("{}/team/app1", up.host()),
            "sync_interval": 60, "sync_start_date": "2099-01-01T00:00:00Z",
            "robot_username": "acme+mirror",
            "root_rule": { "rule_kind": "tag_glob_csv", "rule_value": ["*"] },
        })),
    )
    .await;
    refused(&r, BAD);
    assert!(
        r.1["detail"].as_str().unwrap().contains("organization mirror"),
        "{}",
        r.1
    );
    let r = post(
        &s,
        "/organization/acme/proxycache",
        Some(json!({ "upstream_registry": format!("{}/team", up.host()), "insecure": true })),
    )
    .await;
    refused(&r, BAD);

    // A repository added upstream appears on the next sync.
    let app3 = push_upstream(&up, "app3", "latest").await;
    let repos = sync(&s).await;
    assert_eq!(
        statuses(&repos),
        [
            ("app1".to_owned(), "SUCCESS".to_owned()),
            ("app2".to_owned(), "SUCCESS".to_owned()),
            ("app3".to_owned(), "SUCCESS".to_owned()),
            ("other".to_owned(), "SKIP".to_owned()),
        ]
    );
    assert_eq!(
        local_digest(&s, "app3", "latest").await.as_deref(),
        Some(app3.digest.as_str())
    );

    let kinds: Vec<String> = usage_log(&s, "acme").await.into_iter().map(|(k, _)| k).collect();
    for kind in [
        "org_mirror_enabled",
        "org_mirror_sync_now_requested",
        "org_mirror_sync_started",
        "org_mirror_sync_success",
        "org_mirror_repo_created",
        "repo_mirror_sync_success",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} not in {kinds:?}");
    }

    // The robot token is nowhere: not in API answers, the usage log, the
    // server's log or the database.
    let answers = [
        created.1.to_string(),
        get(&s, Admin, "/organization/acme/mirror").await.1.to_string(),
        get(&s, Admin, "/repository/acme/app1/mirror").await.1.to_string(),
        get(&s, Admin, "/organization/acme/logs").await.1.to_string(),
        get(&s, Admin, "/repository/acme/app1/logs").await.1.to_string(),
    ];
    for a in &answers {
        assert!(!a.contains(&token), "credential in an answer: {a}");
    }
    let server_log = std::fs::read_to_string(s.log_file.as_ref().unwrap()).unwrap();
    assert!(server_log.contains("acme"), "the log is captured");
    assert!(!server_log.contains(&token), "credential in the server log");
    let db = database_bytes(&s);
    assert!(
        !contains(&db, token.as_bytes()),
        "credential in the database in clear"
    );
    assert!(
        !contains(&db, hex::encode(token.as_bytes()).as_bytes()),
        "credential in the database in clear (hex)"
    );

    // Disabling the organization mirror disables its repositories' mirrors.
    let changed = put(
        &s,
        Admin,
        "/organization/acme/mirror",
        json!({ "is_enabled": false }),
    )
    .await;
    ok(&changed, 200);
    assert_eq!(changed.1["is_enabled"], false);
    assert_eq!(
        get(&s, Admin, "/repository/acme/app1/mirror").await.1["is_enabled"],
        false
    );

    // Deleting the mirror leaves ordinary repositories with their content.
    ok(&del(&s, Admin, "/organization/acme/mirror").await, 204);
    assert_eq!(get(&s, Admin, "/organization/acme/mirror").await.0, 404);
    assert_eq!(get(&s, Admin, "/repository/acme/app1").await.1["state"], "NORMAL");
    assert_eq!(local_tags(&s, "app2").await, ["v1", "v2"]);
}

#[tokio::test]
async fn org_mirror_configurations_are_validated() {
    let s = downstream("").await;
    s.create_user("alice", "alice-password", false);
    let url = "http://127.0.0.1:1";
    let good = body(url, &["*"], None);
    let with = |key: &str, value: Value| {
        let mut b = good.clone();
        b[key] = value;
        b
    };
    let without = |key: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(key);
        b
    };
    for (bad, says) in [
        (without("external_registry_type"), "external_registry_type"),
        (without("robot_username"), "robot_username"),
        (without("sync_start_date"), "sync_start_date"),
        (
            with("external_registry_type", "gitlab".into()),
            "external_registry_type",
        ),
        (with("sync_interval", 59.into()), "sync_interval"),
        (with("skopeo_timeout", 10.into()), "skopeo_timeout"),
        (
            with("external_registry_url", "ftp://127.0.0.1".into()),
            "external_registry_url",
        ),
        (
            with("external_registry_url", "http://127.0.0.1/v2/x".into()),
            "external_registry_url",
        ),
        (
            with("external_registry_url", "http://169.254.169.254".into()),
            "SSRF_ALLOWED_HOSTS",
        ),
        (
            with("external_registry_config", json!({ "verify_tls": true })),
            "verify_tls",
        ),
        (with("external_namespace", "Team/x".into()), "external_namespace"),
        (with("robot_username", "other+robot".into()), "robot_username"),
        (
            with("architecture_filter", json!(["mips"])),
            "architecture_filter",
        ),
        (with("repository_filters", json!([""])), "repository_filters"),
        (with("sync_start_date", "tomorrow".into()), "sync_start_date"),
        (with("surprise", true.into()), "surprise"),
        (
            with("external_registry_password", "secret".into()),
            "external_registry_username",
        ),
    ] {
        let r = post(&s, "/organization/acme/mirror", Some(bad.clone())).await;
        refused(&r, BAD);
        let detail = r.1["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{bad}: {detail}");
    }
    assert_eq!(get(&s, Admin, "/organization/acme/mirror").await.0, 404);
    // Administrators only.
    let r = call(
        &s,
        ALICE,
        Method::POST,
        "/organization/acme/mirror",
        Some(good.clone()),
    )
    .await;
    assert!(matches!(r.0, 401 | 403), "{r:?}");

    ok(
        &post(&s, "/organization/acme/mirror", Some(good.clone())).await,
        201,
    );
    let again = post(&s, "/organization/acme/mirror", Some(good.clone())).await;
    assert_eq!(again.0, 409, "{}", again.1);
    let changed = put(
        &s,
        Admin,
        "/organization/acme/mirror",
        json!({ "repository_filters": ["a*", "b?"], "is_enabled": false }),
    )
    .await;
    ok(&changed, 200);
    assert_eq!(changed.1["repository_filters"], json!(["a*", "b?"]));
    assert_eq!(changed.1["is_enabled"], false);
    refused(
        &put(
            &s,
            Admin,
            "/organization/acme/mirror",
            json!({ "sync_interval": 5 }),
        )
        .await,
        BAD,
    );
    // Nothing listens upstream: verify says so.
    let r = post(&s, "/organization/acme/mirror/verify", None).await;
    refused(&r, BAD);
    assert!(r.1["detail"].as_str().unwrap().contains("127.0.0.1:1"), "{}", r.1);
    assert_eq!(
        post(&s, "/organization/acme/mirror/sync-cancel", None).await.0,
        404
    );
    // A requested sync of a disabled mirror waits, and can be cancelled.
    ok(&post(&s, "/organization/acme/mirror/sync-now", None).await, 204);
    assert_eq!(
        get(&s, Admin, "/organization/acme/mirror").await.1["sync_status"],
        "SYNC_NOW"
    );
    ok(
        &post(&s, "/organization/acme/mirror/sync-cancel", None).await,
        204,
    );
    let view = get(&s, Admin, "/organization/acme/mirror").await.1;
    assert_eq!(view["sync_status"], "CANCEL", "{view}");
    assert_eq!(view["sync_start_date"], Value::Null, "{view}");
    assert_eq!(
        post(&s, "/organization/acme/mirror/sync-cancel", None).await.0,
        404
    );

    // A proxy-cache organization cannot be an organization mirror.
    create_org(&s, "cache").await;
    ok(
        &post(
            &s,
            "/organization/cache/proxycache",
            Some(json!({ "upstream_registry": "127.0.0.1:1/x", "insecure": true })),
        )
        .await,
        201,
    );
    ok(
        &call(&s, Admin, Method::PUT, "/organization/cache/robots/mirror", None).await,
        201,
    );
    let mut b = good.clone();
    b["robot_username"] = "cache+mirror".into();
    let r = post(&s, "/organization/cache/mirror", Some(b)).await;
    refused(&r, BAD);
    assert!(
        r.1["detail"].as_str().unwrap().contains("mutually exclusive"),
        "{}",
        r.1
    );
}
