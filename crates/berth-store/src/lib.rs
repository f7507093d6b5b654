//! Persistence for Berth: metadata in SQLite or PostgreSQL through one schema
//! and one set of SQL texts, and blob bytes in an object store.
//!
//! Nothing above this crate writes SQL or touches blob files.

pub mod blob;
pub mod db;
pub mod error;
pub mod metadata;

pub use blob::{
    Appended, BlobStore, ByteStream, Checkpoint, LocalBlobStore, S3BlobStore, S3Settings, StoredBlob,
    canonical_key,
};
pub use db::{Db, PoolSettings, PoolUse};
pub use error::StoreError;

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
