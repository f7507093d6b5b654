//! Several instances sharing one PostgreSQL database and one blob storage
//! (S3 with `TEST_STORAGE=s3`): any request of a push or pull may land on any
//! instance, and killing one mid-upload loses nothing it acknowledged.
//! Skipped on SQLite, which is single-node.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cli::{podman_round_trip, skopeo_round_trip};
use common::cluster::{Cluster, RoundRobin};
use common::storage::on_s3;
use common::{OCI_MANIFEST, Server, error_code, image_manifest, random_bytes, sha256, unique_seed};

const MIB: usize = 1 << 20;

/// Push `blob` into `repo`: the POST, every `chunk`-sized PATCH and the
/// final PUT each go to the next instance. Returns the digest.
async fn push_spread(servers: &[Server], first: usize, repo: &str, blob: &[u8], chunk: usize) -> String {
    let digest = sha256(blob);
    let at = |k: usize| &servers[(first + k) % servers.len()];
    let location = at(0).start_upload(repo).await;
    let mut k = 1;
    for (n, part) in blob.chunks(chunk).enumerate() {
        let r = at(k).patch_chunk(&location, n * chunk, part).await;
        assert_eq!(
            r.status(),
            202,
            "chunk {n} on instance {}",
            (first + k) % servers.len()
        );
        k += 1;
    }
    let s = at(k);
    let r = s
        .client
        .put(s.url(&format!("{location}?digest={digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    digest
}

#[tokio::test]
async fn every_request_of_a_push_and_pull_may_land_on_any_instance() {
    let Some(cluster) = Cluster::start(3, "").await else {
        return;
    };
    let servers = &cluster.servers;
    let repo = "spread/app";
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","seed":{}}}"#,
        unique_seed()
    )
    .into_bytes();
    // One layer spans two S3 parts, one fits in a segment.
    let big = random_bytes(10 * MIB, unique_seed());
    let small = random_bytes(300_000, unique_seed());
    let config_digest = push_spread(servers, 0, repo, &config, 40).await;
    let big_digest = push_spread(servers, 1, repo, &big, 3 * MIB).await;
    let small_digest = push_spread(servers, 2, repo, &small, 70_000).await;
    let manifest = image_manifest(
        &config_digest,
        config.len(),
        &[
            (big_digest.clone(), big.len()),
            (small_digest.clone(), small.len()),
        ],
        None,
    );
    let manifest_digest = sha256(&manifest);
    let r = servers[1].put_manifest(repo, "v1", OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 201);

    // Pull everything back from each instance.
    for s in servers {
        let r = s
            .client
            .get(s.url(&format!("/v2/{repo}/manifests/v1")))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_slice());
        for (digest, bytes) in [
            (&config_digest, &config),
            (&big_digest, &big),
            (&small_digest, &small),
        ] {
            let r = s
                .client
                .get(s.url(&format!("/v2/{repo}/blobs/{digest}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.bytes().await.unwrap().as_ref(), bytes.as_slice());
        }
    }

    // Delete from a third instance; every instance sees it at once.
    let r = servers[2]
        .client
        .delete(servers[2].url(&format!("/v2/{repo}/manifests/{manifest_digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = servers[2]
        .client
        .delete(servers[2].url(&format!("/v2/{repo}/blobs/{small_digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    for s in servers {
        let r = s
            .client
            .get(s.url(&format!("/v2/{repo}/manifests/v1")))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
        let r = s
            .client
            .head(s.url(&format!("/v2/{repo}/blobs/{small_digest}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    assert!(servers[0].staged_uploads().await.is_empty());
}

#[tokio::test]
async fn killing_an_instance_mid_upload_loses_nothing_acknowledged() {
    // A short lease, so the dead instance's hold on the upload soon lapses.
    let Some(mut cluster) = Cluster::start(3, "UPLOAD_LEASE_S: 2\n").await else {
        return;
    };
    let done_before = cluster.servers[0].push_image("kill/app", "v1", 2).await;
    let blob = random_bytes(20 * MIB, unique_seed());
    let digest = sha256(&blob);
    let (a, b) = (9 * MIB, 11 * MIB);
    let servers = &cluster.servers;
    let location = servers[0].start_upload("kill/app").await;
    for (s, from, to) in [(&servers[0], 0, a), (&servers[1], a, b)] {
        assert_eq!(
            s.patch_chunk(&location, from, &blob[from..to]).await.status(),
            202
        );
    }
    // The third chunk streams to instance 2, which dies halfway.
    let staged_before = servers[0].staged_bytes().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    let body = reqwest::Body::wrap_stream(futures_util::stream::poll_fn({
        let mut rx = rx;
        move |cx| rx.poll_recv(cx)
    }));
    let inflight = tokio::spawn({
        let (client, url) = (servers[2].client.clone(), servers[2].url(&location));
        async move { client.patch(url).body(body).send().await }
    });
    for piece in blob[b..b + 6 * MIB].chunks(MIB) {
        tx.send(Ok(piece.to_vec())).await.unwrap();
    }
    // Kill once the instance has staged some of it (or after a while).
    for _ in 0..300 {
        if servers[0].staged_bytes().await > staged_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster.servers[2].kill();
    assert!(
        inflight.await.unwrap().is_err(),
        "the killed chunk was never acknowledged"
    );
    drop(tx);
    let servers = &cluster.servers[..2];

    // What was acknowledged is all there, on every surviving instance.
    for s in servers {
        let r = s.client.get(s.url(&location)).send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(r.headers()["range"], format!("0-{}", b - 1).as_str());
        let r = s
            .client
            .get(s.url(&format!("/v2/kill/app/manifests/{}", done_before.1)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), done_before.0.as_slice());
    }
    // The upload continues on another instance once the dead one's lease
    // lapses, and finishes on a third.
    assert_eq!(
        servers[1].patch_chunk(&location, b, &blob[b..]).await.status(),
        202
    );
    let r = servers[0]
        .client
        .put(servers[0].url(&format!("{location}?digest={digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = servers[1]
        .client
        .get(servers[1].url(&format!("/v2/kill/app/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(sha256(&r.bytes().await.unwrap()), digest);
}

// Multi-threaded: the proxy keeps serving while the clients block a thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_and_podman_push_and_pull_through_alternating_instances() {
    // Downloads redirect to presigned URLs where storage is S3, so the
    // clients also follow those.
    let Some(cluster) = Cluster::start(2, "FEATURE_BLOB_REDIRECTS: true\n").await else {
        return;
    };
    let proxy = RoundRobin::start(cluster.servers.iter().map(Server::base).collect()).await;
    // One layer large enough for a multipart upload on S3.
    skopeo_round_trip(&proxy.addr, "rr/skopeo", &[9 * MIB, 200_000]);
    let pushed = podman_round_trip(&proxy.addr, "rr/podman");
    for s in &cluster.servers {
        let r = s
            .client
            .head(s.url("/v2/rr/podman/manifests/v1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["docker-content-digest"], pushed.as_str());
    }
    let hits = proxy.hits();
    assert!(
        hits.iter().all(|&h| h > 10),
        "both instances served the clients: {hits:?}"
    );
    if on_s3() {
        assert!(proxy.redirects() > 0, "blob downloads went to presigned URLs");
    }
}
