//! Real command-line clients (skopeo, podman), isolated per test, and the
//! push-then-pull round trips several tests drive through them.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use super::layout::{Written, write_image, write_layout_index};
use super::{auth_file, run, sha256, unique_seed};

/// skopeo with a private `HOME`, logged in as the superuser of `host`.
pub fn skopeo(host: &str) -> Command {
    let mut c = Command::new("skopeo");
    c.env("HOME", std::env::temp_dir())
        .env("REGISTRY_AUTH_FILE", super::auth_file(host));
    c
}

/// podman with private storage under `dir`, so tests never share state.
pub fn podman(dir: &Path) -> Command {
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

/// `sha256:<hex>` of a file.
pub fn file_digest(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap())
}

/// Copy a fresh image with layers of `layer_sizes` (uncompressed) to
/// `<host>/<repo>:v1` with skopeo, check the manifest bytes are kept, copy it
/// back out and check every blob is bit-identical. Returns the image.
pub fn skopeo_round_trip(host: &str, repo: &str, layer_sizes: &[usize]) -> Written {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", layer_sizes, unique_seed());
    write_layout_index(&layout, &[("v1", &image)]);
    let dest = format!("docker://{host}/{repo}:v1");
    run(skopeo(host)
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(&dest));

    let raw = run(skopeo(host).args(["inspect", "--raw", "--tls-verify=false", &dest]));
    assert_eq!(
        sha256(raw.as_bytes()),
        image.digest,
        "manifest bytes are kept exactly"
    );

    let out = work.path().join("out");
    run(skopeo(host)
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
    assert_eq!(blobs.len(), layer_sizes.len() + 1);
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
    image
}

/// Build a one-file image, push it to `<host>/<repo>:v1` with podman, pull
/// it back by tag and by digest into fresh storage. Returns the pushed
/// manifest digest.
pub fn podman_round_trip(host: &str, repo: &str) -> String {
    podman_round_trip_with(host, repo, &auth_file(host))
}

/// `podman login` to `host` as `user` with `secret` (password or token),
/// storing the credentials in a new auth file under `dir`; returns it.
pub fn podman_login(dir: &Path, host: &str, user: &str, secret: &str) -> std::path::PathBuf {
    let auth = dir.join(format!("auth-{}.json", unique_seed()));
    run(podman(dir)
        .env("REGISTRY_AUTH_FILE", &auth)
        .args([
            "login",
            "--tls-verify=false",
            "--username",
            user,
            "--password-stdin",
            host,
        ])
        .stdin(std::process::Stdio::from(
            std::fs::File::open(write_secret(dir, secret)).unwrap(),
        )));
    auth
}

fn write_secret(dir: &Path, secret: &str) -> std::path::PathBuf {
    let path = dir.join(format!("secret-{}", unique_seed()));
    std::fs::write(&path, secret).unwrap();
    path
}

/// [`podman_round_trip`] with the credentials in `auth` (a containers auth
/// file).
pub fn podman_round_trip_with(host: &str, repo: &str, auth: &Path) -> String {
    let work = tempfile::tempdir().unwrap();
    let image = format!("{host}/{repo}:v1");
    podman_import_hello(work.path(), &image, &["--change", "CMD [\"/hello.txt\"]"]);
    let digest_file = work.path().join("pushed.digest");
    run(podman(work.path())
        .env("REGISTRY_AUTH_FILE", auth)
        .args(["push", "--tls-verify=false", "--digestfile"])
        .arg(&digest_file)
        .arg(&image));
    let pushed = std::fs::read_to_string(&digest_file).unwrap().trim().to_owned();

    run(podman(work.path()).args(["rmi", &image]));
    run(podman(work.path())
        .env("REGISTRY_AUTH_FILE", auth)
        .args(["pull", "--tls-verify=false", &image]));
    let pulled = run(podman(work.path()).args(["inspect", "--format", "{{.Digest}}", &image]));
    assert_eq!(pulled.trim(), pushed);
    // Pull by digest as well, into a fresh store.
    let fresh = tempfile::tempdir().unwrap();
    run(podman(fresh.path()).env("REGISTRY_AUTH_FILE", auth).args([
        "pull",
        "--tls-verify=false",
        &format!("{host}/{repo}@{pushed}"),
    ]));
    pushed
}

/// Import a one-file image (a unique `hello.txt`) into the podman storage
/// under `work` as `image`, with `podman import` options `extra`.
pub fn podman_import_hello(work: &Path, image: &str, extra: &[&str]) {
    let ctx = work.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), format!("hello {}\n", unique_seed())).unwrap();
    let tarball = work.join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .arg("-cf")
        .arg(&tarball)
        .arg("."));
    run(podman(work).arg("import").args(extra).arg(&tarball).arg(image));
}
