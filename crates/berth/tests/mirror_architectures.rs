//! Architecture-filtered mirroring and sparse indexes
//! (`FEATURE_SPARSE_INDEX`), through the real binary against a real
//! upstream (Debian's `docker-registry`, filled by skopeo): a filtered
//! mirror holds the upstream's index with its digest but only the
//! platforms asked for, pulls of the others answer 404, widening the
//! filter completes the index, and garbage collection keeps exactly what
//! the sparse index reaches. Without the feature the filter is refused
//! and every platform is copied. Client pushes follow Quay's
//! `SPARSE_INDEX_REQUIRED_ARCHS`.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
#[path = "mirror/upstream.rs"]
mod upstream;

use std::path::Path;

use api_support::{Admin, Anon, BAD, call, create_org, create_repo, get, ok, put, refused};
use common::cli::skopeo;
use common::gc::run_gc;
use common::layout::{Written, write_image, write_index};
use common::{OCI_INDEX, OCI_MANIFEST, Server, image_manifest, sha256, unique_seed};
use reqwest::Method;
use serde_json::{Value, json};
use upstream::Distribution;

const CONFIG: &str = "DATABASE_SECRET_KEY: mirror-test-key-0123456789abcdef\nFEATURE_SECURITY_SCANNER: false\nSSRF_ALLOWED_HOSTS: [127.0.0.1]\n\
    FEATURE_GARBAGE_COLLECTION: false\nDEFAULT_TAG_EXPIRATION: 0s\nPUSH_TEMP_TAG_EXPIRATION_SEC: 0\n";

/// Upstream content: `latest`, an index over an amd64 and an arm64 image.
struct Upstream {
    registry: Distribution,
    layout: tempfile::TempDir,
    index: Written,
    amd: Written,
    arm: Written,
}

async fn upstream() -> Upstream {
    let registry = Distribution::start("mirroruser", "mirror-password").await;
    let layout = tempfile::tempdir().unwrap();
    let seed = unique_seed();
    let amd = write_image(layout.path(), "amd64", &[3000, 1000], seed);
    let arm = write_image(layout.path(), "arm64", &[2500], seed + 10);
    let index = write_index(layout.path(), &[(amd.clone(), "amd64"), (arm.clone(), "arm64")]);
    registry.push_all(layout.path(), &[("latest", &index)], "ns/app");
    Upstream {
        registry,
        layout,
        index,
        amd,
        arm,
    }
}

/// The blobs (config and layers) of an image written in `layout`.
fn blobs_of(layout: &Path, image: &Written) -> Vec<String> {
    let path = layout
        .join("blobs/sha256")
        .join(image.digest.trim_start_matches("sha256:"));
    let manifest: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
    for l in manifest["layers"].as_array().unwrap() {
        blobs.push(l["digest"].as_str().unwrap().to_owned());
    }
    blobs
}

/// The bytes of blobs written in `layout`.
fn bytes_of(layout: &Path, blobs: &[String]) -> u64 {
    blobs
        .iter()
        .map(|d| {
            let path = layout.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
            std::fs::metadata(path).unwrap().len()
        })
        .sum()
}

/// Bytes organization `acme` uses, as its quota reports them.
async fn acme_usage(s: &Server) -> u64 {
    let quotas = get(s, Admin, "/organization/acme/quota").await;
    ok(&quotas, 200);
    quotas.1[0]["quota_report"]["quota_bytes"].as_u64().unwrap()
}

/// A Berth with `extra` configuration, organization `acme`, repository
/// `acme/app` and robot `acme+mirror`.
async fn berth(extra: &str) -> Server {
    let s = Server::start_with_config(&format!("{CONFIG}{extra}")).await;
    create_org(&s, "acme").await;
    ok(&create_repo(&s, Admin, "acme", "app").await, 201);
    ok(
        &call(&s, Admin, Method::PUT, "/organization/acme/robots/mirror", None).await,
        201,
    );
    s
}

/// Quay's mirror body for `up`'s `ns/app`, tags `globs`.
fn mirror_body(up: &Upstream, globs: &[&str], filter: Option<&[&str]>) -> Value {
    let mut body = json!({
        "external_reference": format!("{}/ns/app", up.registry.addr),
        "external_registry_username": up.registry.user,
        "external_registry_password": up.registry.password,
        "sync_interval": 86400,
        "sync_start_date": "2099-01-01T00:00:00Z",
        "robot_username": "acme+mirror",
        "root_rule": { "rule_kind": "tag_glob_csv", "rule_value": globs },
        "external_registry_config": { "verify_tls": false },
        "skopeo_timeout_interval": 300,
    });
    if let Some(f) = filter {
        body["architecture_filter"] = json!(f);
    }
    body
}

async fn post(s: &Server, path: &str, body: Option<Value>) -> (u16, Value) {
    call(s, Admin, Method::POST, path, body).await
}

/// Ask for a sync and wait until it ended; returns the mirror view.
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
        assert_eq!(asked.0, 404, "{}", asked.1);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("sync-now never accepted");
}

/// `GET /v2/<repo>/manifests/<reference>`: (status, digest header, body).
async fn manifest(s: &Server, repo: &str, reference: &str) -> (u16, Option<String>, String) {
    let r = s
        .client
        .get(s.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("accept", format!("{OCI_INDEX}, {OCI_MANIFEST}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let digest = r
        .headers()
        .get("docker-content-digest")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, digest, r.text().await.unwrap())
}

/// Whether blob `digest` is readable in `acme/app`.
async fn has_blob(s: &Server, digest: &str) -> bool {
    let r = s
        .client
        .head(s.url(&format!("/v2/acme/app/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    r.status() == 200
}

#[tokio::test]
async fn an_architecture_filter_keeps_the_index_digest_and_only_its_platforms() {
    let up = upstream().await;
    // Full access: the superuser sets the organization's quota.
    let mut s = berth("FEATURE_SPARSE_INDEX: true\nFEATURE_SUPERUSERS_FULL_ACCESS: true\n").await;
    let caps = get(&s, Anon, "/registry/capabilities").await;
    ok(&caps, 200);
    assert_eq!(
        caps.1,
        json!({
            "sparse_manifests": {
                "supported": true,
                "required_architectures": [],
                "optional_architectures_allowed": false,
            },
            "mirror_architectures": ["amd64", "arm64", "ppc64le", "s390x"],
        })
    );
    let base = s.get("/v2/").await;
    assert_eq!(base.headers()["x-sparse-manifest-support"], "true");

    ok(
        &post(
            &s,
            "/organization/acme/quota",
            Some(json!({ "limit_bytes": 1u64 << 30 })),
        )
        .await,
        201,
    );
    let created = post(
        &s,
        "/repository/acme/app/mirror",
        Some(mirror_body(&up, &["latest"], Some(&["amd64"]))),
    )
    .await;
    ok(&created, 201);
    assert_eq!(created.1["architecture_filter"], json!(["amd64"]));
    let view = sync(&s).await;
    assert_eq!(view["sync_status"], "SUCCESS", "{view}");

    // The index with its upstream bytes and digest, by tag and by digest.
    let (status, digest, body) = manifest(&s, "acme/app", "latest").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(digest.as_deref(), Some(up.index.digest.as_str()));
    assert_eq!(sha256(body.as_bytes()), up.index.digest);
    assert_eq!(manifest(&s, "acme/app", &up.index.digest).await.0, 200);
    // The amd64 image and its blobs; nothing of the arm64 one.
    assert_eq!(manifest(&s, "acme/app", &up.amd.digest).await.0, 200);
    let (status, _, body) = manifest(&s, "acme/app", &up.arm.digest).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("MANIFEST_UNKNOWN"), "{body}");
    let amd_blobs = blobs_of(up.layout.path(), &up.amd);
    let arm_blobs = blobs_of(up.layout.path(), &up.arm);
    for b in &amd_blobs {
        assert!(has_blob(&s, b).await, "amd64 blob {b} missing");
    }
    for b in &arm_blobs {
        assert!(!has_blob(&s, b).await, "arm64 blob {b} copied");
    }
    // The quota counts the amd64 image's blobs only.
    let amd_bytes = bytes_of(up.layout.path(), &amd_blobs);
    let arm_bytes = bytes_of(up.layout.path(), &arm_blobs);
    assert_eq!(acme_usage(&s).await, amd_bytes);
    // The tag listing and the API show the index.
    assert_eq!(
        s.get_json("/v2/acme/app/tags/list").await["tags"],
        json!(["latest"])
    );
    let tags = get(&s, Admin, "/repository/acme/app/tag/?onlyActiveTags=true").await;
    ok(&tags, 200);
    let tag = &tags.1["tags"][0];
    assert_eq!(tag["name"], "latest", "{}", tags.1);
    assert_eq!(tag["manifest_digest"], up.index.digest.as_str());
    assert_eq!(tag["is_manifest_list"], true);
    // With Quay's sparse fields.
    assert_eq!(tag["is_sparse"], true, "{tag}");
    assert_eq!(tag["child_manifest_count"], 2);
    assert_eq!(tag["present_child_count"], 1);
    assert_eq!(
        tag["child_manifests_presence"],
        json!({ up.amd.digest.as_str(): true, up.arm.digest.as_str(): false })
    );

    // A real client pulls the amd64 image through the sparse index.
    let out = tempfile::tempdir().unwrap();
    common::run(
        skopeo(s.host())
            .args([
                "--override-arch",
                "amd64",
                "--override-os",
                "linux",
                "copy",
                "--src-tls-verify=false",
            ])
            .arg(format!("docker://{}/acme/app:latest", s.host()))
            .arg(format!("oci:{}:latest", out.path().display())),
    );
    let pulled = std::fs::read_to_string(out.path().join("index.json")).unwrap();
    assert!(pulled.contains(&up.amd.digest), "{pulled}");
    // The arm64 platform cannot be pulled.
    let failed = skopeo(s.host())
        .args([
            "--override-arch",
            "arm64",
            "--override-os",
            "linux",
            "copy",
            "--src-tls-verify=false",
            "--retry-times=0",
        ])
        .arg(format!("docker://{}/acme/app:latest", s.host()))
        .arg(format!("oci:{}:arm", out.path().display()))
        .output()
        .unwrap();
    assert!(!failed.status.success());

    // Garbage collection keeps what the sparse index reaches.
    let collected = run_gc(&s);
    assert_eq!(collected.manifests, 0, "{collected:?}");
    assert_eq!(collected.blobs, 0, "{collected:?}");
    assert_eq!(manifest(&s, "acme/app", "latest").await.0, 200);
    assert_eq!(manifest(&s, "acme/app", &up.amd.digest).await.0, 200);
    for b in &amd_blobs {
        assert!(has_blob(&s, b).await, "amd64 blob {b} collected");
    }

    // Widening the filter completes the index on the next sync; the
    // index itself is unchanged.
    let changed = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({ "architecture_filter": ["amd64", "arm64"] }),
    )
    .await;
    ok(&changed, 201);
    assert_eq!(sync(&s).await["sync_status"], "SUCCESS");
    assert_eq!(
        manifest(&s, "acme/app", "latest").await.1.as_deref(),
        Some(up.index.digest.as_str())
    );
    assert_eq!(manifest(&s, "acme/app", &up.arm.digest).await.0, 200);
    for b in &arm_blobs {
        assert!(has_blob(&s, b).await, "arm64 blob {b} missing");
    }
    assert_eq!(acme_usage(&s).await, amd_bytes + arm_bytes);
    let tags = get(&s, Admin, "/repository/acme/app/tag/?onlyActiveTags=true")
        .await
        .1;
    assert_eq!(tags["tags"][0]["is_sparse"], false, "{tags}");
    assert_eq!(tags["tags"][0]["present_child_count"], 2);
    let all = tempfile::tempdir().unwrap();
    common::run(
        skopeo(s.host())
            .args(["copy", "--all", "--src-tls-verify=false"])
            .arg(format!("docker://{}/acme/app:latest", s.host()))
            .arg(format!("oci:{}:latest", all.path().display())),
    );
    assert_eq!(run_gc(&s).manifests, 0);

    // Once nothing tags the index, it goes with both children and every
    // blob (the time-machine window is zero).
    let changed = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({ "root_rule": { "rule_kind": "tag_glob_csv", "rule_value": ["nothing-matches"] } }),
    )
    .await;
    ok(&changed, 201);
    assert_eq!(sync(&s).await["sync_status"], "SUCCESS");
    let collected = run_gc(&s);
    assert_eq!(collected.manifests, 3, "{collected:?}");
    for d in [&up.index.digest, &up.amd.digest, &up.arm.digest] {
        assert_eq!(manifest(&s, "acme/app", d).await.0, 404);
    }
    for b in amd_blobs.iter().chain(&arm_blobs) {
        assert!(!has_blob(&s, b).await, "blob {b} kept");
    }
    assert_eq!(acme_usage(&s).await, 0);

    // Sparse indexes turned off under a filtered mirror: its syncs fail,
    // saying why, instead of copying every platform.
    s.stop();
    let config = std::fs::read_to_string(s.config_path()).unwrap();
    assert!(config.contains("FEATURE_SPARSE_INDEX: true"), "{config}");
    std::fs::write(
        s.config_path(),
        config.replace("FEATURE_SPARSE_INDEX: true", "FEATURE_SPARSE_INDEX: false"),
    )
    .unwrap();
    s.restart().await;
    let view = sync(&s).await;
    assert_eq!(view["sync_status"], "FAIL", "{view}");
    let error = view["last_error"].as_str().unwrap();
    assert!(error.contains("FEATURE_SPARSE_INDEX"), "{error}");
}

#[tokio::test]
async fn without_sparse_indexes_a_filter_is_refused_and_every_platform_is_copied() {
    let up = upstream().await;
    let s = berth("").await;
    let caps = get(&s, Anon, "/registry/capabilities").await;
    ok(&caps, 200);
    assert_eq!(caps.1["sparse_manifests"]["supported"], false);
    assert_eq!(
        s.get("/v2/").await.headers()["x-sparse-manifest-support"],
        "false"
    );

    let refused_create = post(
        &s,
        "/repository/acme/app/mirror",
        Some(mirror_body(&up, &["latest"], Some(&["amd64"]))),
    )
    .await;
    refused(&refused_create, BAD);
    let detail = refused_create.1["detail"].as_str().unwrap();
    assert!(detail.contains("FEATURE_SPARSE_INDEX"), "{detail}");
    // Nothing was configured.
    assert_eq!(get(&s, Admin, "/repository/acme/app").await.1["state"], "NORMAL");

    ok(
        &post(
            &s,
            "/repository/acme/app/mirror",
            Some(mirror_body(&up, &["latest"], None)),
        )
        .await,
        201,
    );
    let bad = put(
        &s,
        Admin,
        "/repository/acme/app/mirror",
        json!({ "architecture_filter": ["arm64"] }),
    )
    .await;
    refused(&bad, BAD);
    // Clearing it is always fine.
    ok(
        &put(
            &s,
            Admin,
            "/repository/acme/app/mirror",
            json!({ "architecture_filter": null }),
        )
        .await,
        201,
    );
    let view = sync(&s).await;
    assert_eq!(view["sync_status"], "SUCCESS", "{view}");
    assert_eq!(
        manifest(&s, "acme/app", "latest").await.1.as_deref(),
        Some(up.index.digest.as_str())
    );
    for image in [&up.amd, &up.arm] {
        assert_eq!(manifest(&s, "acme/app", &image.digest).await.0, 200);
        for b in blobs_of(up.layout.path(), image) {
            assert!(has_blob(&s, &b).await, "blob {b} missing");
        }
    }
}

/// An image of `arch` whose blobs are pushed to `repo`, its manifest
/// not: (digest, manifest bytes, its index entry).
async fn image_blobs(s: &Server, repo: &str, arch: &str) -> (String, Vec<u8>, String) {
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","seed":{}}}"#,
        unique_seed()
    );
    let config_digest = s.push_blob(repo, config.as_bytes()).await;
    let layer = common::random_bytes(512, unique_seed());
    let layer_digest = s.push_blob(repo, &layer).await;
    let m = image_manifest(&config_digest, config.len(), &[(layer_digest, layer.len())], None);
    let digest = sha256(&m);
    let entry = format!(
        r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":{},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
        m.len()
    );
    (digest, m, entry)
}

async fn push_by_digest(s: &Server, repo: &str, digest: &str, m: &[u8]) {
    let r = s.put_manifest(repo, digest, OCI_MANIFEST, m).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn client_pushes_may_leave_out_architectures_that_are_not_required() {
    let s = berth("FEATURE_SPARSE_INDEX: true\nSPARSE_INDEX_REQUIRED_ARCHS: [amd64]\n").await;
    let caps = get(&s, Anon, "/registry/capabilities").await.1;
    assert_eq!(
        caps["sparse_manifests"]["required_architectures"],
        json!(["amd64"])
    );
    assert_eq!(caps["sparse_manifests"]["optional_architectures_allowed"], true);
    assert_eq!(s.get("/v2/").await.headers()["x-required-architectures"], "amd64");

    let repo = "acme/app";
    let (amd_digest, amd_manifest, amd) = image_blobs(&s, repo, "amd64").await;
    push_by_digest(&s, repo, &amd_digest, &amd_manifest).await;
    let (arm_digest, arm_manifest, arm) = image_blobs(&s, repo, "arm64").await;
    let index = |entries: &[&str]| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes()
    };
    // The arm64 child may be absent.
    let sparse = index(&[&amd, &arm]);
    let r = s.put_manifest(repo, "multi", OCI_INDEX, &sparse).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(manifest(&s, repo, &arm_digest).await.0, 404);
    // A required architecture may not, nor a child without a platform.
    let missing_amd = amd.replace(&amd_digest, &sha256(b"never pushed"));
    let r = s
        .put_manifest(repo, "bad", OCI_INDEX, &index(&[&missing_amd, &arm]))
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("MANIFEST_BLOB_UNKNOWN"));
    let no_platform = format!(
        r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":10}}"#,
        sha256(b"no platform")
    );
    let r = s
        .put_manifest(repo, "bad", OCI_INDEX, &index(&[&amd, &no_platform]))
        .await;
    assert_eq!(r.status(), 400);

    // Pushing the missing child later completes the index: garbage
    // collection keeps it (untagged) for the index, with its blobs.
    push_by_digest(&s, repo, &arm_digest, &arm_manifest).await;
    let collected = run_gc(&s);
    assert_eq!(collected.manifests, 0, "{collected:?}");
    assert_eq!(manifest(&s, repo, &arm_digest).await.0, 200);
    let (_, digest, _) = manifest(&s, repo, "multi").await;
    assert_eq!(digest, Some(sha256(&sparse)));
    let arm_parsed: Value = serde_json::from_slice(&arm_manifest).unwrap();
    assert!(has_blob(&s, arm_parsed["config"]["digest"].as_str().unwrap()).await);
}
