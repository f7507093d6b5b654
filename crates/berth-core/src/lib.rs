//! Domain services of Berth: the registry itself (uploads, blobs,
//! manifests, tags), built on `berth-store` and `berth-oci`, and the
//! background indexer of pushed images (with `berth-scan`); nothing of HTTP.

pub mod indexer;
pub mod registry;

pub use indexer::{IndexError, Indexer};
pub use registry::{Registry, RegistryConfig, RegistryError};
