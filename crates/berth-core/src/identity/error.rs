//! What identity and access operations can fail with.

use berth_store::StoreError;

/// A failed identity or access operation.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Credentials missing or wrong, or the account cannot log in.
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many failed logins; try again after this many seconds.
    #[error("too many failed login attempts; try again in {0} s")]
    Throttled(u64),
    /// A registry or OAuth token that cannot be used.
    #[error("{0}")]
    InvalidToken(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Denied(String),
    /// The named thing does not exist (or the caller may not know it does).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// A name is already taken.
    #[error("{0} already exists")]
    Exists(String),
    /// Persistence failed.
    #[error(transparent)]
    Store(StoreError),
    /// Something that should not fail did.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for IdentityError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Exists(name) => IdentityError::Exists(name),
            StoreError::NotFound => IdentityError::NotFound("not found".into()),
            e => IdentityError::Store(e),
        }
    }
}

impl From<super::secrets::HashError> for IdentityError {
    fn from(e: super::secrets::HashError) -> Self {
        IdentityError::Internal(e.to_string())
    }
}
