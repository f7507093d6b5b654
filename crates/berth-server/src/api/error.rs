//! The one place where `/api/v1` failures become HTTP statuses and Quay's
//! error bodies (`{detail, error_message, error_type, title, type,
//! status}`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::registry::{ClientError, QuotaError};
use berth_core::{IdentityError, RegistryError};

/// A failed `/api/v1` request.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    detail: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, error_type: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error_type,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub(crate) fn invalid(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    /// 404 `not_found`.
    pub(crate) fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 401 `invalid_token`: the caller must authenticate.
    pub(crate) fn unauthenticated(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", detail)
    }

    /// 500 `server_error`: logged here, told to the caller only as such.
    pub(crate) fn internal(error: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "api request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal server error",
        )
    }

    /// The HTTP status this failure answers with.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// What went wrong, for people.
    pub(crate) fn detail(&self) -> &str {
        &self.detail
    }

    /// 403 `insufficient_scope`: authenticated, but not allowed.
    pub(crate) fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope", detail)
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Unauthenticated(d) => ApiError::unauthenticated(d),
            IdentityError::InvalidToken(d) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", d),
            IdentityError::Throttled(s) => ApiError {
                retry_after: Some(s),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    format!("too many failed login attempts; retry in {s} s"),
                )
            },
            IdentityError::Denied(d) => ApiError::forbidden(d),
            IdentityError::NotFound(d) => ApiError::not_found(d),
            IdentityError::Invalid(d) => ApiError::invalid(d),
            e @ IdentityError::Exists(_) => ApiError::invalid(e.to_string()),
            e @ (IdentityError::Store(_) | IdentityError::Internal(_)) => ApiError::internal(&e),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NameUnknown | RegistryError::ManifestUnknown | RegistryError::BlobUnknown => {
                ApiError::not_found(e.to_string())
            }
            // Quay's `TagImmutable` answer.
            RegistryError::TagImmutable { .. } => {
                ApiError::new(StatusCode::CONFLICT, "tag_immutable", e.to_string())
            }
            // Quay refuses changes to such repositories with a 503.
            RegistryError::RepositoryReadOnly(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "read_only",
                "Repository is in read only or mirror mode: READ_ONLY",
            ),
            RegistryError::RepositoryMirror(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "read_only",
                "Repository is in read only or mirror mode: MIRROR",
            ),
            RegistryError::Internal(_) => ApiError::internal(&e),
            other => ApiError::invalid(other.to_string()),
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Identity(e) => e.into(),
            ClientError::Registry(e) => e.into(),
            ClientError::NotFound(d) => ApiError::not_found(d),
            ClientError::Invalid(d) => ApiError::invalid(d),
            ClientError::Conflict(d) => ApiError::new(StatusCode::CONFLICT, "conflict", d),
        }
    }
}

impl From<crate::mode::Refusal> for ApiError {
    fn from(r: crate::mode::Refusal) -> Self {
        match r {
            // Quay's ReadOnlyModeException is a 503.
            crate::mode::Refusal::ReadOnly => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "read_only",
                crate::mode::READ_ONLY_MESSAGE,
            ),
            crate::mode::Refusal::PushesDisabled => ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                crate::mode::PUSHES_DISABLED_MESSAGE,
            ),
        }
    }
}

impl From<QuotaError> for ApiError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::NotFound(d) => ApiError::not_found(d),
            QuotaError::Invalid(d) => ApiError::invalid(d),
            QuotaError::Identity(e) => e.into(),
            e @ QuotaError::Store(_) => ApiError::internal(&e),
        }
    }
}

/// Quay's error body, as every failed `/api/v1` request answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ApiErrorBody {
    /// What went wrong, for people.
    detail: String,
    /// The same text (Quay sends both).
    error_message: String,
    /// A stable code: `invalid_request`, `not_found`, `invalid_token`,
    /// `insufficient_scope`, `too_many_requests`, `read_only`,
    /// `tag_immutable`, `server_error`.
    error_type: &'static str,
    /// The code again.
    title: &'static str,
    /// `/api/v1/error/<code>`.
    #[serde(rename = "type")]
    type_uri: String,
    /// The HTTP status.
    status: u16,
}

/// The statuses any operation may answer with Quay's error body, and why.
pub(crate) const ERROR_STATUSES: [(u16, &str); 7] = [
    (
        400,
        "Invalid request: a malformed or unknown field, a broken rule",
    ),
    (401, "Credentials missing or wrong"),
    (403, "Not allowed"),
    (404, "No such thing, or not visible to the caller"),
    (
        429,
        "Too many failed logins from this address or for this account; see Retry-After",
    ),
    (500, "Internal error"),
    (
        503,
        "Read-only mode (REGISTRY_STATE: readonly), or a repository in state READ_ONLY or MIRROR",
    ),
];

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(status = %self.status, error_type = self.error_type, detail = %self.detail, "api request refused");
        let body = ApiErrorBody {
            error_message: self.detail.clone(),
            detail: self.detail,
            error_type: self.error_type,
            title: self.error_type,
            type_uri: format!("/api/v1/error/{}", self.error_type),
            status: self.status.as_u16(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}
