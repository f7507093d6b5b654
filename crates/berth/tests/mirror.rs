//! Repository mirroring through the real binary, against a real upstream:
//! Debian's `docker-registry` (CNCF Distribution) with htpasswd
//! authentication, filled by skopeo. A mirror configured through Quay's
//! API and synced with `sync-now` holds exactly the matched tags with the
//! upstream's digests (a multi-arch index included), follows deletions
//! upstream, refuses users' pushes but not its robot's, and never shows
//! the upstream password in logs, API answers or the database. Hostile,
//! unreachable and refused upstreams end in `FAIL` with a clear error.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
#[path = "mirror/store.rs"]
mod store;
#[path = "mirror/upstream.rs"]
mod upstream;

use api_support::{Admin, BAD, call, create_org, create_repo, get, ok, put, refused};
use common::api::usage_log;
use common::cli::skopeo;
use common::layout::{write_image, write_index, write_layout_index};
use common::{Server, unique_seed};
use reqwest::Method;
use serde_json::{Value, json};
use store::{contains, database_bytes};
use upstream::{Distribution, hostile_upstream};

const SECRET_KEY: &str = "DATABASE_SECRET_KEY: mirror-test-key-0123456789abcdef\n";
const CONFIG: &str = "FEATURE_SECURITY_SCANNER: false\nSSRF_ALLOWED_HOSTS: [127.0.0.1]\n";

/// A Berth with organization `acme`, repository `acme/app` and robot
/// `acme+mirror`; returns the robot's token.
async fn berth_with_mirror_repo(extra: &str) -> (Server, String) {
    let s = Server::start_capturing_logs_with(&format!("{SECRET_KEY}{CONFIG}{extra}")).await;
    create_org(&s, "acme").await;
    ok(&create_repo(&s, Admin, "acme", "app").await, 201);
    let robot = call(&s, Admin, Method::PUT, "/organization/acme/robots/mirror", None).await;
    ok(&robot, 201);
    (s, robot.1["token"].as_str().unwrap().to_owned())
}

/// Quay's mirror body for `reference` with `globs`.
fn mirror_body(reference: &str, globs: &[&str], creds: Option<(&str, &str)>) -> Value {
    let mut body = json!({
        "external_reference": reference,
        "sync_interval": 86400,
        "sync_start_date": "2099-01-01T00:00:00Z",
        "robot_username": "acme+mirror",
        "root_rule": { "rule_kind": "tag_glob_csv", "rule_value": globs },
        "external_registry_config": { "verify_tls": false },
        "skopeo_timeout_interval": 300,
    });
    if let Some((u, p)) = creds {
        body["external_registry_username"] = u.into();
        body["external_registry_password"] = p.into();
    }
    body
}

async fn post(s: &Server, path: &str, body: Option<Value>) -> (u16, Value) {
    call(s, Admin, Method::POST, path, body).await
}

/// Ask for a sync (again while a retry is running) and wait until it
/// ended; returns the mirror view.
async fn sync(s: &Server) -> Value {
    for _ in 0..600 {
        let asked = post(s, "/repository/acme/app/mirror/sync-now", None).await;
        if asked.0 == 204 {
            for _ in 0..1200 {
                let view = get(s, Admin, "/repository/acme/app/mirror").await.1;
                if matches!(view["sync_status"].as_str(), Some("SUCCESS" | "FAIL")) {
                    return view;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the sync never ended");
        }
        // 404 while a sync runs.
        assert_eq!(asked.0, 404, "{}", asked.1);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("sync-now never accepted");
}

/// The local tags of `acme/app`, sorted.
async fn local_tags(s: &Server) -> Vec<String> {
    let list = s.get_json("/v2/acme/app/tags/list").await;
    let mut tags: Vec<String> = list["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

/// The digest `acme/app:<reference>` resolves to locally.
async fn local_digest(s: &Server, reference: &str) -> Option<String> {
    let r = s
        .client
        .head(s.url(&format!("/v2/acme/app/manifests/{reference}")))
        .header(
            "accept",
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .unwrap();
    (r.status() == 200).then(|| r.headers()["docker-content-digest"].to_str().unwrap().to_owned())
}

/// Push a fresh image to `acme/app:<tag>` with skopeo as `creds` (or the
/// superuser): (success, stderr).
fn push_local(s: &Server, tag: &str, creds: Option<&str>) -> (bool, String) {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[200], unique_seed());
    write_layout_index(&layout, &[("v", &image)]);
    let mut cmd = skopeo(s.host());
    cmd.args(["copy", "--dest-tls-verify=false", "--retry-times=0"]);
    if let Some(c) = creds {
        cmd.args(["--dest-creds", c]);
    }
    let out = cmd
        .arg(format!("oci:{}:v", layout.display()))
        .arg(format!("docker://{}/acme/app:{tag}", s.host()))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_mirror_copies_matched_tags_with_upstream_digests_and_follows_the_upstream() {
    let password = format!("upstream-pw-{}", unique_seed());
    let up = Distribution::start("mirroruser", &password).await;
    // Upstream content: two images and a two-platform index matched by the
    // globs, one image that is not.
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let seed = unique_seed();
    let v10 = write_image(&layout, "amd64", &[1000, 2000], seed);
    let v11 = write_image(&layout, "amd64", &[1500], seed + 10);
    let amd = write_image(&layout, "amd64", &[800], seed + 20);
    let arm = write_image(&layout, "arm64", &[900], seed + 30);
    let latest = write_index(&layout, &[(amd.clone(), "amd64"), (arm.clone(), "arm64")]);
    let dev = write_image(&layout, "amd64", &[700], seed + 40);
    up.push_all(
        &layout,
        &[("v1.0", &v10), ("v1.1", &v11), ("latest", &latest), ("dev", &dev)],
        "ns/app",
    );

    let (s, robot_token) = berth_with_mirror_repo("").await;
    let reference = format!("{}/ns/app", up.addr);
    let created = post(
        &s,
        "/repository/acme/app/mirror",
        Some(mirror_body(
            &reference,
            &["v1.*", "latest"],
            Some(("mirroruser", &password)),
        )),
    )
    .await;
    ok(&created, 201);
    assert_eq!(created.1["sync_status"], "NEVER_RUN");
    assert_eq!(created.1["mirror_type"], "PULL");
    assert_eq!(created.1["robot_username"], "acme+mirror");
    assert_eq!(created.1["external_reference"], reference);
    assert_eq!(created.1["sync_start_date"], "2099-01-01T00:00:00Z");
    assert_eq!(created.1["root_rule"]["rule_value"], json!(["v1.*", "latest"]));
    assert_eq!(created.1["has_credentials"], true);
    assert_eq!(created.1["external_registry_username"], Value::Null);
    // The repository is a mirror now, and a second configuration is refused.
    assert_eq!(get(&s, Admin, "/repository/acme/app").await.1["state"], "MIRROR");
    let again = post(
        &s,
        "/repository/acme/app/mirror",
        Some(mirror_body(&reference, &["*"], None)),
    )
    .await;
    assert_eq!(again.0, 409, "{}", again.1);
    // The robot was given write.
    let perm = get(&s, Admin, "/repository/acme/app/permissions/user/acme+mirror").await;
    ok(&perm, 200);
    assert_eq!(perm.1["role"], "write");

    let view = sync(&s).await;
    assert_eq!(view["sync_status"], "SUCCESS", "{view}");
    assert_eq!(view["sync_retries_remaining"], 3);
    assert!(view["last_sync"].is_string());
    assert_eq!(local_tags(&s).await, ["latest", "v1.0", "v1.1"]);
    assert_eq!(
        local_digest(&s, "v1.0").await.as_deref(),
        Some(v10.digest.as_str())
    );
    assert_eq!(
        local_digest(&s, "v1.1").await.as_deref(),
        Some(v11.digest.as_str())
    );
    assert_eq!(
        local_digest(&s, "latest").await.as_deref(),
        Some(latest.digest.as_str())
    );
    // Every platform of the index, by its own digest.
    assert_eq!(
        local_digest(&s, &amd.digest).await.as_deref(),
        Some(amd.digest.as_str())
    );
    assert_eq!(
        local_digest(&s, &arm.digest).await.as_deref(),
        Some(arm.digest.as_str())
    );
    assert_eq!(local_digest(&s, &dev.digest).await, None);
    // The copy reads back whole: skopeo pulls every platform.
    let out = work.path().join("pulled");
    common::run(
        skopeo(s.host())
            .args(["copy", "--all", "--src-tls-verify=false"])
            .arg(format!("docker://{}/acme/app:latest", s.host()))
            .arg(format!("oci:{}:latest", out.display())),
    );
    let log = usage_log(&s, "acme").await;
    let kinds: Vec<&str> = log.iter().map(|(k, _)| k.as_str()).collect();
    for kind in [
        "repo_mirror_enabled",
        "repo_mirror_sync_now_requested",
        "repo_mirror_sync_started",
        "repo_mirror_sync_tag_success",
        "repo_mirror_sync_success",
    ] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }

    // A user's push is refused with a message naming the mirror; the
    // robot's is taken.
    let (pushed, stderr) = push_local(&s, "hotfix", None);
    assert!(!pushed);
    assert!(stderr.contains("acme/app is a mirror"), "{stderr}");
    let (pushed, stderr) = push_local(&s, "robot-push", Some(&format!("acme+mirror:{robot_token}")));
    assert!(pushed, "{stderr}");

    // A tag deleted upstream goes on the next sync, as does what is not
    // matched (the robot's own push).
    up.delete("ns/app", "v1.1");
    let view = sync(&s).await;
    assert_eq!(view["sync_status"], "SUCCESS", "{view}");
    assert_eq!(local_tags(&s).await, ["latest", "v1.0"]);

    // Narrowing the globs through PUT drops the tags no longer matched.
    let changed = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({ "root_rule": { "rule_kind": "tag_glob_csv", "rule_value": ["latest"] } }),
    )
    .await;
    ok(&changed, 201);
    assert_eq!(changed.1["root_rule"]["rule_value"], json!(["latest"]));
    assert_eq!(sync(&s).await["sync_status"], "SUCCESS");
    assert_eq!(local_tags(&s).await, ["latest"]);

    // The password is nowhere: not in API answers, the usage log, the
    // server's log or the database.
    let answers = [
        created.1.to_string(),
        changed.1.to_string(),
        get(&s, Admin, "/repository/acme/app/mirror").await.1.to_string(),
        get(&s, Admin, "/repository/acme/app/logs").await.1.to_string(),
        get(&s, Admin, "/organization/acme/logs").await.1.to_string(),
    ];
    for a in &answers {
        assert!(!a.contains(&password), "password in an answer: {a}");
    }
    let server_log = std::fs::read_to_string(s.log_file.as_ref().unwrap()).unwrap();
    assert!(server_log.contains("acme/app"), "the log is captured");
    assert!(!server_log.contains(&password), "password in the server log");
    let db = database_bytes(&s);
    assert!(
        !contains(&db, password.as_bytes()),
        "password in the database in clear"
    );
    assert!(
        !contains(&db, hex::encode(password.as_bytes()).as_bytes()),
        "password in the database in clear (hex)"
    );
}

#[tokio::test]
async fn unreachable_refusing_and_hostile_upstreams_fail_cleanly() {
    let (s, _) = berth_with_mirror_repo("").await;
    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let reference = format!("{closed}/ns/app");
    ok(
        &post(
            &s,
            "/repository/acme/app/mirror",
            Some(mirror_body(&reference, &["*"], None)),
        )
        .await,
        201,
    );
    let view = sync(&s).await;
    assert_eq!(view["sync_status"], "FAIL", "{view}");
    assert_eq!(view["sync_retries_remaining"], 2, "{view}");
    let error = view["last_error"].as_str().unwrap();
    assert!(error.contains(&closed.to_string()), "{error}");

    // Wrong credentials: refused by the upstream.
    let up = Distribution::start("mirroruser", "right-password").await;
    let reference = format!("{}/ns/app", up.addr);
    let changed = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({
            "external_reference": reference,
            "external_registry_username": "mirroruser",
            "external_registry_password": "wrong-password",
        }),
    )
    .await;
    ok(&changed, 201);
    let view = sync(&s).await;
    assert_eq!(view["sync_status"], "FAIL", "{view}");
    assert!(view["last_error"].as_str().unwrap().contains("401"), "{view}");

    // A hostile upstream: a manifest that does not match its digest, one
    // that is not JSON. Both tags fail, the server carries on.
    let hostile = hostile_upstream().await;
    let changed = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({ "external_reference": format!("{hostile}/ns/app"), "external_registry_username": null, "external_registry_password": null }),
    )
    .await;
    ok(&changed, 201);
    assert_eq!(changed.1["has_credentials"], false);
    let view = sync(&s).await;
    assert_eq!(view["sync_status"], "FAIL", "{view}");
    let error = view["last_error"].as_str().unwrap();
    assert!(error.contains("2 of 2 tags failed"), "{error}");
    assert!(error.contains("has digest"), "{error}");
    assert!(local_tags(&s).await.is_empty());
    assert_eq!(s.get("/v2/").await.status(), 200, "the server still answers");
    let kinds: Vec<String> = usage_log(&s, "acme").await.into_iter().map(|(k, _)| k).collect();
    assert!(kinds.iter().any(|k| k == "repo_mirror_sync_failed"), "{kinds:?}");
    assert!(
        kinds.iter().any(|k| k == "repo_mirror_sync_tag_failed"),
        "{kinds:?}"
    );

    // Bad configurations are refused up front.
    let bad = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({ "skopeo_timeout_interval": 10 }),
    )
    .await;
    refused(&bad, BAD);
    let bad = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({ "external_reference": "https://x/y" }),
    )
    .await;
    refused(&bad, BAD);
    let bad = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({ "robot_username": "other+robot" }),
    )
    .await;
    refused(&bad, BAD);
    let bad = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({ "architecture_filter": ["mips"] }),
    )
    .await;
    refused(&bad, BAD);
    let none = post(&s, "/repository/acme/app/mirror/sync-cancel", None).await;
    assert_eq!(none.0, 404, "{}", none.1);
}

#[tokio::test]
async fn upstreams_in_internal_ranges_are_refused_unless_allowed() {
    // No SSRF_ALLOWED_HOSTS: loopback is refused, by name and by address.
    let s = Server::start_with_config(&format!("{SECRET_KEY}FEATURE_SECURITY_SCANNER: false\n")).await;
    create_org(&s, "acme").await;
    ok(&create_repo(&s, Admin, "acme", "app").await, 201);
    ok(
        &call(&s, Admin, Method::PUT, "/organization/acme/robots/mirror", None).await,
        201,
    );
    for reference in [
        "127.0.0.1:5000/ns/app",
        "localhost:5000/ns/app",
        "169.254.169.254/x/y",
    ] {
        let r = post(
            &s,
            "/repository/acme/app/mirror",
            Some(mirror_body(reference, &["*"], None)),
        )
        .await;
        refused(&r, BAD);
        assert!(
            r.1["detail"].as_str().unwrap().contains("SSRF_ALLOWED_HOSTS"),
            "{}",
            r.1
        );
    }
    assert_eq!(get(&s, Admin, "/repository/acme/app").await.1["state"], "NORMAL");
}

#[tokio::test]
async fn another_berth_is_mirrored_through_its_bearer_token_realm() {
    // The upstream Berth answers /v2 with a bearer challenge; the mirror
    // fetches a token from its realm with the upstream's credentials.
    let up = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[1200], unique_seed());
    write_layout_index(&layout, &[("v", &image)]);
    common::run(
        skopeo(up.host())
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:v", layout.display()))
            .arg(format!("docker://{}/team/app:stable", up.host())),
    );
    let (s, _) = berth_with_mirror_repo("").await;
    let body = mirror_body(
        &format!("{}/team/app", up.host()),
        &["stable"],
        Some((common::ADMIN, common::ADMIN_PASSWORD)),
    );
    ok(&post(&s, "/repository/acme/app/mirror", Some(body)).await, 201);
    let view = sync(&s).await;
    assert_eq!(view["sync_status"], "SUCCESS", "{view}");
    assert_eq!(local_tags(&s).await, ["stable"]);
    assert_eq!(
        local_digest(&s, "stable").await.as_deref(),
        Some(image.digest.as_str())
    );
}

#[tokio::test]
async fn sync_cancel_stops_a_running_sync() {
    use std::sync::atomic::Ordering;
    let (addr, hits) = upstream::slow_upstream(50).await;
    let (s, _) = berth_with_mirror_repo("").await;
    let body = mirror_body(&format!("{addr}/ns/app"), &["*"], None);
    ok(&post(&s, "/repository/acme/app/mirror", Some(body)).await, 201);
    ok(&post(&s, "/repository/acme/app/mirror/sync-now", None).await, 204);
    for _ in 0..600 {
        if hits.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(hits.load(Ordering::SeqCst) > 0, "the sync never started");
    let view = get(&s, Admin, "/repository/acme/app/mirror").await.1;
    assert_eq!(view["sync_status"], "SYNCING", "{view}");
    ok(
        &post(&s, "/repository/acme/app/mirror/sync-cancel", None).await,
        204,
    );
    // The worker stops after the tag it was copying: the upstream stops
    // getting requests long before the 50th tag.
    let mut last = usize::MAX;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let now = hits.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    assert!(
        last < 50,
        "the sync went on after the cancel: {last} tags asked for"
    );
    let view = get(&s, Admin, "/repository/acme/app/mirror").await.1;
    assert_eq!(view["sync_status"], "CANCEL", "{view}");
    assert_eq!(view["sync_start_date"], Value::Null, "{view}");
    // Nothing to cancel any more.
    assert_eq!(
        post(&s, "/repository/acme/app/mirror/sync-cancel", None).await.0,
        404
    );
}
