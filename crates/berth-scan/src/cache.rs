//! Per-layer results cached by layer digest. A layer's bytes never change
//! for a digest, and its `LayerIndex` depends on nothing else, so an image
//! that shares a base with an indexed one costs only its new layers.

use std::io::Write;
use std::path::{Path, PathBuf};

use berth_oci::Digest;

use crate::layer::LayerIndex;

/// Bumped whenever detectors or the `LayerIndex` shape change, so results
/// of an older scanner are ignored rather than trusted.
pub const INDEX_FORMAT: u32 = 7;

/// A cache of layer indexes in a directory, one JSON file per layer.
#[derive(Debug, Clone)]
pub struct DirCache {
    dir: PathBuf,
}

impl DirCache {
    /// Use (and create if needed) `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<DirCache> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(DirCache { dir })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!(
            "v{INDEX_FORMAT}-{}-{}.json",
            digest.algorithm().as_str(),
            digest.hex()
        ))
    }

    /// The cached index of a layer; a missing or unreadable entry is a miss.
    pub fn get(&self, digest: &Digest) -> Option<LayerIndex> {
        let bytes = std::fs::read(self.path(digest)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Store a layer's index (atomically: readers never see half a file).
    pub fn put(&self, digest: &Digest, index: &LayerIndex) -> std::io::Result<()> {
        let path = self.path(digest);
        let tmp = tmp_path(&path);
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(index).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Finding;

    #[test]
    fn round_trips_and_misses_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DirCache::open(dir.path()).unwrap();
        let d = Digest::of(berth_oci::Algorithm::Sha256, b"layer");
        assert!(cache.get(&d).is_none());
        let mut index = LayerIndex::default();
        index.whiteouts.push("a/b".into());
        index
            .files
            .insert("etc/os-release".into(), Finding::Release("ID=x\n".into()));
        cache.put(&d, &index).unwrap();
        assert_eq!(cache.get(&d), Some(index));
        std::fs::write(cache.path(&d), b"{garbage").unwrap();
        assert!(cache.get(&d).is_none());
    }
}
