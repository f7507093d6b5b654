//! The one place where distribution API failures become spec error codes,
//! HTTP statuses and JSON bodies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::{IdentityError, RegistryError};
use serde_json::json;

/// The message of `TAG_IMMUTABLE`, as Quay words it.
pub(crate) const TAG_IMMUTABLE_MESSAGE: &str = "tag is immutable and cannot be overwritten";

/// A failed `/v2` request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A failure of the registry service.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A request the registry does not implement.
    #[error("{0}")]
    Unsupported(String),
    /// No endpoint at this path.
    #[error("{0}")]
    NoEndpoint(String),
    /// The caller may not do this.
    #[error("{0}")]
    Denied(String),
    /// Credentials are missing, wrong, or do not cover the request; the
    /// challenge tells the client where to get a token.
    #[error("{message}")]
    Unauthorized {
        /// Why.
        message: String,
        /// The `WWW-Authenticate` value.
        challenge: String,
    },
    /// A malformed request (such as a bad token `scope`).
    #[error("{0}")]
    InvalidRequest(String),
    /// Too many failed logins from this account or address.
    #[error("too many failed login attempts; retry in {0} s")]
    Throttled(u64),
    /// A failure of the identity service.
    #[error(transparent)]
    Identity(IdentityError),
    /// Too many requests in flight.
    #[error("too many requests in flight; retry shortly")]
    TooManyRequests,
    /// A blob `Range` outside the blob.
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable {
        /// The blob's size.
        size: u64,
    },
    /// A malformed pagination parameter.
    #[error("{0}")]
    PaginationInvalid(String),
    /// The registry is read-only (`REGISTRY_STATE: readonly`).
    #[error("{}", crate::mode::READ_ONLY_MESSAGE)]
    ReadOnly,
    /// Pushes are disabled (`DISABLE_PUSHES: true`).
    #[error("{}", crate::mode::PUSHES_DISABLED_MESSAGE)]
    PushesDisabled,
    /// An upload session that the request named but will continue at the
    /// given location.
    #[error("chunk must start at offset {current}")]
    ChunkOutOfOrder {
        /// Bytes the session holds.
        current: u64,
        /// The session's URL.
        location: String,
    },
}

impl ApiError {
    /// Spec error code and HTTP status.
    fn code_and_status(&self) -> (&'static str, StatusCode) {
        use RegistryError as R;
        match self {
            ApiError::Registry(e) => match e {
                R::BlobUnknown => ("BLOB_UNKNOWN", StatusCode::NOT_FOUND),
                R::BlobUploadInvalid(_) => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
                R::BlobUploadUnknown => ("BLOB_UPLOAD_UNKNOWN", StatusCode::NOT_FOUND),
                R::UploadBusy => ("BLOB_UPLOAD_INVALID", StatusCode::CONFLICT),
                R::RangeNotSatisfiable { .. } => ("BLOB_UPLOAD_INVALID", StatusCode::RANGE_NOT_SATISFIABLE),
                R::DigestInvalid(_) => ("DIGEST_INVALID", StatusCode::BAD_REQUEST),
                R::ManifestBlobUnknown(_) => ("MANIFEST_BLOB_UNKNOWN", StatusCode::BAD_REQUEST),
                R::ManifestInvalid(_) => ("MANIFEST_INVALID", StatusCode::BAD_REQUEST),
                R::ManifestTooLarge(_) => ("MANIFEST_INVALID", StatusCode::PAYLOAD_TOO_LARGE),
                R::ManifestUnknown => ("MANIFEST_UNKNOWN", StatusCode::NOT_FOUND),
                R::NameInvalid(_) => ("NAME_INVALID", StatusCode::BAD_REQUEST),
                R::TagInvalid(_) => ("TAG_INVALID", StatusCode::BAD_REQUEST),
                R::NameUnknown => ("NAME_UNKNOWN", StatusCode::NOT_FOUND),
                R::SizeInvalid(_) => ("SIZE_INVALID", StatusCode::BAD_REQUEST),
                // Only upload bodies are streamed into the registry.
                R::BodyUnreadable(_) => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
                // Quay's answer; the message names the quota, and clients
                // (skopeo, podman) print it.
                R::QuotaExceeded { .. } => ("DENIED", StatusCode::FORBIDDEN),
                R::TagImmutable { .. } => ("TAG_IMMUTABLE", StatusCode::CONFLICT),
                // Quay's answers; the message names the repository's state.
                R::RepositoryReadOnly(_) | R::RepositoryMirror(_) | R::ProxyCacheNamespace(_) => {
                    ("DENIED", StatusCode::METHOD_NOT_ALLOWED)
                }
                // The upstream failed or answered badly: a gateway's error.
                R::Proxy(_) => ("UNKNOWN", StatusCode::BAD_GATEWAY),
                R::Internal(_) => ("UNKNOWN", StatusCode::INTERNAL_SERVER_ERROR),
            },
            ApiError::Unsupported(_) => ("UNSUPPORTED", StatusCode::METHOD_NOT_ALLOWED),
            ApiError::NoEndpoint(_) => ("UNSUPPORTED", StatusCode::NOT_FOUND),
            ApiError::Denied(_) => ("DENIED", StatusCode::FORBIDDEN),
            ApiError::Unauthorized { .. } => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED),
            ApiError::Throttled(_) => ("TOOMANYREQUESTS", StatusCode::TOO_MANY_REQUESTS),
            ApiError::InvalidRequest(_) => ("INVALID_REQUEST", StatusCode::BAD_REQUEST),
            ApiError::Identity(e) => match e {
                IdentityError::Unauthenticated(_) | IdentityError::InvalidToken(_) => {
                    ("UNAUTHORIZED", StatusCode::UNAUTHORIZED)
                }
                IdentityError::Throttled(_) => ("TOOMANYREQUESTS", StatusCode::TOO_MANY_REQUESTS),
                IdentityError::Denied(_) => ("DENIED", StatusCode::FORBIDDEN),
                IdentityError::NotFound(_) => ("NAME_UNKNOWN", StatusCode::NOT_FOUND),
                IdentityError::Invalid(_) | IdentityError::Exists(_) => {
                    ("NAME_INVALID", StatusCode::BAD_REQUEST)
                }
                IdentityError::Store(_) | IdentityError::Internal(_) => {
                    ("UNKNOWN", StatusCode::INTERNAL_SERVER_ERROR)
                }
            },
            ApiError::TooManyRequests => ("TOOMANYREQUESTS", StatusCode::TOO_MANY_REQUESTS),
            ApiError::RangeNotSatisfiable { .. } => ("SIZE_INVALID", StatusCode::RANGE_NOT_SATISFIABLE),
            ApiError::PaginationInvalid(_) => ("PAGINATION_NUMBER_INVALID", StatusCode::BAD_REQUEST),
            ApiError::ChunkOutOfOrder { .. } => ("BLOB_UPLOAD_INVALID", StatusCode::RANGE_NOT_SATISFIABLE),
            // Quay's codes: the client shows the message.
            ApiError::ReadOnly => ("DENIED", StatusCode::METHOD_NOT_ALLOWED),
            ApiError::PushesDisabled => ("METHOD NOT ALLOWED", StatusCode::METHOD_NOT_ALLOWED),
        }
    }
}

impl From<crate::mode::Refusal> for ApiError {
    fn from(r: crate::mode::Refusal) -> Self {
        match r {
            crate::mode::Refusal::ReadOnly => ApiError::ReadOnly,
            crate::mode::Refusal::PushesDisabled => ApiError::PushesDisabled,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.code_and_status();
        if status.is_server_error() {
            tracing::error!(code, error = %self, "request failed");
        } else {
            tracing::debug!(code, error = %self, "request refused");
        }
        let mut error = match &self {
            // Quay's message for the code, whatever was refused; the
            // detail names the tag.
            ApiError::Registry(RegistryError::TagImmutable { tag, .. }) => json!({
                "code": code,
                "message": TAG_IMMUTABLE_MESSAGE,
                "detail": { "message": format!("tag '{tag}' is immutable") },
            }),
            _ => json!({ "code": code, "message": self.to_string(), "detail": null }),
        };
        if matches!(self, ApiError::ReadOnly) {
            error["is_readonly"] = json!(true);
        }
        let body = json!({ "errors": [error] });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::TooManyRequests => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::Throttled(s) | ApiError::Identity(IdentityError::Throttled(s)) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*s));
            }
            ApiError::Unauthorized { challenge, .. } => {
                if let Ok(v) = HeaderValue::from_str(challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ApiError::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
            }
            ApiError::ChunkOutOfOrder { current, location } => {
                if let Ok(v) = HeaderValue::from_str(location) {
                    headers.insert(header::LOCATION, v);
                }
                if let Ok(v) = HeaderValue::from_str(&super::upload_range(*current)) {
                    headers.insert(header::RANGE, v);
                }
            }
            _ => {}
        }
        response
    }
}
