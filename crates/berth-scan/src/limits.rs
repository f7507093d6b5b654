//! Hard limits applied while reading a layer. Exceeding any of them fails
//! that layer with [`crate::LayerError::Limit`]; nothing grows without bound.

use serde::{Deserialize, Serialize};

/// Bounds on what one layer may make the indexer read or hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most tar entries (headers) in one layer.
    pub max_entries: u64,
    /// Largest single file the indexer reads into memory (a package
    /// database, a manifest). Files the detectors ignore are skipped, not read.
    pub max_file_bytes: u64,
    /// Most decompressed bytes read from one layer, skipped content included.
    pub max_total_bytes: u64,
    /// Deepest path (number of components) an entry may have.
    pub max_path_depth: usize,
    /// Largest tar extension header (PAX records, GNU long names).
    pub max_header_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 2_000_000,
            max_file_bytes: 256 << 20,
            max_total_bytes: 64 << 30,
            max_path_depth: 256,
            max_header_bytes: 1 << 20,
        }
    }
}
