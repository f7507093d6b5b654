//! Errors of the registry service, one variant per distinct client-visible
//! outcome. The HTTP layer maps each to a spec error code and status.

use berth_oci::{DigestError, ManifestError, NameError};
use berth_store::StoreError;

/// A registry operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The blob is not in the repository.
    #[error("blob unknown to registry")]
    BlobUnknown,
    /// The upload request was malformed or inconsistent.
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// No such upload session.
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    /// Another request (on any instance) is writing to the session.
    #[error("another request is writing to this upload; retry later")]
    UploadBusy,
    /// A chunk did not start where the session is.
    #[error("chunk must start at offset {current}")]
    RangeNotSatisfiable {
        /// Bytes the session holds.
        current: u64,
    },
    /// A digest was malformed or did not match the content.
    #[error("digest invalid: {0}")]
    DigestInvalid(String),
    /// A manifest references a blob or manifest the repository lacks.
    #[error("manifest references unknown {0}")]
    ManifestBlobUnknown(String),
    /// The manifest is malformed.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// The manifest exceeds the size limit.
    #[error("manifest exceeds the limit of {0} bytes")]
    ManifestTooLarge(usize),
    /// No such manifest or tag.
    #[error("manifest unknown")]
    ManifestUnknown,
    /// The repository name is malformed.
    #[error("{0}")]
    NameInvalid(String),
    /// A tag to push is outside the tag grammar.
    #[error("{0}")]
    TagInvalid(String),
    /// No such repository.
    #[error("repository name not known to registry")]
    NameUnknown,
    /// A length did not match the content.
    #[error("size invalid: {0}")]
    SizeInvalid(String),
    /// The request body could not be read (malformed chunked encoding, a
    /// connection closed early): the client's fault, not the storage's.
    #[error("blob upload invalid: the request body could not be read: {0}")]
    BodyUnreadable(String),
    /// The push would take the namespace over its quota's reject limit.
    #[error("Quota has been exceeded on namespace {namespace}: {usage} of {limit} bytes used")]
    QuotaExceeded {
        /// The namespace.
        namespace: String,
        /// Its usage with the push, in bytes.
        usage: u64,
        /// The reject limit reached, in bytes.
        limit: u64,
    },
    /// The tag is immutable: it cannot be moved, deleted or set to expire.
    #[error("Cannot {operation} immutable tag '{tag}'")]
    TagImmutable {
        /// The tag.
        tag: String,
        /// What was refused: `overwrite`, `delete`, `set expiration on`.
        operation: &'static str,
    },
    /// The repository is read-only (its state): nothing may be written.
    #[error("{0} is in read-only mode.")]
    RepositoryReadOnly(String),
    /// The repository is a mirror: only its mirror's robot writes.
    #[error("Repository {0} is a mirror. Mirrored repositories cannot be modified directly.")]
    RepositoryMirror(String),
    /// The namespace is a proxy cache: it is filled by pulls only.
    #[error(
        "Cannot push to {0}: it is a proxy cache organization, filled by pulls from its upstream registry"
    )]
    ProxyCacheNamespace(String),
    /// The proxy cache could not get what was asked from its upstream.
    #[error("proxy cache: {0}")]
    Proxy(String),
    /// A storage failure: the client is not at fault.
    #[error("internal storage error: {0}")]
    Internal(#[from] StoreError),
}

impl From<NameError> for RegistryError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::Digest(d) => RegistryError::DigestInvalid(d.to_string()),
            NameError::Tag => RegistryError::TagInvalid(e.to_string()),
            other => RegistryError::NameInvalid(other.to_string()),
        }
    }
}

impl From<DigestError> for RegistryError {
    fn from(e: DigestError) -> Self {
        RegistryError::DigestInvalid(e.to_string())
    }
}

impl From<ManifestError> for RegistryError {
    fn from(e: ManifestError) -> Self {
        RegistryError::ManifestInvalid(e.to_string())
    }
}
