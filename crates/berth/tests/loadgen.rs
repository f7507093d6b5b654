//! The benchmark's load generator exercises real request paths: every
//! workload runs here at small scale against a real Berth and must complete
//! without a single failed request (figures are not judged: timings are no
//! tests).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use berth_bench::RegistryClient;
use berth_bench::data::{blob_set, random_bytes};
use berth_bench::workloads::{
    Figure, blob_head, blob_throughput, copy_image, manifest_get, many_blobs, tag_list,
};
use bytes::Bytes;
use common::Server;

fn assert_measured(figures: &[Figure]) {
    for f in figures {
        assert!(f.value.is_finite() && f.value > 0.0, "{} = {}", f.metric, f.value);
    }
}

#[tokio::test]
async fn every_workload_completes_against_berth() {
    let s = Server::start().await;
    let client = RegistryClient::new(&s.base()).unwrap();
    client.ping().await.unwrap();

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
    let listing = tag_list::run(&client, "lg/tags", 150, 100).await.unwrap();
    assert_eq!(listing[1].value, 2.0, "150 tags take two pages of 100");
    figures.extend(listing);

    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    copy_image::write_layout(&layout, 2 << 20, 2, 4).unwrap();
    figures.extend(
        copy_image::copy_in_out(&layout, s.host(), "lg/copy", &work.path().join("out"))
            .await
            .unwrap(),
    );
    assert_measured(&figures);
}

#[tokio::test]
async fn a_failing_request_fails_the_workload() {
    let s = Server::start().await;
    let client = RegistryClient::new(&s.base()).unwrap();
    // Listing a repository that does not exist is a 404, not a number.
    assert!(tag_list::run(&client, "lg/none", 0, 100).await.is_err());
    assert!(
        client
            .head_blob("lg/none", &berth_bench::data::sha256(b"x"))
            .await
            .is_err()
    );
}
