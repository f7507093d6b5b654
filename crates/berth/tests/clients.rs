//! Real clients against the real server: skopeo, podman and oras push and
//! pull unchanged, and what comes back is bit-identical.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::layout::{write_image, write_index, write_layout_index};
use common::{OCI_INDEX, Server, run, sha256, unique_seed};

fn skopeo() -> Command {
    let mut c = Command::new("skopeo");
    c.env("HOME", std::env::temp_dir());
    c
}

fn file_digest(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap())
}

#[tokio::test]
async fn skopeo_copies_a_multi_layer_image_in_and_out_unchanged() {
    let s = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[300_000, 1_200_000, 50_000], unique_seed());
    write_layout_index(&layout, &[("v1", &image)]);
    let dest = format!("docker://{}/skopeo/app:v1", s.host());
    run(skopeo()
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(&dest));

    let raw = run(skopeo().args(["inspect", "--raw", "--tls-verify=false", &dest]));
    assert_eq!(
        sha256(raw.as_bytes()),
        image.digest,
        "manifest bytes are kept exactly"
    );

    let out = work.path().join("out");
    run(skopeo()
        .args(["copy", "--src-tls-verify=false", &dest])
        .arg(format!("dir:{}", out.display())));
    assert_eq!(file_digest(&out.join("manifest.json")), image.digest);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
    blobs.extend(
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_owned()),
    );
    assert_eq!(blobs.len(), 4);
    for digest in blobs {
        let hex = digest.trim_start_matches("sha256:");
        assert_eq!(
            file_digest(&out.join(hex)),
            digest,
            "blob {digest} comes back intact"
        );
        assert_eq!(
            std::fs::read(out.join(hex)).unwrap(),
            std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
        );
    }
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
    run(skopeo()
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
    run(skopeo()
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

/// podman with private storage under `dir`, so tests never share state.
fn podman(dir: &Path) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ])
        .env("HOME", dir);
    c
}

#[tokio::test]
async fn podman_pushes_and_pulls() {
    let s = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let ctx = work.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), format!("hello {}\n", unique_seed())).unwrap();
    let tarball = work.path().join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .arg("-cf")
        .arg(&tarball)
        .arg("."));
    let image = format!("{}/podman/hello:v1", s.host());
    run(podman(work.path())
        .args(["import", "--change", "CMD [\"/hello.txt\"]"])
        .arg(&tarball)
        .arg(&image));
    let digest_file = work.path().join("pushed.digest");
    run(podman(work.path())
        .args(["push", "--tls-verify=false", "--digestfile"])
        .arg(&digest_file)
        .arg(&image));
    let pushed = std::fs::read_to_string(&digest_file).unwrap().trim().to_owned();

    let r = s
        .client
        .head(s.url("/v2/podman/hello/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], pushed.as_str());

    run(podman(work.path()).args(["rmi", &image]));
    run(podman(work.path()).args(["pull", "--tls-verify=false", &image]));
    let pulled = run(podman(work.path()).args(["inspect", "--format", "{{.Digest}}", &image]));
    assert_eq!(pulled.trim(), pushed);
    // Pull by digest as well, into a fresh store.
    let fresh = tempfile::tempdir().unwrap();
    run(podman(fresh.path()).args([
        "pull",
        "--tls-verify=false",
        &format!("{}/podman/hello@{pushed}", s.host()),
    ]));
}

#[tokio::test]
async fn oras_pushes_an_artifact_with_a_subject_and_lists_referrers() {
    let s = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/oras_referrers.py");
    let out = run(Command::new("python3")
        .arg(script)
        .arg(s.host())
        .arg("oras/artifacts")
        .arg(work.path()));
    let result: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert_eq!(result["oci_subject_header"], result["subject"]);
    let manifests = result["index"]["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{result}");
    assert_eq!(manifests[0]["digest"], result["referrer"]);
    assert_eq!(result["index"]["mediaType"], OCI_INDEX);
}
