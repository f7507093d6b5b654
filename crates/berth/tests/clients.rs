//! Real clients against the real server: skopeo, podman and oras push and
//! pull unchanged, and what comes back is bit-identical.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::cli::{file_digest, podman_round_trip, skopeo, skopeo_round_trip};
use common::layout::{write_image, write_index, write_layout_index};
use common::{ADMIN, ADMIN_PASSWORD, OCI_INDEX, Server, run, unique_seed};

#[tokio::test]
async fn skopeo_copies_a_multi_layer_image_in_and_out_unchanged() {
    let s = Server::start().await;
    skopeo_round_trip(s.host(), "skopeo/app", &[300_000, 1_200_000, 50_000]);
}

#[tokio::test]
async fn skopeo_copies_a_multi_arch_index() {
    let s = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let seed = unique_seed();
    let amd = write_image(&layout, "amd64", &[20_000, 30_000], seed);
    let arm = write_image(&layout, "arm64", &[25_000], seed + 100);
    let index = write_index(&layout, &[(amd.clone(), "amd64"), (arm.clone(), "arm64")]);
    write_layout_index(&layout, &[("multi", &index)]);
    let dest = format!("docker://{}/skopeo/multi:latest", s.host());
    run(skopeo(s.host())
        .args(["copy", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:multi", layout.display()))
        .arg(&dest));

    let r = s
        .client
        .get(s.url("/v2/skopeo/multi/manifests/latest"))
        .header("accept", OCI_INDEX)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert_eq!(r.headers()["docker-content-digest"], index.digest.as_str());
    for child in [&amd, &arm] {
        let r = s
            .client
            .head(s.url(&format!("/v2/skopeo/multi/manifests/{}", child.digest)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    let out = work.path().join("out");
    run(skopeo(s.host())
        .args(["copy", "--all", "--src-tls-verify=false", &dest])
        .arg(format!("oci:{}:back", out.display())));
    let back: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(back["manifests"][0]["digest"], index.digest.as_str());
    for child in [&amd, &arm, &index] {
        let hex = child.digest.trim_start_matches("sha256:");
        assert_eq!(file_digest(&out.join("blobs/sha256").join(hex)), child.digest);
    }
}

#[tokio::test]
async fn podman_pushes_and_pulls() {
    let s = Server::start().await;
    let pushed = podman_round_trip(s.host(), "podman/hello");
    let r = s
        .client
        .head(s.url("/v2/podman/hello/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], pushed.as_str());
}

#[tokio::test]
async fn oras_pushes_an_artifact_with_a_subject_and_lists_referrers() {
    let s = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/oras_referrers.py");
    let out = run(Command::new("python3")
        .env("HOME", work.path())
        .arg(script)
        .arg(s.host())
        .arg("oras/artifacts")
        .arg(work.path())
        .arg(ADMIN)
        .arg(ADMIN_PASSWORD));
    let result: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert_eq!(result["oci_subject_header"], result["subject"]);
    let manifests = result["index"]["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{result}");
    assert_eq!(manifests[0]["digest"], result["referrer"]);
    assert_eq!(result["index"]["mediaType"], OCI_INDEX);
}
