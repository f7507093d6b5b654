//! Protocol tests for manifests and tags (listings are in `listing.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    OCI_INDEX, OCI_MANIFEST, Server, error_code, image_manifest, random_bytes, sha256, unique_seed,
};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[tokio::test]
async fn push_and_pull_by_tag_and_digest_keeps_exact_bytes() {
    let s = Server::start().await;
    let cfg = s.push_blob("img", b"{\"os\":\"linux\"}").await;
    let layer = s.push_blob("img", &random_bytes(100, unique_seed())).await;
    // Unusual whitespace: the stored bytes must be returned untouched.
    let manifest = format!(
        "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"{OCI_MANIFEST}\",\n  \"config\": {{\"mediaType\": \"application/vnd.oci.image.config.v1+json\", \"digest\": \"{cfg}\", \"size\": 15}},\n  \"layers\": [{{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\", \"digest\": \"{layer}\", \"size\": 100}}]\n}}\n"
    );
    let digest = sha256(manifest.as_bytes());
    let r = s
        .put_manifest("img", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        format!("/v2/img/manifests/{digest}").as_str()
    );
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());

    for reference in ["v1", digest.as_str()] {
        let r = s.get(&format!("/v2/img/manifests/{reference}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
        assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_bytes());
        let r = s.head(&format!("/v2/img/manifests/{reference}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-length"], manifest.len().to_string().as_str());
    }
    // Push by digest too.
    let r = s
        .put_manifest("img", &digest, OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn manifest_validation_errors() {
    let s = Server::start().await;
    let cfg = s.push_blob("val", b"{}").await;
    let missing = sha256(b"never pushed");
    let good = image_manifest(&cfg, 2, &[], None);

    let r = s
        .put_manifest("val", &sha256(b"other"), OCI_MANIFEST, &good)
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = s
        .put_manifest("val", "sha256:baddigeststring", OCI_MANIFEST, &good)
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    let r = s
        .put_manifest(
            "val",
            "t",
            OCI_MANIFEST,
            &image_manifest(&cfg, 2, &[(missing.clone(), 5)], None),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");

    for bad in [
        &b"not json"[..],
        b"{\"schemaVersion\":1}",
        b"[]",
        b"{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}",
    ] {
        let r = s.put_manifest("val", "t", OCI_MANIFEST, bad).await;
        assert_eq!(r.status(), 400, "{}", String::from_utf8_lossy(bad));
        assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    }
    // Body says OCI, header says Docker.
    let r = s.put_manifest("val", "t", DOCKER_MANIFEST, &good).await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");

    let r = s.put_manifest("val", "bad!tag", OCI_MANIFEST, &good).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "TAG_INVALID");

    let r = s.get("/v2/val/manifests/nosuchtag").await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = s.get(&format!("/v2/val/manifests/{missing}")).await;
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = s.get("/v2/never/pushed/manifests/latest").await;
    assert_eq!(r.status(), 404);
    assert!(s.get("/v2/val/manifests/t").await.status() == 404);
}

#[tokio::test]
async fn manifest_size_limit() {
    let s = Server::start().await;
    let cfg = s.push_blob("big", b"{}").await;
    // Close to 4 MiB through annotations, as the conformance suite does: accepted.
    let filler = "x".repeat(10_000);
    let annotations: Vec<String> = (0..390).map(|i| format!("\"a{i}\":\"{filler}\"")).collect();
    let large = image_manifest(
        &cfg,
        2,
        &[],
        Some(&format!("\"annotations\":{{{}}}", annotations.join(","))),
    );
    assert!(large.len() > 3_900_000 && large.len() < 4 * 1024 * 1024);
    let r = s.put_manifest("big", "large", OCI_MANIFEST, &large).await;
    assert_eq!(r.status(), 201);
    let r = s.get("/v2/big/manifests/large").await;
    assert_eq!(r.bytes().await.unwrap().len(), large.len());
    // Over 4 MiB: refused.
    let annotations: Vec<String> = (0..430).map(|i| format!("\"a{i}\":\"{filler}\"")).collect();
    let huge = image_manifest(
        &cfg,
        2,
        &[],
        Some(&format!("\"annotations\":{{{}}}", annotations.join(","))),
    );
    let r = s.put_manifest("big", "huge", OCI_MANIFEST, &huge).await;
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
}

#[tokio::test]
async fn accept_negotiation() {
    let s = Server::start().await;
    s.push_image("neg", "v1", 1).await;
    let get = |accept: &'static str| {
        s.client
            .get(s.url("/v2/neg/manifests/v1"))
            .header("accept", accept)
            .send()
    };
    assert_eq!(get(DOCKER_MANIFEST).await.unwrap().status(), 404);
    assert_eq!(
        get("application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(get("*/*").await.unwrap().status(), 200);
    assert_eq!(get("application/json").await.unwrap().status(), 200);
}

#[tokio::test]
async fn docker_schema2_manifest_and_list() {
    let s = Server::start().await;
    let cfg = s.push_blob("dock", b"{\"architecture\":\"amd64\"}").await;
    let layer = s.push_blob("dock", &random_bytes(64, unique_seed())).await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":24,"digest":"{cfg}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":64,"digest":"{layer}"}}]}}"#
    );
    let r = s
        .put_manifest("dock", "amd64", DOCKER_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(r.status(), 201);
    let child = sha256(manifest.as_bytes());
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","size":{},"digest":"{child}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
        manifest.len()
    );
    let r = s
        .put_manifest("dock", "latest", DOCKER_LIST, list.as_bytes())
        .await;
    assert_eq!(r.status(), 201);
    let r = s
        .client
        .get(s.url("/v2/dock/manifests/latest"))
        .header("accept", DOCKER_LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], DOCKER_LIST);
    assert_eq!(r.bytes().await.unwrap().as_ref(), list.as_bytes());
}

#[tokio::test]
async fn index_children_must_exist() {
    let s = Server::start().await;
    let (amd, amd_digest) = s.push_image("multi", "amd64", 1).await;
    let ghost = sha256(b"ghost manifest");
    let index = |children: &[(&str, usize)]| {
        let entries: Vec<String> = children
            .iter()
            .map(|(d, n)| format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":{n}}}"#))
            .collect();
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            entries.join(",")
        )
    };
    let bad = index(&[(&amd_digest, amd.len()), (&ghost, 10)]);
    let r = s.put_manifest("multi", "all", OCI_INDEX, bad.as_bytes()).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let good = index(&[(&amd_digest, amd.len())]);
    let r = s.put_manifest("multi", "all", OCI_INDEX, good.as_bytes()).await;
    assert_eq!(r.status(), 201);
    let empty = index(&[]);
    assert_eq!(
        s.put_manifest("multi", "empty", OCI_INDEX, empty.as_bytes())
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn moving_and_deleting_tags() {
    let s = Server::start().await;
    let (_, first) = s.push_image("tags", "v1", 1).await;
    let (_, second) = s.push_image("tags", "v2", 1).await;
    // Move v1 to the second image.
    let body = s.get("/v2/tags/manifests/v2").await.bytes().await.unwrap();
    assert_eq!(
        s.put_manifest("tags", "v1", OCI_MANIFEST, &body).await.status(),
        201
    );
    let r = s.head("/v2/tags/manifests/v1").await;
    assert_eq!(r.headers()["docker-content-digest"], second.as_str());

    // Deleting a tag leaves the manifest.
    let r = s.delete("/v2/tags/manifests/v1").await;
    assert_eq!(r.status(), 202);
    assert_eq!(s.get("/v2/tags/manifests/v1").await.status(), 404);
    assert_eq!(s.get(&format!("/v2/tags/manifests/{second}")).await.status(), 200);
    let r = s.delete("/v2/tags/manifests/v1").await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");

    // Deleting a manifest by digest takes its tags with it.
    let r = s.delete(&format!("/v2/tags/manifests/{second}")).await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        s.head(&format!("/v2/tags/manifests/{second}")).await.status(),
        404
    );
    assert_eq!(s.head("/v2/tags/manifests/v2").await.status(), 404);
    let tags: serde_json::Value = s.get_json("/v2/tags/tags/list").await;
    assert_eq!(tags["tags"], serde_json::json!([]));
    // The first image is untouched.
    assert_eq!(s.head(&format!("/v2/tags/manifests/{first}")).await.status(), 200);
}

#[tokio::test]
async fn too_many_requests_when_the_budget_is_spent() {
    let s = Server::start_with_config("MAX_CONCURRENT_REQUESTS: 1\n").await;
    let r = s
        .client
        .post(s.url("/v2/slow/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    // Hold the only slot with a request whose body never ends.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"first bytes".to_vec())).await.unwrap();
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let client = s.client.clone();
    let url = s.url(&location);
    let slow = tokio::spawn(async move { client.patch(url).body(body).send().await });
    // Let it reach the server first: a probe that did would take the slot.
    common::settle().await;
    let mut refused = None;
    for _ in 0..100 {
        let r = s.get("/v2/").await;
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = refused.expect("a second request is refused while the slot is held");
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(error_code(r).await, "TOOMANYREQUESTS");
    drop(tx);
    assert_eq!(slow.await.unwrap().unwrap().status(), 202);
    assert_eq!(s.get("/v2/").await.status(), 200);
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn invalid_tags_name_no_manifest() {
    let s = Server::start().await;
    let repo = "admin/badtags";
    let (manifest, _) = s.push_image(repo, "v1", 1).await;
    let long = "a".repeat(129);
    // The conformance suite's name for a manifest that does not exist.
    for tag in [".INVALID_MANIFEST_NAME", "-lead", "bad!tag", long.as_str()] {
        let path = format!("/v2/{repo}/manifests/{tag}");
        let r = s.get(&path).await;
        assert_eq!(r.status(), 404, "GET {tag}");
        assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN", "GET {tag}");
        assert_eq!(s.head(&path).await.status(), 404, "HEAD {tag}");
        let r = s.delete(&path).await;
        assert_eq!(r.status(), 404, "DELETE {tag}");
        assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN", "DELETE {tag}");
        // A tag cannot be created under such a name.
        let r = s.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(r.status(), 400, "PUT {tag}");
        assert_eq!(error_code(r).await, "TAG_INVALID", "PUT {tag}");
    }
    // A malformed digest is still reported as such (the conformance suite
    // accepts 400 with a spec code, or 404).
    let r = s.get(&format!("/v2/{repo}/manifests/sha256:totallywrong")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let tags: serde_json::Value = s.get_json(&format!("/v2/{repo}/tags/list")).await;
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
}

#[tokio::test]
async fn malformed_chunked_manifest_body_is_refused() {
    let s = Server::start().await;
    let r = common::raw::send_chunked(
        s.host(),
        "PUT",
        "/v2/admin/chunked/manifests/v1",
        OCI_MANIFEST,
        b"zz\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("\"MANIFEST_INVALID\""), "{}", r.body);
    assert_eq!(s.get("/v2/admin/chunked/manifests/v1").await.status(), 404);
}

#[tokio::test]
async fn manifests_as_the_conformance_suite_pushes_them() {
    use base64::Engine;
    let s = Server::start().await;
    let repo = "admin/conformance";
    let config = b"{\n\t\"architecture\": \"amd64\",\n\t\"os\": \"linux\",\n\t\"author\": \"x1Y-2\"\n}";
    let config_digest = s.push_blob(repo, config).await;
    let layer = random_bytes(123, unique_seed());
    let layer_digest = s.push_blob(repo, &layer).await;
    // Indented with tabs, the config embedded as `data`, and a field no
    // spec defines: all accepted and served back byte for byte.
    let data = base64::engine::general_purpose::STANDARD.encode(config);
    let manifest = format!(
        "{{\n\t\"schemaVersion\": 2,\n\t\"mediaType\": \"{OCI_MANIFEST}\",\n\t\"config\": {{\n\t\t\"mediaType\": \"application/vnd.oci.image.config.v1+json\",\n\t\t\"digest\": \"{config_digest}\",\n\t\t\"size\": {},\n\t\t\"data\": \"{data}\",\n\t\t\"newUnspecifiedField\": \"aGVsbG8gd29ybGQ=\"\n\t}},\n\t\"layers\": [\n\t\t{{\n\t\t\t\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\",\n\t\t\t\"digest\": \"{layer_digest}\",\n\t\t\t\"size\": 123\n\t\t}}\n\t]\n}}",
        config.len()
    );
    let digest = sha256(manifest.as_bytes());
    for i in 0..4 {
        let r = s
            .put_manifest(repo, &format!("test{i}"), OCI_MANIFEST, manifest.as_bytes())
            .await;
        assert_eq!(r.status(), 201);
        assert_eq!(
            r.headers()["location"],
            format!("/v2/{repo}/manifests/{digest}").as_str()
        );
    }
    // No `mediaType` in the body and no layers.
    let no_layers = format!(
        "{{\n\t\"schemaVersion\": 2,\n\t\"config\": {{\n\t\t\"mediaType\": \"application/vnd.oci.image.config.v1+json\",\n\t\t\"digest\": \"{config_digest}\",\n\t\t\"size\": {}\n\t}},\n\t\"layers\": []\n}}",
        config.len()
    );
    let r = s
        .put_manifest(repo, "emptylayer", OCI_MANIFEST, no_layers.as_bytes())
        .await;
    assert_eq!(r.status(), 201);
    for reference in [digest.as_str(), "test0"] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        for head in [true, false] {
            let request = if head {
                s.client.head(s.url(&path))
            } else {
                s.client.get(s.url(&path))
            };
            let r = request.header("accept", OCI_MANIFEST).send().await.unwrap();
            assert_eq!(r.status(), 200, "{reference}");
            assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
            if !head {
                assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_bytes());
            }
        }
    }
    // Content management: a tag, then the manifest by digest, then blobs.
    assert_eq!(
        s.delete(&format!("/v2/{repo}/manifests/test0")).await.status(),
        202
    );
    assert_eq!(
        s.delete(&format!("/v2/{repo}/manifests/{digest}")).await.status(),
        202
    );
    let r = s.get(&format!("/v2/{repo}/manifests/{digest}")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let tags: serde_json::Value = s.get_json(&format!("/v2/{repo}/tags/list")).await;
    assert_eq!(tags["tags"], serde_json::json!(["emptylayer"]));
    let r = s
        .delete(&format!("/v2/{repo}/manifests/{}", sha256(no_layers.as_bytes())))
        .await;
    assert_eq!(r.status(), 202);
    for blob in [&config_digest, &layer_digest] {
        assert_eq!(s.delete(&format!("/v2/{repo}/blobs/{blob}")).await.status(), 202);
        let r = s.get(&format!("/v2/{repo}/blobs/{blob}")).await;
        assert_eq!(r.status(), 404);
        assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    }
}
