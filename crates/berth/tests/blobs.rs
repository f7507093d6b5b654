//! Protocol tests for blob reads, uploads (monolithic, chunked, streamed,
//! resumed), mounts and deletes, each asserting status, headers and body.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, error_code, random_bytes, sha256, unique_seed};

#[tokio::test]
async fn base_endpoint_answers_with_api_version() {
    let s = Server::start().await;
    for path in ["/v2/", "/v2"] {
        let r = s.get(path).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["docker-distribution-api-version"], "registry/2.0");
    }
    let r = s.get("/v2/no-such-endpoint").await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "UNSUPPORTED");
    let r = s.client.post(s.url("/v2/_catalog")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(error_code(r).await, "UNSUPPORTED");
}

#[tokio::test]
async fn monolithic_push_then_head_get_and_isolation_between_repositories() {
    let s = Server::start().await;
    let blob = random_bytes(5000, unique_seed());
    let digest = sha256(&blob);
    let r = s
        .client
        .post(s.url(&format!("/v2/org/team/app/blobs/uploads/?digest={digest}")))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        format!("/v2/org/team/app/blobs/{digest}").as_str()
    );
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());

    let r = s.head(&format!("/v2/org/team/app/blobs/{digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "5000");
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let r = s.get(&format!("/v2/org/team/app/blobs/{digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), blob.as_slice());

    // Another repository cannot read a blob it never linked.
    let r = s.get(&format!("/v2/org/other/blobs/{digest}")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = s
        .head(&format!("/v2/org/team/app/blobs/{}", sha256(b"nope")))
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn range_requests() {
    let s = Server::start().await;
    let blob = random_bytes(2048, unique_seed());
    let digest = s.push_blob("ranges", &blob).await;
    let url = s.url(&format!("/v2/ranges/blobs/{digest}"));
    for (spec, start, end) in [
        ("bytes=500-1499", 500, 1500),
        ("bytes=500-", 500, 2048),
        ("bytes=-500", 1548, 2048),
        ("bytes=2000-5000", 2000, 2048),
    ] {
        let r = s.client.get(&url).header("range", spec).send().await.unwrap();
        assert_eq!(r.status(), 206, "{spec}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {start}-{}/2048", end - 1).as_str()
        );
        assert_eq!(r.headers()["content-length"], (end - start).to_string().as_str());
        assert_eq!(r.bytes().await.unwrap().as_ref(), &blob[start..end], "{spec}");
    }
    for spec in ["bytes=500-0", "bytes=5000-10000", "bytes=abc"] {
        let r = s.client.get(&url).header("range", spec).send().await.unwrap();
        assert_eq!(r.status(), 416, "{spec}");
        assert_eq!(r.headers()["content-range"], "bytes */2048");
    }
}

#[tokio::test]
async fn chunked_upload_with_out_of_order_chunk_and_status() {
    let s = Server::start().await;
    let blob = random_bytes(3000, unique_seed());
    let digest = sha256(&blob);
    let r = s
        .client
        .post(s.url("/v2/chunks/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-0");
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/v2/chunks/blobs/uploads/"));

    let patch = |from: usize, to: usize| {
        s.client
            .patch(s.url(&location))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{from}-{}", to - 1))
            .body(blob[from..to].to_vec())
            .send()
    };
    let r = patch(0, 1000).await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-999");
    // A chunk that skips ahead is refused with the current position.
    let r = patch(2000, 3000).await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["range"], "0-999");
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_INVALID");
    // Replaying the previous chunk is refused too.
    let r = patch(0, 1000).await.unwrap();
    assert_eq!(r.status(), 416);
    let r = patch(1000, 2000).await.unwrap();
    assert_eq!(r.status(), 202);

    let r = s.get(&location).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-1999");
    assert_eq!(r.headers()["location"], location.as_str());

    // Finish with the last chunk in the PUT.
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={digest}")))
        .header("content-range", "2000-2999")
        .body(blob[2000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let got = s.get(&format!("/v2/chunks/blobs/{digest}")).await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), blob.as_slice());
    // The session is gone once finished.
    let r = s.get(&location).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    assert!(s.staged_uploads().await.is_empty());
}

#[tokio::test]
async fn streamed_upload_without_content_range() {
    let s = Server::start().await;
    let blob = random_bytes(10_000, unique_seed());
    let digest = sha256(&blob);
    let r = s
        .client
        .post(s.url("/v2/stream/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    for part in blob.chunks(4096) {
        let r = s
            .client
            .patch(s.url(&location))
            .body(part.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = s.head(&format!("/v2/stream/blobs/{digest}")).await;
    assert_eq!(r.headers()["content-length"], "10000");
}

#[tokio::test]
async fn wrong_or_malformed_digests_store_nothing() {
    let s = Server::start().await;
    let blob = random_bytes(1000, unique_seed());
    let wrong = sha256(b"something else");
    let r = s
        .client
        .post(s.url(&format!("/v2/bad/blobs/uploads/?digest={wrong}")))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    for bad in ["sha256:xyz", "md5:abcd", "nocolon"] {
        let r = s
            .client
            .post(s.url(&format!("/v2/bad/blobs/uploads/?digest={bad}")))
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(error_code(r).await, "DIGEST_INVALID");
    }
    // Chunked session finished with the wrong digest.
    let r = s
        .client
        .post(s.url("/v2/bad/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    s.client
        .patch(s.url(&location))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={wrong}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    // No digest at all.
    let r = s
        .client
        .post(s.url("/v2/bad/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let r = s.client.put(s.url(&location)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    assert!(s.stored_blobs().await.is_empty(), "no blob may be stored");
    let r = s.head(&format!("/v2/bad/blobs/{}", sha256(&blob))).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn malformed_chunk_headers_are_refused() {
    let s = Server::start().await;
    let r = s
        .client
        .post(s.url("/v2/hdr/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let r = s
        .client
        .patch(s.url(&location))
        .header("content-range", "zero-ten")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_INVALID");
    let r = s
        .client
        .patch(s.url(&location))
        .header("content-range", "0-9")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "SIZE_INVALID");
    // Nothing was appended by the refused requests.
    let r = s.get(&location).await;
    assert_eq!(r.headers()["range"], "0-0");
    let r = s
        .client
        .post(s.url("/v2/hdr/blobs/uploads/?digest-algorithm=md5"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn cancel_and_unknown_sessions() {
    let s = Server::start().await;
    let r = s
        .client
        .post(s.url("/v2/cancel/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    s.client
        .patch(s.url(&location))
        .body("some bytes")
        .send()
        .await
        .unwrap();
    // A session is only reachable through its own repository.
    let id = location.rsplit('/').next().unwrap();
    let r = s.get(&format!("/v2/elsewhere/blobs/uploads/{id}")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");

    let r = s.delete(&location).await;
    assert_eq!(r.status(), 204);
    for r in [
        s.get(&location).await,
        s.client.patch(s.url(&location)).body("x").send().await.unwrap(),
        s.delete(&location).await,
        s.client
            .patch(s.url("/v2/cancel/blobs/uploads/not-a-session"))
            .body("x")
            .send()
            .await
            .unwrap(),
        s.get("/v2/cancel/blobs/uploads/..%2F..%2Fetc").await,
    ] {
        assert_eq!(r.status(), 404);
        assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    }
    assert!(s.staged_uploads().await.is_empty());
}

#[tokio::test]
async fn cross_repository_mount() {
    let s = Server::start().await;
    let blob = random_bytes(700, unique_seed());
    let digest = s.push_blob("src/repo", &blob).await;
    let r = s
        .client
        .post(s.url(&format!(
            "/v2/dst/repo/blobs/uploads/?mount={digest}&from=src/repo"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        format!("/v2/dst/repo/blobs/{digest}").as_str()
    );
    let got = s.get(&format!("/v2/dst/repo/blobs/{digest}")).await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), blob.as_slice());
    assert_eq!(s.stored_blobs().await.len(), 1, "a mount shares the stored blob");

    // Missing blob, unknown source, or no source: a session instead.
    let missing = sha256(b"missing");
    for q in [
        format!("mount={missing}&from=src/repo"),
        format!("mount={digest}&from=nope"),
        format!("mount={digest}"),
    ] {
        let r = s
            .client
            .post(s.url(&format!("/v2/third/blobs/uploads/?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{q}");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/v2/third/blobs/uploads/")
        );
    }
}

#[tokio::test]
async fn delete_blob_unlinks_it() {
    let s = Server::start().await;
    let digest = s.push_blob("del", b"delete me").await;
    let r = s.delete(&format!("/v2/del/blobs/{digest}")).await;
    assert_eq!(r.status(), 202);
    let r = s.head(&format!("/v2/del/blobs/{digest}")).await;
    assert_eq!(r.status(), 404);
    let r = s.delete(&format!("/v2/del/blobs/{digest}")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn sha512_and_empty_blobs() {
    use sha2::{Digest as _, Sha512};
    let s = Server::start().await;
    let blob = random_bytes(4096, unique_seed());
    let d512 = format!("sha512:{}", hex::encode(Sha512::digest(&blob)));
    let r = s
        .client
        .post(s.url(&format!("/v2/algo/blobs/uploads/?digest={d512}")))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = s.get(&format!("/v2/algo/blobs/{d512}")).await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), blob.as_slice());

    // A session hashing sha512 from the start, and a sha256 session finished
    // with a sha512 digest (the server re-reads its staged bytes).
    let other = random_bytes(3000, unique_seed());
    let other512 = format!("sha512:{}", hex::encode(Sha512::digest(&other)));
    for start in [
        "/v2/algo/blobs/uploads/?digest-algorithm=sha512",
        "/v2/algo/blobs/uploads/",
    ] {
        let r = s.client.post(s.url(start)).send().await.unwrap();
        assert_eq!(r.status(), 202);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        s.client
            .patch(s.url(&location))
            .body(other.clone())
            .send()
            .await
            .unwrap();
        let r = s
            .client
            .put(s.url(&format!("{location}?digest={other512}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{start}");
    }

    let empty = s.push_blob("algo", b"").await;
    let r = s.get(&format!("/v2/algo/blobs/{empty}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "0");
}

#[tokio::test]
async fn invalid_repository_names() {
    let s = Server::start().await;
    for name in ["UPPER", "a..b", "-lead", "trail-", "a__-b"] {
        let r = s
            .client
            .post(s.url(&format!("/v2/{name}/blobs/uploads/")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{name}");
        assert_eq!(error_code(r).await, "NAME_INVALID");
    }
    let long = "a".repeat(256);
    let r = s.get(&format!("/v2/{long}/tags/list")).await;
    assert_eq!(error_code(r).await, "NAME_INVALID");
}

#[tokio::test]
async fn hostile_requests_get_errors_and_the_server_stays_up() {
    let s = Server::start().await;
    let r = s
        .client
        .post(s.url("/v2/hostile/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let session = s.url(&location);
    let attempts = vec![
        s.client
            .patch(&session)
            .header("content-range", "0-18446744073709551615")
            .body("x"),
        s.client
            .patch(&session)
            .header("content-range", "18446744073709551615-0")
            .body("x"),
        s.client
            .patch(&session)
            .header("content-range", "99999999999999999999-1")
            .body("x"),
        s.client
            .put(format!("{session}?digest=sha256:{}", "a".repeat(64)))
            .header("content-range", "5-4"),
        s.client
            .get(s.url("/v2/hostile/blobs/sha256:"))
            .header("range", "bytes=18446744073709551615-"),
        s.client.get(s.url("/v2/hostile/manifests/%00%ff")),
        s.client.get(s.url("/v2/%2e%2e/%2e%2e/tags/list")),
        s.client
            .put(s.url("/v2/hostile/manifests/latest"))
            .header(
                "content-type",
                "application/vnd.oci.image.manifest.v1+json; junk=\"",
            )
            .body(vec![0xffu8; 4096]),
        s.client.get(s.url("/v2/_catalog?n=99999999999999999999999")),
        s.client.get(s.url("/v2/hostile/tags/list?last=%ff%fe")),
        s.client.post(s.url(&format!(
            "/v2/hostile/blobs/uploads/?mount=sha256:{}&from=..%2Fx",
            "b".repeat(64)
        ))),
        s.client
            .get(s.url(&format!("/v2/{}/tags/list", "a/".repeat(200)))),
    ];
    for request in attempts {
        let r = request.send().await.unwrap();
        assert!(
            r.status().is_client_error() || r.status().is_success(),
            "status {}",
            r.status()
        );
        if r.status().is_client_error() && r.status() != 404 {
            let body: serde_json::Value = r.json().await.unwrap();
            assert!(body["errors"][0]["code"].is_string(), "{body}");
        }
    }
    assert_eq!(s.get("/v2/").await.status(), 200);
}
