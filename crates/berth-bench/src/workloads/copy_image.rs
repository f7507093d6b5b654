//! Workload 7: `skopeo copy` of a multi-layer image from an OCI layout into
//! the registry, then back out to a directory.

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

fn skopeo(args: &[&str]) -> Result<(), BenchError> {
    let out = Command::new("skopeo").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BenchError::Mismatch(format!(
            "skopeo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// Copy the layout's `v1` into `host/repo:v1`, then back out into `out`.
pub async fn copy_in_out(
    layout: &Path,
    host: &str,
    repo: &str,
    out: &Path,
) -> Result<Vec<Figure>, BenchError> {
    let src = format!("oci:{}:v1", layout.display());
    let dest = format!("docker://{host}/{repo}:v1");
    let dir = format!("dir:{}", out.display());
    let t = std::time::Instant::now();
    let copy_in = tokio::task::spawn_blocking({
        let (src, dest) = (src.clone(), dest.clone());
        move || skopeo(&["copy", "--quiet", "--dest-tls-verify=false", &src, &dest])
    });
    copy_in.await.map_err(|e| BenchError::Mismatch(e.to_string()))??;
    let push = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let copy_out = tokio::task::spawn_blocking(move || {
        skopeo(&["copy", "--quiet", "--src-tls-verify=false", &dest, &dir])
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
