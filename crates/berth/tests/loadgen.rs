//! The benchmark's load generator exercises real request paths: every
//! workload runs here at small scale against a real Berth and must complete
//! without a single failed request (figures are not judged: timings are no
//! tests).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use berth_bench::data::{blob_set, random_bytes};
use berth_bench::workloads::{
    Figure, blob_head, blob_throughput, copy_image, manifest_get, many_blobs, tag_list,
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
        blob_head::run(&client, "lg/head", &digest, 2, Duration::from_millis(200))
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
