//! Domain services of Berth. For now: the registry itself (uploads, blobs,
//! manifests, tags), built on `berth-store` and `berth-oci`, knowing nothing
//! of HTTP.

pub mod registry;

pub use registry::{Registry, RegistryConfig, RegistryError};
