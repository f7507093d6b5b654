//! Why a layer could not be indexed.

use std::fmt;

/// Which limit a layer exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Too many tar entries.
    Entries,
    /// One file the detectors wanted is larger than allowed.
    FileBytes,
    /// The decompressed stream is larger than allowed (a tar bomb).
    TotalBytes,
    /// A path is nested deeper than allowed.
    PathDepth,
    /// A tar extension header (PAX, long name) is larger than allowed.
    HeaderBytes,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::Entries => "entry count",
            LimitKind::FileBytes => "file size",
            LimitKind::TotalBytes => "decompressed size",
            LimitKind::PathDepth => "path depth",
            LimitKind::HeaderBytes => "extension header size",
        })
    }
}

/// Why one layer could not be indexed. Other layers are unaffected.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The layer exceeded a hard limit.
    #[error("layer exceeds the {kind} limit of {limit}")]
    Limit {
        /// Which limit.
        kind: LimitKind,
        /// Its configured value.
        limit: u64,
    },
    /// An entry's path leaves the layer root (`..`).
    #[error("entry path {0:?} escapes the layer root")]
    PathTraversal(String),
    /// Symbolic links on a path the indexer resolves form a loop.
    #[error("symbolic link loop at {0:?}")]
    SymlinkLoop(String),
    /// A compression format layers may not use.
    #[error("unsupported layer compression: {0}")]
    UnsupportedCompression(&'static str),
    /// The tar or compressed stream is malformed or truncated.
    #[error("corrupt layer: {0}")]
    Corrupt(String),
}
