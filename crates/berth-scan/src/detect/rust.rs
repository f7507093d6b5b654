//! Rust: binaries built with `cargo auditable` carry their dependency tree
//! as zlib-compressed JSON in a `.dep-v0` section.

use std::io::Read;

use serde::Deserialize;

use super::{DetectError, elf};
use crate::package::{Ecosystem, Package};

/// Largest dependency tree inflated (real ones are a few KiB).
const MAX_JSON: u64 = 8 << 20;

#[derive(Deserialize)]
struct Tree {
    packages: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
}

/// The crates compiled into a binary, if it was built with cargo auditable.
pub(crate) fn packages(data: &[u8]) -> Result<Vec<Package>, DetectError> {
    let Some(section) = elf::section(data, ".dep-v0") else {
        return Ok(Vec::new());
    };
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(section)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|e| DetectError::Malformed(format!("cargo auditable data: {e}")))?;
    if json.len() as u64 > MAX_JSON {
        return Err(DetectError::Malformed("cargo auditable data too large".into()));
    }
    let tree: Tree = serde_json::from_slice(&json)
        .map_err(|e| DetectError::Malformed(format!("cargo auditable data: {e}")))?;
    Ok(tree
        .packages
        .into_iter()
        .map(|p| Package {
            ecosystem: Ecosystem::Cargo,
            name: p.name,
            version: p.version,
            arch: None,
            source: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_the_dependency_tree() {
        let json = br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true,"dependencies":[1]},{"name":"serde","version":"1.0.210","source":"crates.io"}]}"#;
        let bin = elf::tests::with_section(".dep-v0", &zlib(json));
        let p = packages(&bin).unwrap();
        let names: Vec<_> = p.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect();
        assert_eq!(names, vec![("app", "0.1.0"), ("serde", "1.0.210")]);
        assert!(packages(&elf::tests::with_section(".dep-v0", b"not zlib")).is_err());
        assert!(
            packages(&elf::tests::with_section(".text", b"x"))
                .unwrap()
                .is_empty()
        );
    }
}
