//! The benchmark's load generator exercises real request paths: every
//! workload runs here at small scale against a real Berth and must complete
//! without a single failed request (figures are not judged: timings are no
//! tests).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use berth_bench::data::{blob_set, random_bytes};
use berth_bench::workloads::gc_scale::{self, GcPlan};
use berth_bench::workloads::{
    Figure, blob_throughput, copy_image, manifest_get, many_blobs, small_blob, tag_list,
};
use berth_bench::{BenchError, RegistryClient};
use bytes::Bytes;
use common::Server;

fn assert_measured(figures: &[Figure]) {
    for f in figures {
        assert!(f.value.is_finite() && f.value > 0.0, "{} = {}", f.metric, f.value);
    }
}

/// A client logged in as the harness's superuser, as the benchmark's is.
fn admin_client(s: &Server) -> RegistryClient {
    RegistryClient::with_credentials(&s.base(), common::ADMIN, common::ADMIN_PASSWORD).unwrap()
}

#[tokio::test]
async fn every_workload_completes_against_berth() {
    let s = Server::start().await;
    let client = admin_client(&s);
    client.ping().await.unwrap();
    assert_eq!(client.token_fetches(), 0, "the ping fetches no token");

    let base = Bytes::from(random_bytes(3 << 20, 1));
    let blob = blob_throughput::BigBlob::new(&base, 1 << 20, 1);
    let mut figures = vec![
        blob_throughput::upload_monolithic(&client, "lg/big", &blob)
            .await
            .unwrap(),
        blob_throughput::download(&client, "lg/big", &blob).await.unwrap(),
    ];
    let chunked = blob_throughput::BigBlob::new(&base, 1 << 20, 2);
    figures.push(
        blob_throughput::upload_chunked(&client, "lg/big", &chunked)
            .await
            .unwrap(),
    );
    let got = client.get_blob_bytes("lg/big", chunked.digest()).await.unwrap();
    assert_eq!(berth_bench::data::sha256(&got), chunked.digest());

    let blobs = blob_set(20, 4096, 100_000, 3);
    figures.extend(
        many_blobs::push_then_pull(&client, "lg/many", &blobs, 4)
            .await
            .unwrap(),
    );

    manifest_get::setup(&client, "lg/manifest", "latest", 5)
        .await
        .unwrap();
    figures.extend(
        manifest_get::run(&client, "lg/manifest", "latest", 2, Duration::from_millis(200))
            .await
            .unwrap(),
    );

    let digest = client
        .push_bytes("lg/head", Bytes::from_static(b"head me"))
        .await
        .unwrap();
    figures.extend(
        small_blob::run(&client, "lg/head", &digest, 2, Duration::from_millis(200))
            .await
            .unwrap(),
    );

    tag_list::setup(&client, "lg/tags", 150, 9).await.unwrap();
    let listing = tag_list::run(&client, "lg/tags", 150).await.unwrap();
    let requests = |metric: &str| listing.iter().find(|f| f.metric == metric).map(|f| f.value);
    assert_eq!(
        requests("requests needed, n=100"),
        Some(2.0),
        "150 tags take two pages of 100"
    );
    assert_eq!(
        requests("requests needed, no n"),
        Some(1.0),
        "150 tags fit the registry's page"
    );
    figures.extend(listing);

    // Hundreds of requests, many concurrent, over five repositories: one
    // token each, not one per request.
    assert_eq!(client.token_fetches(), 5, "one token per repository");

    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    copy_image::write_layout(&layout, 2 << 20, 2, 4).unwrap();
    let auth_file = work.path().join("auth.json");
    copy_image::write_auth_file(&auth_file, s.host(), common::ADMIN, common::ADMIN_PASSWORD).unwrap();
    figures.extend(
        copy_image::copy_in_out(
            &layout,
            s.host(),
            "lg/copy",
            &work.path().join("out"),
            Some(&auth_file),
        )
        .await
        .unwrap(),
    );
    assert_measured(&figures);
}

/// Workload 9 at small scale: the store pushes, the dry run names exactly
/// its garbage, a pass under push and pull load removes it without a
/// failed request, and the sampled images are kept or gone as they should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gc_workload_completes_against_berth() {
    // Scanner off, as in the benchmark: indexing reads each layer, and a
    // read restarts a blob link's grace period, so an image indexed late
    // (slow storage) would not be garbage yet when the dry run looks.
    let s = Server::start_with_config(
        "FEATURE_GARBAGE_COLLECTION: false\nFEATURE_SECURITY_SCANNER: false\nPUSH_TEMP_TAG_EXPIRATION_SEC: 2\n",
    )
    .await;
    let client = admin_client(&s);
    let plan = GcPlan {
        manifests: 40,
        blobs_per_manifest: 3,
        layer_bytes: 512,
        repositories: 4,
        concurrency: 8,
        sample: 3,
        seed: 77,
    };
    let (sample, rate) = gc_scale::populate(&client, &plan).await.unwrap();
    assert!(rate > 0.0);
    assert!(sample.iter().any(|i| i.tagged) && sample.iter().any(|i| !i.tagged));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let preview = common::gc::preview_gc(&s);
    assert_eq!(preview.removes.blobs, plan.garbage_blobs() as u64);
    assert_eq!(preview.removes.manifests, (plan.manifests / 2) as u64);

    let load = gc_scale::Load::start(&client, &plan, &sample, 2, 2);
    let pass = {
        let gc = common::gc::gc_command(&s);
        tokio::task::spawn_blocking(move || {
            let mut gc = gc;
            common::gc::parse_report(&common::run(&mut gc))
        })
        .await
        .unwrap()
    };
    // Let the clients work a little past the pass too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let done = load.finish().await.unwrap();
    assert!(done.pushes > 0 && done.pulls > 0, "{done:?}");
    assert_eq!(pass.objects, plan.garbage_blobs() as u64);
    gc_scale::check_after(&client, &sample).await.unwrap();
    // The check itself fails on garbage left behind.
    let kept_as_garbage: Vec<_> = sample
        .iter()
        .filter(|i| i.tagged)
        .map(|i| gc_scale::PushedImage {
            tagged: false,
            ..i.clone()
        })
        .collect();
    assert!(gc_scale::check_after(&client, &kept_as_garbage).await.is_err());
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() {
    let s = Server::start().await;
    s.push_image("team/app", "v1", 1).await;
    s.create_user("reader", "reader-password-1", false);
    let reader = RegistryClient::with_credentials(&s.base(), "reader", "reader-password-1").unwrap();
    // Private: the token grants nothing, and a new one would not either.
    assert!(reader.get_manifest("team/app", "v1").await.is_err());
    assert_eq!(reader.token_fetches(), 1);
    let r = s
        .client
        .post(s.url("/api/v1/repository/team/app/changevisibility"))
        .json(&serde_json::json!({ "visibility": "public" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // The cached token still grants nothing: 401, one new token, success.
    reader.get_manifest("team/app", "v1").await.unwrap();
    assert_eq!(reader.token_fetches(), 2);
    reader.get_manifest("team/app", "v1").await.unwrap();
    assert_eq!(reader.token_fetches(), 2, "the new token is kept");
}

#[tokio::test]
async fn without_credentials_the_challenge_is_an_error() {
    let s = Server::start().await;
    let anon = RegistryClient::new(&s.base()).unwrap();
    assert!(anon.ping().await.is_err());
}

#[tokio::test]
async fn a_failing_request_fails_the_workload() {
    let s = Server::start().await;
    let client = admin_client(&s);
    // Listing a repository that does not exist is a 404, not a number.
    let not_found = |e: BenchError| matches!(e, BenchError::Status { got: 404, .. });
    assert!(not_found(tag_list::run(&client, "lg/none", 0).await.unwrap_err()));
    let missing = berth_bench::data::sha256(b"x");
    assert!(not_found(
        client.head_blob("lg/none", &missing).await.unwrap_err()
    ));
}
