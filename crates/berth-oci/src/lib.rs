//! OCI types and parsing: digests, repository names, tags, media types and
//! manifests. Pure functions, no I/O, so every rule here is unit-testable and
//! safe to call on hostile input.

pub mod digest;
pub mod manifest;
pub mod media_type;
pub mod name;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use manifest::{Descriptor, ManifestError, ManifestKind, ParsedManifest};
pub use name::{NameError, Reference, validate_repository, validate_tag};
