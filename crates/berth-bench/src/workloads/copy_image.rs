//! Workload 7: `skopeo copy` of a multi-layer image from an OCI layout into
//! the registry, then back out to a directory, logged in through a
//! containers auth file as podman and skopeo users are.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::Figure;
use crate::client::BenchError;
use crate::data::{random_bytes, sha256};

/// Write an OCI layout at `dir` holding one image (tag `v1`) of `layers`
/// uncompressed tar layers totalling about `total` bytes.
pub fn write_layout(dir: &Path, total: usize, layers: usize, seed: u64) -> Result<(), BenchError> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let put = |bytes: &[u8]| -> Result<String, BenchError> {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes)?;
        Ok(digest)
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..layers {
        let mut tar = tar::Builder::new(Vec::new());
        let data = random_bytes(total / layers, seed.wrapping_add(i as u64));
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("layer{i}.bin"), data.as_slice())?;
        let bytes = tar.into_inner()?;
        let digest = put(&bytes)?;
        diff_ids.push(format!("\"{digest}\""));
        descs.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{digest}","size":{}}}"#,
            bytes.len()
        ));
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let config_digest = put(config.as_bytes())?;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{}]}}"#,
        config.len(),
        descs.join(",")
    );
    let manifest_digest = put(manifest.as_bytes())?;
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#,
            manifest.len()
        ),
    )?;
    Ok(())
}

/// Write a containers auth file (`auth.json`, as `podman login` writes)
/// holding `user`'s password for `host`, readable only by its owner.
pub fn write_auth_file(path: &Path, host: &str, user: &str, password: &str) -> Result<(), BenchError> {
    use base64::Engine as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = serde_json::json!({ "auths": { host: { "auth": auth } } });
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(json.to_string().as_bytes())?;
    Ok(())
}

fn skopeo(args: &[&str], auth_file: Option<&Path>) -> Result<(), BenchError> {
    let mut cmd = Command::new("skopeo");
    if let Some(file) = auth_file {
        cmd.env("REGISTRY_AUTH_FILE", file);
    }
    let out = cmd.args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BenchError::Mismatch(format!(
            "skopeo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// Copy the layout's `v1` into `host/repo:v1`, then back out into `out`,
/// with the credentials in `auth_file` (see [`write_auth_file`]) if given.
pub async fn copy_in_out(
    layout: &Path,
    host: &str,
    repo: &str,
    out: &Path,
    auth_file: Option<&Path>,
) -> Result<Vec<Figure>, BenchError> {
    let auth_file = auth_file.map(Path::to_path_buf);
    let src = format!("oci:{}:v1", layout.display());
    let dest = format!("docker://{host}/{repo}:v1");
    let dir = format!("dir:{}", out.display());
    let t = std::time::Instant::now();
    let copy_in = tokio::task::spawn_blocking({
        let (src, dest, auth_file) = (src.clone(), dest.clone(), auth_file.clone());
        move || {
            skopeo(
                &["copy", "--quiet", "--dest-tls-verify=false", &src, &dest],
                auth_file.as_deref(),
            )
        }
    });
    copy_in.await.map_err(|e| BenchError::Mismatch(e.to_string()))??;
    let push = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let copy_out = tokio::task::spawn_blocking(move || {
        skopeo(
            &["copy", "--quiet", "--src-tls-verify=false", &dest, &dir],
            auth_file.as_deref(),
        )
    });
    copy_out
        .await
        .map_err(|e| BenchError::Mismatch(e.to_string()))??;
    let pull = t.elapsed().as_secs_f64();
    Ok(vec![
        Figure::lower("skopeo copy in", "s", push),
        Figure::lower("skopeo copy out", "s", pull),
    ])
}
