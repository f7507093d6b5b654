//! Write modes through the real binary: with `REGISTRY_STATE: readonly`
//! every write is refused on `/v2` and `/api/v1` while pulls, reads and
//! logins work; with `DISABLE_PUSHES: true` only pushes are refused.
#![allow(clippy::unwrap_used)]

mod common;

use common::cli::{file_digest, skopeo, skopeo_round_trip};
use common::layout::{write_image, write_layout_index};
use common::{OCI_MANIFEST, Server, basic_auth, run, unique_seed};
use serde_json::{Value, json};

/// Restart `s` with `mode` (YAML lines) in place of any earlier mode.
async fn restart_in_mode(s: &mut Server, mode: &str) {
    s.stop();
    let path = s.data_dir.path().join("config.yaml");
    let kept: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("REGISTRY_STATE") && !l.starts_with("DISABLE_PUSHES"))
        .map(str::to_owned)
        .collect();
    std::fs::write(&path, format!("{}\n{mode}", kept.join("\n"))).unwrap();
    s.restart().await;
}

/// Push a fresh image to `<host>/<repo>:<tag>` with skopeo; returns its
/// output (stdout and stderr) and whether it succeeded.
fn skopeo_push(host: &str, repo: &str, tag: &str) -> (bool, String) {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[2000], unique_seed());
    write_layout_index(&layout, &[(tag, &image)]);
    let out = skopeo(host)
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{host}/{repo}:{tag}"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Pull `<host>/<repo>:<tag>` with skopeo into a directory; returns the
/// manifest digest.
fn skopeo_pull(host: &str, repo: &str, tag: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    run(skopeo(host)
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{host}/{repo}:{tag}"))
        .arg(format!("dir:{}", out.display())));
    file_digest(&out.join("manifest.json"))
}

/// The first error of a `/v2` error body.
async fn v2_error(r: reqwest::Response) -> Value {
    let v: Value = r.json().await.unwrap();
    v["errors"][0].clone()
}

#[tokio::test]
async fn read_only_mode_refuses_every_write_and_serves_reads() {
    let mut s = Server::start().await;
    let host = s.host().to_owned();
    let image = skopeo_round_trip(&host, "acme/app", &[2000]);
    let layer = common::random_bytes(300, unique_seed());
    let blob = s.push_blob("acme/app", &layer).await;
    restart_in_mode(&mut s, "REGISTRY_STATE: readonly\n").await;
    let message =
        "System is currently read-only. Pulls will succeed but all write operations are currently suspended.";

    // /v2: a real client's push fails with the message; pulls work.
    let (ok, out) = skopeo_push(&host, "acme/app", "v2");
    assert!(!ok, "a push in read-only mode fails");
    assert!(out.contains(message), "skopeo shows why: {out}");
    assert_eq!(skopeo_pull(&host, "acme/app", "v1"), image.digest);
    let raw = run(skopeo(&host).args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/acme/app:v1"),
    ]));
    assert_eq!(common::sha256(raw.as_bytes()), image.digest);

    // Every kind of /v2 write is refused the same way.
    let writes = [
        s.client
            .post(s.url("/v2/acme/app/blobs/uploads/"))
            .send()
            .await
            .unwrap(),
        s.put_manifest("acme/app", "v3", OCI_MANIFEST, b"{}").await,
        s.delete("/v2/acme/app/manifests/v1").await,
        s.delete(&format!("/v2/acme/app/manifests/{}", image.digest))
            .await,
        s.delete(&format!("/v2/acme/app/blobs/{blob}")).await,
        s.client
            .patch(s.url("/v2/acme/app/blobs/uploads/some-id"))
            .send()
            .await
            .unwrap(),
    ];
    for r in writes {
        assert_eq!(r.status(), 405);
        let e = v2_error(r).await;
        assert_eq!(e["code"], "DENIED", "{e}");
        assert_eq!(e["message"], message);
        assert_eq!(e["is_readonly"], true);
    }
    // Reads, logins and listings work.
    assert_eq!(s.get("/v2/acme/app/manifests/v1").await.status(), 200);
    assert_eq!(s.head(&format!("/v2/acme/app/blobs/{blob}")).await.status(), 200);
    assert_eq!(s.get("/v2/acme/app/tags/list").await.status(), 200);
    assert_eq!(s.get("/v2/_catalog").await.status(), 200);
    let r = s
        .anon
        .get(s.url(&format!("/v2/auth?service={host}&scope=repository:acme/app:pull")))
        .header("authorization", basic_auth(common::ADMIN, common::ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // /api/v1: reads work, every change is refused with 503.
    assert_eq!(s.get("/api/v1/repository/acme/app").await.status(), 200);
    assert_eq!(s.get("/api/v1/repository/acme/app/tag/").await.status(), 200);
    assert_eq!(s.get("/api/v1/repository?namespace=acme").await.status(), 200);
    assert_eq!(s.get("/api/v1/user/").await.status(), 200);
    let changes = [
        s.client
            .put(s.url("/api/v1/repository/acme/app/tag/v9"))
            .json(&json!({ "manifest_digest": image.digest }))
            .send()
            .await
            .unwrap(),
        s.delete("/api/v1/repository/acme/app/tag/v1").await,
        s.client
            .post(s.url("/api/v1/repository/acme/app/tag/v1/restore"))
            .json(&json!({ "manifest_digest": image.digest }))
            .send()
            .await
            .unwrap(),
        s.client
            .post(s.url("/api/v1/repository"))
            .json(&json!({ "namespace": "acme", "repository": "new", "visibility": "private", "description": "" }))
            .send()
            .await
            .unwrap(),
        s.client
            .put(s.url("/api/v1/repository/acme/app"))
            .json(&json!({ "description": "changed" }))
            .send()
            .await
            .unwrap(),
        s.delete("/api/v1/repository/acme/app").await,
        s.client
            .put(s.url("/api/v1/user/"))
            .json(&json!({ "tag_expiration_s": 0 }))
            .send()
            .await
            .unwrap(),
    ];
    for r in changes {
        assert_eq!(r.status(), 503);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error_type"], "read_only", "{v}");
        assert_eq!(v["detail"], message);
    }
    // Nothing changed.
    let tags: Value = s.get_json("/api/v1/repository/acme/app/tag/").await;
    assert_eq!(tags["tags"].as_array().unwrap().len(), 1);
    assert_eq!(s.get("/api/v1/repository/acme/new").await.status(), 404);

    // Back to normal, writes work again.
    restart_in_mode(&mut s, "").await;
    let (ok, out) = skopeo_push(&host, "acme/app", "v2");
    assert!(ok, "{out}");
}

#[tokio::test]
async fn disabled_pushes_refuse_pushes_only() {
    let mut s = Server::start().await;
    let host = s.host().to_owned();
    let image = skopeo_round_trip(&host, "acme/app", &[2000]);
    let (_, other) = s.push_image("acme/app", "other", 1).await;
    restart_in_mode(&mut s, "DISABLE_PUSHES: true\n").await;
    let message = "Pushes to the registry are currently disabled. Please contact the administrator for more information.";

    let (ok, out) = skopeo_push(&host, "acme/app", "v2");
    assert!(!ok, "a push fails while pushes are disabled");
    assert!(out.contains(message), "skopeo shows why: {out}");
    assert_eq!(skopeo_pull(&host, "acme/app", "v1"), image.digest);
    let pushes = [
        s.client
            .post(s.url("/v2/acme/app/blobs/uploads/"))
            .send()
            .await
            .unwrap(),
        s.put_manifest("acme/app", "v3", OCI_MANIFEST, b"{}").await,
        s.client
            .patch(s.url("/v2/acme/app/blobs/uploads/some-id"))
            .send()
            .await
            .unwrap(),
    ];
    for r in pushes {
        assert_eq!(r.status(), 405);
        let e = v2_error(r).await;
        assert_eq!(e["code"], "METHOD NOT ALLOWED", "{e}");
        assert_eq!(e["message"], message);
    }

    // Deletes and API changes still work.
    assert_eq!(s.delete("/v2/acme/app/manifests/other").await.status(), 202);
    let r = s
        .client
        .post(s.url("/api/v1/repository/acme/app/tag/other/restore"))
        .json(&json!({ "manifest_digest": other }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .put(s.url("/api/v1/repository/acme/app/tag/copy"))
        .json(&json!({ "manifest_digest": image.digest }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(skopeo_pull(&host, "acme/app", "copy"), image.digest);
    assert_eq!(
        s.delete("/api/v1/repository/acme/app/tag/copy").await.status(),
        204
    );
    let r = s
        .client
        .post(s.url("/api/v1/repository"))
        .json(&json!({ "namespace": "acme", "repository": "empty", "visibility": "private", "description": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(s.delete("/api/v1/repository/acme/empty").await.status(), 204);
}
