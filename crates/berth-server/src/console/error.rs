//! Console failures as pages. Statuses and messages come from the API's
//! one mapping (`api/error.rs`), so a refused action says why exactly as
//! the API does.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::view::Chrome;
use crate::api::error::ApiError;

/// A failed console request.
#[derive(Debug)]
pub(crate) struct ConsoleError {
    status: StatusCode,
    message: String,
}

impl ConsoleError {
    fn new(status: StatusCode, message: impl Into<String>) -> ConsoleError {
        ConsoleError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request cannot be carried out as sent.
    pub(crate) fn invalid(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403: refused.
    pub(crate) fn forbidden(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: nothing here, or nothing the visitor may see.
    pub(crate) fn not_found(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::NOT_FOUND, message)
    }

    /// Whether the failure is about what was asked (400, 403): worth
    /// showing beside the form that asked.
    pub(crate) fn is_refusal_of_input(&self) -> bool {
        matches!(self.status, StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN)
    }

    /// Whether the failure is a 404: a thing named in a form may not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
    }

    /// What went wrong, for people.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// `response` answered with this failure's status.
    pub(crate) fn with_status(&self, mut response: Response) -> Response {
        *response.status_mut() = self.status;
        response
    }

    /// The same failure, except that a refusal (401, 403) reads as "not
    /// found"; a thing that is missing keeps its own message.
    pub(crate) fn hiding_refusal(self, what: &str) -> ConsoleError {
        match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                ConsoleError::not_found(format!("{what} not found"))
            }
            _ => self,
        }
    }

    /// The same failure, except that a refusal reads as "not found": a
    /// private thing's existence is not told to those who may not see it.
    pub(crate) fn hiding(self, what: &str) -> ConsoleError {
        match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                ConsoleError::not_found(format!("{what} not found"))
            }
            _ => self,
        }
    }
}

impl<E> From<E> for ConsoleError
where
    ApiError: From<E>,
{
    fn from(e: E) -> Self {
        let e = ApiError::from(e);
        ConsoleError::new(e.status(), e.detail())
    }
}

/// The page of a failure.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    reason: String,
    message: String,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            chrome: Chrome::default(),
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "console error page failed to render");
                self.status.into_response()
            }
        }
    }
}

/// A rendered page, or the failure to render it.
pub(crate) fn page(t: &impl Template) -> Result<Response, ConsoleError> {
    t.render().map(|html| Html(html).into_response()).map_err(|e| {
        tracing::error!(error = %e, "console page failed to render");
        ConsoleError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    })
}
