//! Upload sessions on every storage: chunks of any size assemble exactly
//! (across S3 part boundaries), concurrent requests on one session never
//! interleave, abandoned uploads are aborted and removed, blob downloads
//! can be redirected to presigned storage URLs, bodies that cannot be read
//! record nothing, the empty blob uploads through every path, and uploads
//! answer as the OCI conformance suite checks.
#![allow(clippy::unwrap_used)]

mod common;

use common::raw::send_chunked;
use common::storage::on_s3;
use common::{Server, error_code, eventually, random_bytes, sha256, unique_seed};

const MIB: usize = 1 << 20;

#[tokio::test]
async fn chunks_of_every_size_assemble_exactly() {
    let s = Server::start().await;
    let blob = random_bytes(20 * MIB, unique_seed());
    let digest = sha256(&blob);
    let location = s.start_upload("sizes").await;
    // Many tiny chunks (more than are kept apart before merging), one that
    // spans two 8 MiB parts, a few small ones, and the rest with the PUT.
    let mut cuts: Vec<usize> = (1..=40).map(|i| i * 1000).collect();
    cuts.extend([40_000 + 17 * MIB, 40_005 + 17 * MIB, 110_005 + 17 * MIB]);
    let mut from = 0;
    for cut in cuts {
        let r = s.patch_chunk(&location, from, &blob[from..cut]).await;
        assert_eq!(r.status(), 202, "chunk at {from}");
        assert_eq!(r.headers()["range"], format!("0-{}", cut - 1).as_str());
        from = cut;
    }
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={digest}")))
        .header("content-range", format!("{from}-{}", blob.len() - 1))
        .body(blob[from..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let url = s.url(&format!("/v2/sizes/blobs/{digest}"));
    let got = s.client.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(sha256(&got), digest);
    // A range across the first part boundary.
    let r = s
        .client
        .get(&url)
        .header("range", format!("bytes={}-{}", 8 * MIB - 10, 8 * MIB + 9))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &blob[8 * MIB - 10..8 * MIB + 10]
    );
    assert!(s.staged_uploads().await.is_empty(), "nothing stays staged");
}

#[tokio::test]
async fn concurrent_chunks_on_one_session_never_interleave() {
    let s = Server::start().await;
    let location = s.start_upload("race").await;
    let first = random_bytes(100_000, unique_seed());
    assert_eq!(s.patch_chunk(&location, 0, &first).await.status(), 202);
    let bodies: Vec<Vec<u8>> = (0..4).map(|i| random_bytes(300_000, unique_seed() + i)).collect();
    let tasks: Vec<_> = bodies
        .iter()
        .map(|body| {
            let (client, url, body) = (s.client.clone(), s.url(&location), body.clone());
            tokio::spawn(async move {
                client
                    .patch(url)
                    .header("content-range", format!("100000-{}", 100_000 + body.len() - 1))
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let winners: Vec<usize> = (0..4).filter(|&i| statuses[i] == 202).collect();
    assert_eq!(winners.len(), 1, "exactly one chunk lands: {statuses:?}");
    assert!(statuses.iter().all(|&c| c == 202 || c == 416), "{statuses:?}");
    let mut whole = first.clone();
    whole.extend_from_slice(&bodies[winners[0]]);
    let digest = sha256(&whole);
    // A fresh connection: refused requests leave theirs closed unread.
    let r = common::admin_client_builder()
        .build()
        .unwrap()
        .put(s.url(&format!("{location}?digest={digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the session holds exactly the winning chunk");
}

#[tokio::test]
async fn abandoned_uploads_are_aborted_and_removed() {
    let s = Server::start_with_config("UPLOAD_EXPIRATION_S: 1\n").await;
    // One session big enough to have started an S3 multipart upload, one
    // small one.
    let big = s.start_upload("abandon").await;
    assert_eq!(
        s.patch_chunk(&big, 0, &random_bytes(9 * MIB, unique_seed()))
            .await
            .status(),
        202
    );
    let small = s.start_upload("abandon").await;
    assert_eq!(s.patch_chunk(&small, 0, b"some bytes").await.status(), 202);
    eventually("abandoned uploads are removed", || async {
        s.staged_uploads().await.is_empty()
    })
    .await;
    for location in [&big, &small] {
        let r = s.client.get(s.url(location)).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
        let r = s.patch_chunk(location, 0, b"late").await;
        assert_eq!(r.status(), 404);
    }
}

#[tokio::test]
async fn blob_downloads_redirect_to_presigned_urls_when_enabled() {
    let s = Server::start_with_config("FEATURE_BLOB_REDIRECTS: true\nBLOB_REDIRECT_EXPIRATION_S: 60\n").await;
    let small = random_bytes(3000, unique_seed());
    let small_digest = s.push_blob("redirect", &small).await;
    // Big enough to be assembled from S3 parts under a key of its own.
    let big = random_bytes(9 * MIB, unique_seed());
    let big_digest = s.push_blob("redirect", &big).await;
    let plain = common::admin_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (digest, bytes) in [(&small_digest, &small), (&big_digest, &big)] {
        let url = s.url(&format!("/v2/redirect/blobs/{digest}"));
        let head = plain.head(&url).send().await.unwrap();
        assert_eq!(head.status(), 200, "HEAD is answered directly");
        assert_eq!(head.headers()["content-length"], bytes.len().to_string().as_str());
        let r = plain.get(&url).send().await.unwrap();
        if !on_s3() {
            assert_eq!(r.status(), 200, "local storage serves blobs itself");
            continue;
        }
        assert_eq!(r.status(), 307);
        assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
        let target = r.headers()["location"].to_str().unwrap().to_owned();
        let endpoint = std::env::var("TEST_S3_ENDPOINT").unwrap();
        assert!(target.starts_with(&endpoint), "{target}");
        assert!(target.contains("X-Amz-Expires=60"), "{target}");
        let got = plain.get(&target).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(sha256(&got.bytes().await.unwrap()), *digest);
        let ranged = plain
            .get(&target)
            .header("range", "bytes=10-19")
            .send()
            .await
            .unwrap();
        assert_eq!(ranged.status(), 206);
        assert_eq!(ranged.bytes().await.unwrap().as_ref(), &bytes[10..20]);
        // The signature covers the object: pointing it elsewhere is refused.
        let forged = target.replace(&digest.as_str()[7..], &sha256(b"other")[7..]);
        let forged = if forged == target {
            target.replace("by-upload", "by-upload-x")
        } else {
            forged
        };
        assert_eq!(plain.get(&forged).send().await.unwrap().status(), 403);
        // A client that follows redirects just gets the blob.
        let followed = s.client.get(&url).send().await.unwrap();
        assert_eq!(sha256(&followed.bytes().await.unwrap()), *digest);
    }
    // Unknown blobs are still refused by the registry, not redirected.
    let r = plain
        .get(s.url(&format!("/v2/redirect/blobs/{}", sha256(b"absent"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn unusable_storage_stops_the_start_with_a_reason_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("wrong-{}", unique_seed());
    let storage = match std::env::var("TEST_S3_ENDPOINT") {
        // The right server, a wrong secret key.
        Ok(endpoint) if on_s3() => format!(
            "[S3Storage, {{s3_bucket: {}, s3_access_key: {}, s3_secret_key: {secret}, endpoint_url: {endpoint}}}]",
            std::env::var("TEST_S3_BUCKET").unwrap(),
            std::env::var("TEST_S3_ACCESS_KEY").unwrap(),
        ),
        // A directory that cannot be created (its parent is a file).
        _ => {
            std::fs::write(dir.path().join("file"), b"x").unwrap();
            format!(
                "[LocalStorage, {{storage_path: \"{}/file/blobs\"}}]",
                dir.path().display()
            )
        }
    };
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("DISTRIBUTED_STORAGE_CONFIG:\n  bad: {storage}\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "berth must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("blob storage"), "{stderr}");
    assert!(
        !stderr.contains(&secret),
        "the secret key is never printed: {stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing listened");
}

/// A chunked body whose first chunk size is not hexadecimal.
const MALFORMED_CHUNKED: &[u8] = b"zz\r\nabc\r\n0\r\n\r\n";

#[tokio::test]
async fn malformed_chunked_bodies_are_refused_and_record_nothing() {
    let s = Server::start().await;
    let repo = "admin/malformed";
    let location = s.start_upload(repo).await;
    assert_eq!(s.patch_chunk(&location, 0, b"first").await.status(), 202);
    let whole = sha256(b"firstabc");
    for (method, path) in [
        ("PATCH", location.clone()),
        ("PUT", format!("{location}?digest={whole}")),
    ] {
        let r = send_chunked(
            s.host(),
            method,
            &path,
            "application/octet-stream",
            MALFORMED_CHUNKED,
        )
        .await;
        assert_eq!(r.status, 400, "{method}: {}", r.body);
        assert!(r.body.contains("\"BLOB_UPLOAD_INVALID\""), "{method}: {}", r.body);
        // The session still holds exactly the bytes it had.
        let r = s.get(&location).await;
        assert_eq!(r.status(), 204, "{method}");
        assert_eq!(r.headers()["range"], "0-4", "{method}");
    }
    // The same session finishes with a well-formed chunked body.
    let r = send_chunked(
        s.host(),
        "PUT",
        &format!("{location}?digest={whole}"),
        "application/octet-stream",
        b"3\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // A monolithic upload with a malformed body stores nothing.
    let abc = sha256(b"abc");
    let r = send_chunked(
        s.host(),
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={abc}"),
        "application/octet-stream",
        MALFORMED_CHUNKED,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("\"BLOB_UPLOAD_INVALID\""), "{}", r.body);
    assert_eq!(s.head(&format!("/v2/{repo}/blobs/{abc}")).await.status(), 404);
    assert_eq!(
        s.stored_blobs().await.len(),
        1,
        "only the finished blob is stored"
    );
    assert!(s.staged_uploads().await.is_empty(), "nothing stays staged");
}

/// The digest of zero bytes.
const EMPTY_SHA256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[tokio::test]
async fn empty_blobs_upload_through_every_path_and_read_back() {
    let s = Server::start().await;
    assert_eq!(sha256(b""), EMPTY_SHA256);
    // A session finished by a PUT with no body and no PATCH before it:
    // with `Content-Length: 0`, with an empty chunked body, and with no
    // body at all once the blob is stored.
    for repo in ["admin/empty-a", "admin/empty-b", "admin/empty-c"] {
        let location = s.start_upload(repo).await;
        let url = format!("{location}?digest={EMPTY_SHA256}");
        let status = match repo {
            "admin/empty-a" => s
                .client
                .put(s.url(&url))
                .header("content-type", "application/octet-stream")
                .header("content-length", "0")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            "admin/empty-b" => {
                send_chunked(s.host(), "PUT", &url, "application/octet-stream", b"0\r\n\r\n")
                    .await
                    .status
            }
            _ => s.client.put(s.url(&url)).send().await.unwrap().status().as_u16(),
        };
        assert_eq!(status, 201, "{repo}");
    }
    // Monolithic.
    let r = s
        .client
        .post(s.url(&format!("/v2/admin/empty-d/blobs/uploads/?digest={EMPTY_SHA256}")))
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        format!("/v2/admin/empty-d/blobs/{EMPTY_SHA256}").as_str()
    );
    for repo in ["admin/empty-a", "admin/empty-b", "admin/empty-c", "admin/empty-d"] {
        let path = format!("/v2/{repo}/blobs/{EMPTY_SHA256}");
        let r = s.head(&path).await;
        assert_eq!(r.status(), 200, "{repo}");
        assert_eq!(r.headers()["content-length"], "0");
        let r = s.get(&path).await;
        assert_eq!(r.status(), 200, "{repo}");
        assert_eq!(r.headers()["docker-content-digest"], EMPTY_SHA256);
        assert_eq!(r.headers()["content-length"], "0");
        assert!(r.bytes().await.unwrap().is_empty());
    }
    assert_eq!(s.stored_blobs().await.len(), 1, "one stored copy");
    assert!(s.staged_uploads().await.is_empty(), "nothing stays staged");
}

#[tokio::test]
async fn uploads_as_the_conformance_suite_sends_them() {
    let s = Server::start().await;
    let repo = "admin/uploads";
    let location_of = |r: &reqwest::Response| r.headers()["location"].to_str().unwrap().to_owned();

    // A whole blob in the PUT that closes a fresh session.
    let blob = random_bytes(300, unique_seed());
    let digest = sha256(&blob);
    let location = s.start_upload(repo).await;
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={digest}")))
        .header("content-type", "application/octet-stream")
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(location_of(&r), format!("/v2/{repo}/blobs/{digest}"));
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(s.get(&format!("/v2/{repo}/blobs/{digest}")).await.status(), 200);

    // Chunked: 42 bytes in two chunks, the second sent first.
    let blob = random_bytes(42, unique_seed());
    let digest = sha256(&blob);
    let (first, second) = blob.split_at(22);
    let r = s
        .client
        .post(s.url(&format!("/v2/{repo}/blobs/uploads/")))
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["oci-chunk-min-length"], "0");
    let location = location_of(&r);
    let r = s.patch_chunk(&location, 22, second).await;
    assert_eq!(r.status(), 416);
    assert_eq!(location_of(&r), location);
    assert_eq!(r.headers()["range"], "0-0");
    let r = s.patch_chunk(&location, 0, first).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-21");
    assert_eq!(location_of(&r), location);
    let r = s.patch_chunk(&location, 0, first).await;
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["range"], "0-21");
    let r = s.get(&location).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-21");
    assert_eq!(location_of(&r), location);
    let r = s.patch_chunk(&location, 22, second).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-41");
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={digest}")))
        .header("content-length", "0")
        .header("content-type", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(location_of(&r), format!("/v2/{repo}/blobs/{digest}"));

    // Cross-mounting: without `from` a session, with it the blob.
    let target = "admin/uploads-mounted";
    let r = s
        .client
        .post(s.url(&format!(
            "/v2/{target}/blobs/uploads/?mount={}",
            sha256(b"hello world")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(location_of(&r).starts_with(&format!("/v2/{target}/blobs/uploads/")));
    let r = s
        .client
        .post(s.url(&format!("/v2/{target}/blobs/uploads/?mount={digest}&from={repo}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(location_of(&r), format!("/v2/{target}/blobs/{digest}"));
    let r = s.get(&location_of(&r)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), blob.as_slice());
}
