//! Benchmark content: deterministic pseudo-random bytes, cheap to make and
//! incompressible, and the digests of what is sent.

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `len` pseudo-random bytes from `seed` (xorshift64).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A set of blobs of sizes spread between `min` and `max` bytes.
pub fn blob_set(count: usize, min: usize, max: usize, seed: u64) -> Vec<Bytes> {
    let sizes = random_bytes(count * 8, seed ^ 0xABCD);
    (0..count)
        .map(|i| {
            let r = u64::from_le_bytes(sizes[i * 8..i * 8 + 8].try_into().unwrap_or_default());
            let len = min + (r as usize % (max - min + 1));
            Bytes::from(random_bytes(len, seed.wrapping_add(i as u64 * 7919)))
        })
        .collect()
}

/// A minimal OCI image manifest over a config and layers (digest, size).
pub fn image_manifest(config: (&str, usize), layers: &[(String, usize)]) -> Bytes {
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, n)| {
            format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{d}","size":{n}}}"#)
        })
        .collect();
    Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}]}}"#,
        crate::client::OCI_MANIFEST,
        config.0,
        config.1,
        layers.join(",")
    ))
}
