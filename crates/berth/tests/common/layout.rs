//! Writing OCI image layouts on disk, for feeding real clients (skopeo).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, random_bytes, sha256};

/// A descriptor written into a layout: (media type, digest, size).
#[derive(Clone, Debug)]
pub struct Written {
    pub media_type: String,
    pub digest: String,
    pub size: usize,
}

fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let path = dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    digest
}

/// A gzip tar layer holding one file of `size` random bytes; returns
/// (compressed bytes, uncompressed digest).
fn layer(name: &str, size: usize, seed: u64) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let data = random_bytes(size, seed);
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, name, data.as_slice()).unwrap();
    gzip_layer(&tar.into_inner().unwrap())
}

/// Write an image (config + `layer_sizes.len()` layers) into the layout's
/// blobs; returns the manifest descriptor.
pub fn write_image(dir: &Path, arch: &str, layer_sizes: &[usize], seed: u64) -> Written {
    let layers: Vec<(Vec<u8>, String)> = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, size)| layer(&format!("file{i}.bin"), *size, seed + i as u64))
        .collect();
    write_image_layers(dir, arch, &layers)
}

/// Gzip a tar stream; returns (compressed bytes, uncompressed digest).
pub fn gzip_layer(raw: &[u8]) -> (Vec<u8>, String) {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(raw).unwrap();
    (gz.finish().unwrap(), sha256(raw))
}

/// Write an image from ready layers (compressed bytes, diff id) into the
/// layout's blobs; returns the manifest descriptor.
pub fn write_image_layers(dir: &Path, arch: &str, layers: &[(Vec<u8>, String)]) -> Written {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (bytes, diff_id) in layers {
        let digest = write_blob(dir, bytes);
        descs.push(format!(
            r#"{{"mediaType":"{OCI_LAYER}","digest":"{digest}","size":{}}}"#,
            bytes.len()
        ));
        diff_ids.push(format!("\"{diff_id}\""));
    }
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","config":{{"Cmd":["/file0.bin"]}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let config_digest = write_blob(dir, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{}]}}"#,
        config.len(),
        descs.join(",")
    );
    let digest = write_blob(dir, manifest.as_bytes());
    Written {
        media_type: OCI_MANIFEST.into(),
        digest,
        size: manifest.len(),
    }
}

/// Write an index over `images` (each with its architecture).
pub fn write_index(dir: &Path, images: &[(Written, &str)]) -> Written {
    let entries: Vec<String> = images
        .iter()
        .map(|(w, arch)| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
                w.media_type, w.digest, w.size
            )
        })
        .collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    );
    let digest = write_blob(dir, index.as_bytes());
    Written {
        media_type: OCI_INDEX.into(),
        digest,
        size: index.len(),
    }
}

/// Write `oci-layout` and `index.json` naming each entry by its ref name.
pub fn write_layout_index(dir: &Path, refs: &[(&str, &Written)]) {
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let entries: Vec<String> = refs
        .iter()
        .map(|(name, w)| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{name}"}}}}"#,
                w.media_type, w.digest, w.size
            )
        })
        .collect();
    let index = format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, entries.join(","));
    std::fs::write(dir.join("index.json"), index).unwrap();
}
