//! Restarts, crashes and concurrency: sessions survive restarts, a killed
//! server leaves nothing half-visible, concurrent pushes of the same content
//! all succeed and leave one copy, and big blobs stream in bounded memory.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};

use common::{
    OCI_MANIFEST, Server, error_code, eventually, image_manifest, random_bytes, sha256, unique_seed,
};

#[tokio::test]
async fn chunked_upload_survives_a_restart() {
    let mut s = Server::start().await;
    let blob = random_bytes(300_000, unique_seed());
    let digest = sha256(&blob);
    let location = s.start_upload("restart").await;
    assert_eq!(s.patch_chunk(&location, 0, &blob[..100_000]).await.status(), 202);
    s.stop();
    s.restart().await;
    let r = s.client.get(s.url(&location)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-99999");
    assert_eq!(
        s.patch_chunk(&location, 100_000, &blob[100_000..200_000])
            .await
            .status(),
        202
    );
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={digest}")))
        .header("content-range", "200000-299999")
        .body(blob[200_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = s
        .client
        .get(s.url(&format!("/v2/restart/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), blob.as_slice());
}

#[tokio::test]
async fn resumed_upload_uses_the_stored_hash_state() {
    // Proof that a resumed session does not re-read earlier bytes: after the
    // restart the staged bytes are overwritten (same length), yet the final
    // digest check passes, because the hash state came from the database.
    let mut s = Server::start().await;
    let blob = random_bytes(64_000, unique_seed());
    let digest = sha256(&blob);
    let location = s.start_upload("state").await;
    assert_eq!(s.patch_chunk(&location, 0, &blob[..32_000]).await.status(), 202);
    s.stop();
    assert_eq!(s.staged_bytes().await, 32_000);
    s.storage.overwrite_staged().await;
    s.restart().await;
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={digest}")))
        .body(blob[32_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// Stream `total` pseudo-random bytes in 1 MiB chunks without holding them.
fn generated_body(total: u64, seed: u64) -> (reqwest::Body, tokio::sync::oneshot::Receiver<String>) {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let chunk = random_bytes(1 << 20, seed);
    let stream =
        futures_util::stream::unfold((0u64, Sha256::new(), Some(done_tx)), move |(sent, mut h, tx)| {
            let chunk = chunk.clone();
            async move {
                if sent >= total {
                    if let Some(tx) = tx {
                        let _ = tx.send(format!("sha256:{}", hex::encode(h.finalize())));
                    }
                    return None;
                }
                let n = (total - sent).min(chunk.len() as u64) as usize;
                // Vary each chunk so the blob is not periodic.
                let mut part = chunk[..n].to_vec();
                part[..8].copy_from_slice(&sent.to_le_bytes());
                h.update(&part);
                Some((Ok::<_, std::io::Error>(part), (sent + n as u64, h, tx)))
            }
        });
    (reqwest::Body::wrap_stream(stream), done_rx)
}

/// Digest of a blob computed the same way as [`generated_body`].
fn generated_digest(total: u64, seed: u64) -> String {
    let chunk = random_bytes(1 << 20, seed);
    let mut h = Sha256::new();
    let mut sent = 0u64;
    while sent < total {
        let n = (total - sent).min(chunk.len() as u64) as usize;
        let mut part = chunk[..n].to_vec();
        part[..8].copy_from_slice(&sent.to_le_bytes());
        h.update(&part);
        sent += n as u64;
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[tokio::test]
async fn kill_during_a_large_upload_leaves_no_partial_blob() {
    // A short lease, so the killed monolithic upload is soon seen abandoned.
    let mut s = Server::start_with_config("UPLOAD_LEASE_S: 1\n").await;
    let total = 256u64 << 20;
    let seed = unique_seed();
    let digest = generated_digest(total, seed);
    // A slow monolithic upload: the server is killed while it streams.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let url = s.url(&format!("/v2/crash/blobs/uploads/?digest={digest}"));
    let client = s.client.clone();
    let upload = tokio::spawn(async move {
        let body = reqwest::Body::wrap_stream(futures_util::stream::poll_fn({
            let mut rx = rx;
            move |cx| rx.poll_recv(cx)
        }));
        client
            .post(url)
            .header("content-length", total.to_string())
            .body(body)
            .send()
            .await
    });
    let first = random_bytes(8 << 20, seed);
    tx.send(Ok(first)).await.unwrap();
    // Also a chunked session with one finished chunk and one in flight.
    let location = s.start_upload("crash").await;
    let chunk = random_bytes(1 << 20, seed + 1);
    assert_eq!(s.patch_chunk(&location, 0, &chunk).await.status(), 202);
    let (ptx, prx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let purl = s.url(&location);
    let pclient = s.client.clone();
    let inflight = tokio::spawn(async move {
        let body = reqwest::Body::wrap_stream(futures_util::stream::poll_fn({
            let mut rx = prx;
            move |cx| rx.poll_recv(cx)
        }));
        pclient.patch(purl).body(body).send().await
    });
    ptx.send(Ok(vec![7u8; 500_000])).await.unwrap();
    // Wait until the staged data has grown, then kill.
    for _ in 0..200 {
        if s.staged_bytes().await > (1 << 20) + 4_000_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.kill();
    let _ = upload.await;
    let _ = inflight.await;
    drop(tx);
    drop(ptx);

    s.restart().await;
    let r = s
        .client
        .head(s.url(&format!("/v2/crash/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a partial blob must never be visible");
    assert!(s.stored_blobs().await.is_empty());
    // The abandoned monolithic upload's data goes once its lease lapses;
    // the session's remains.
    let session = location.rsplit('/').next().unwrap().to_owned();
    eventually("the monolithic upload's staged data is removed", || async {
        s.staged_uploads().await == [session.clone()].into()
    })
    .await;
    // The session continues from its last complete chunk; the half chunk is dropped.
    let r = s.client.get(s.url(&location)).send().await.unwrap();
    assert_eq!(r.headers()["range"], format!("0-{}", (1 << 20) - 1).as_str());
    let rest = random_bytes(4096, seed + 2);
    assert_eq!(s.patch_chunk(&location, 1 << 20, &rest).await.status(), 202);
    let mut whole = chunk.clone();
    whole.extend_from_slice(&rest);
    let whole_digest = sha256(&whole);
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={whole_digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = s
        .client
        .get(s.url(&format!("/v2/crash/blobs/{whole_digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(sha256(&got.bytes().await.unwrap()), whole_digest);
}

#[tokio::test]
async fn kill_during_pushes_never_leaves_dangling_references() {
    let mut s = Server::start().await;
    let client = s.client.clone();
    let base = s.base();
    // Manifests acknowledged so far: the kill waits for some, however slow
    // the machine is.
    let pushed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pushers: Vec<_> = (0..4)
        .map(|w| {
            let client = client.clone();
            let base = base.clone();
            let pushed = pushed.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let seed = unique_seed();
                    let layer = random_bytes(20_000, seed);
                    let cfg = format!("{{\"seed\":{seed}}}").into_bytes();
                    let mut ok = true;
                    for b in [&layer, &cfg] {
                        let r = client
                            .post(format!("{base}/v2/crashy/blobs/uploads/?digest={}", sha256(b)))
                            .body(b.to_vec())
                            .send()
                            .await;
                        ok &= r.is_ok_and(|r| r.status() == 201);
                    }
                    if !ok {
                        return;
                    }
                    let m = image_manifest(&sha256(&cfg), cfg.len(), &[(sha256(&layer), layer.len())], None);
                    let r = client
                        .put(format!("{base}/v2/crashy/manifests/w{w}-{}", i % 5))
                        .header("content-type", OCI_MANIFEST)
                        .body(m)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 => {
                            pushed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Kill mid-stream: once a few pushes went through, while more are in
    // flight (bounded, so a broken server fails the assertion below).
    for _ in 0..600 {
        if pushed.load(std::sync::atomic::Ordering::SeqCst) >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.kill();
    for p in pushers {
        let _ = p.await;
    }
    s.restart().await;
    let tags: serde_json::Value = s
        .client
        .get(s.url("/v2/crashy/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tags = tags["tags"].as_array().unwrap();
    assert!(!tags.is_empty(), "some pushes completed before the kill");
    for tag in tags {
        let r = s
            .client
            .get(s.url(&format!("/v2/crashy/manifests/{}", tag.as_str().unwrap())))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "tag {tag} resolves");
        let m: serde_json::Value = r.json().await.unwrap();
        let mut digests = vec![m["config"]["digest"].as_str().unwrap().to_owned()];
        digests.extend(
            m["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_owned()),
        );
        for d in digests {
            let r = s
                .client
                .get(s.url(&format!("/v2/crashy/blobs/{d}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "blob {d} of tag {tag}");
            assert_eq!(sha256(&r.bytes().await.unwrap()), d);
        }
    }
}

#[tokio::test]
async fn concurrent_pushes_of_the_same_content_all_succeed_with_one_copy() {
    // A short lease makes the background sweep run every second.
    let s = Server::start_with_config("UPLOAD_LEASE_S: 1\n").await;
    let layer = random_bytes(200_000, unique_seed());
    let cfg = b"{\"same\":true}".to_vec();
    let manifest = image_manifest(&sha256(&cfg), cfg.len(), &[(sha256(&layer), layer.len())], None);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (client, base) = (s.client.clone(), s.base());
        let (layer, cfg, manifest) = (layer.clone(), cfg.clone(), manifest.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for b in [&layer, &cfg] {
                if i % 2 == 0 {
                    let r = client
                        .post(format!("{base}/v2/same/blobs/uploads/?digest={}", sha256(b)))
                        .body(b.clone())
                        .send()
                        .await
                        .unwrap();
                    statuses.push(r.status().as_u16());
                } else {
                    let r = client
                        .post(format!("{base}/v2/same/blobs/uploads/"))
                        .send()
                        .await
                        .unwrap();
                    let loc = r.headers()["location"].to_str().unwrap().to_owned();
                    for (n, part) in b.chunks(50_000).enumerate() {
                        let from = n * 50_000;
                        let r = client
                            .patch(format!("{base}{loc}"))
                            .header("content-range", format!("{from}-{}", from + part.len() - 1))
                            .body(part.to_vec())
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 202);
                    }
                    let r = client
                        .put(format!("{base}{loc}?digest={}", sha256(b)))
                        .send()
                        .await
                        .unwrap();
                    statuses.push(r.status().as_u16());
                }
            }
            let r = client
                .put(format!("{base}/v2/same/manifests/latest"))
                .header("content-type", OCI_MANIFEST)
                .body(manifest.clone())
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
            statuses
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), vec![201, 201, 201]);
    }
    assert_eq!(s.stored_blobs().await.len(), 2, "one stored copy per blob");
    // Staging left behind by a cleanup step that failed under load (an S3
    // delete, say) is swept by the background worker.
    common::eventually("no staged data remains", || async {
        s.staged_uploads().await.is_empty()
    })
    .await;
    let tags: serde_json::Value = s
        .client
        .get(s.url("/v2/same/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["latest"]));
    let r = s
        .client
        .get(s.url("/v2/same/manifests/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_slice());
}

#[tokio::test]
async fn big_blob_streams_in_bounded_memory() {
    // TEST_BIG_BLOB_MIB sets the size (default 1024 = 1 GiB).
    let mib: u64 = std::env::var("TEST_BIG_BLOB_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let total = mib << 20;
    let s = Server::start().await;
    let seed = unique_seed();
    let digest = generated_digest(total, seed);
    let (body, _) = generated_body(total, seed);
    let r = s
        .client
        .post(s.url(&format!("/v2/big/blobs/uploads/?digest={digest}")))
        .header("content-length", total.to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", error_code(r).await);
    let r = s
        .client
        .get(s.url(&format!("/v2/big/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut h = Sha256::new();
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        got += chunk.len() as u64;
        h.update(&chunk);
    }
    assert_eq!(got, total);
    assert_eq!(format!("sha256:{}", hex::encode(h.finalize())), digest);
    let peak_mib = s.peak_rss_kib() / 1024;
    println!("peak server RSS after a {mib} MiB round trip: {peak_mib} MiB");
    // An eighth of a 1 GiB blob: the debug build's own memory (about 80 MiB
    // on S3) plus the parts of the upload in flight (S3: up to three of 8 MiB).
    assert!(
        peak_mib < 128,
        "server peak RSS {peak_mib} MiB: blobs must stream, not buffer"
    );
}
