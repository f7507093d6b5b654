//! Protocol tests for manifests, tags, listings and referrers.
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
async fn tag_list_pagination_and_link_header() {
    let s = Server::start().await;
    let (manifest, _) = s.push_image("org/team/app", "a", 1).await;
    for tag in ["b", "c", "d", "e"] {
        assert_eq!(
            s.put_manifest("org/team/app", tag, OCI_MANIFEST, &manifest)
                .await
                .status(),
            201
        );
    }
    let all: serde_json::Value = s.get_json("/v2/org/team/app/tags/list").await;
    assert_eq!(
        all,
        serde_json::json!({"name":"org/team/app","tags":["a","b","c","d","e"]})
    );

    // Follow Link headers with n=2.
    let mut next = Some("/v2/org/team/app/tags/list?n=2".to_owned());
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        let r = s.get(&path).await;
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_owned()
        });
        let page: serde_json::Value = r.json().await.unwrap();
        let tags = page["tags"].as_array().unwrap();
        assert!(tags.len() <= 2);
        seen.extend(tags.iter().map(|t| t.as_str().unwrap().to_owned()));
        pages += 1;
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);

    let after: serde_json::Value = s.get_json("/v2/org/team/app/tags/list?last=c").await;
    assert_eq!(after["tags"], serde_json::json!(["d", "e"]));
    let none: serde_json::Value = s.get_json("/v2/org/team/app/tags/list?n=0").await;
    assert_eq!(none["tags"], serde_json::json!([]));
    let r = s.get("/v2/org/team/app/tags/list?n=-1").await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "PAGINATION_NUMBER_INVALID");
    let r = s.get("/v2/no/such/repo/tags/list").await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
}

#[tokio::test]
async fn catalog_pagination() {
    let s = Server::start().await;
    for repo in ["zeta", "alpha/one", "alpha/two", "mid"] {
        s.push_blob(repo, b"x").await;
    }
    let all: serde_json::Value = s.get_json("/v2/_catalog").await;
    assert_eq!(
        all["repositories"],
        serde_json::json!(["alpha/one", "alpha/two", "mid", "zeta"])
    );
    let r = s.get("/v2/_catalog?n=3").await;
    assert_eq!(r.headers()["link"], "</v2/_catalog?n=3&last=mid>; rel=\"next\"");
    let page: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        page["repositories"],
        serde_json::json!(["alpha/one", "alpha/two", "mid"])
    );
    let r = s.get("/v2/_catalog?n=3&last=mid").await;
    assert!(r.headers().get("link").is_none());
    let page: serde_json::Value = r.json().await.unwrap();
    assert_eq!(page["repositories"], serde_json::json!(["zeta"]));
}

#[tokio::test]
async fn referrers_with_subject_and_artifact_type_filter() {
    let s = Server::start().await;
    let (subject, subject_digest) = s.push_image("ref", "v1", 1).await;
    let empty = s.push_blob("ref", b"{}").await;
    let sig = s.push_blob("ref", b"signature").await;
    let artifact = |artifact_type: &str| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{artifact_type}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/octet-stream","digest":"{sig}","size":9}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject_digest}","size":{}}},"annotations":{{"org.example.kind":"{artifact_type}"}}}}"#,
            subject.len()
        )
    };
    let signature = artifact("application/vnd.example.signature");
    let sbom = artifact("application/vnd.example.sbom");
    for m in [&signature, &sbom] {
        let r = s
            .put_manifest("ref", &sha256(m.as_bytes()), OCI_MANIFEST, m.as_bytes())
            .await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], subject_digest.as_str());
    }
    let r = s.get(&format!("/v2/ref/referrers/{subject_digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert!(r.headers().get("oci-filters-applied").is_none());
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["schemaVersion"], 2);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let sig_entry = entries
        .iter()
        .find(|e| e["digest"] == sha256(signature.as_bytes()).as_str())
        .unwrap();
    assert_eq!(sig_entry["artifactType"], "application/vnd.example.signature");
    assert_eq!(sig_entry["size"], signature.len());
    assert_eq!(sig_entry["mediaType"], OCI_MANIFEST);
    assert_eq!(
        sig_entry["annotations"]["org.example.kind"],
        "application/vnd.example.signature"
    );

    let r = s
        .get(&format!(
            "/v2/ref/referrers/{subject_digest}?artifactType=application/vnd.example.sbom"
        ))
        .await;
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["digest"], sha256(sbom.as_bytes()).as_str());

    // A subject that does not exist (yet) is allowed, and listing it is empty.
    let nothing = sha256(b"no such subject");
    let r = s.get(&format!("/v2/ref/referrers/{nothing}")).await;
    assert_eq!(r.status(), 200);
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["manifests"], serde_json::json!([]));
    let r = s.get("/v2/ref/referrers/sha256:zz").await;
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
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
