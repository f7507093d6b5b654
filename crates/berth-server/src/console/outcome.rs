//! What a post answers: on success a redirect (303) to the page with a
//! notice; a refusal of what was asked (400, 403, or 404 for a thing the
//! form named) shows the page again with the reason, as the API words it,
//! and its status. If the page itself cannot be shown, that failure is
//! the answer.

use std::future::Future;

use axum::response::Response;

use super::auth::see_other;
use super::error::ConsoleError;

/// `result` as the answer to a post: `Ok(to)` redirects to `to`; a
/// refusal renders `again` with its message; anything else is an error
/// page.
pub(crate) async fn after_post<F, Fut>(
    result: Result<String, ConsoleError>,
    again: F,
) -> Result<Response, ConsoleError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<Response, ConsoleError>>,
{
    match result {
        Ok(to) => Ok(see_other(&to)),
        Err(e) if e.is_refusal_of_input() || e.is_not_found() => {
            again(e.message().to_owned()).await.map(|r| e.with_status(r))
        }
        Err(e) => Err(e),
    }
}

/// A value from a form field that must not be empty.
pub(crate) fn required<'f>(value: &'f str, what: &str) -> Result<&'f str, ConsoleError> {
    let value = value.trim();
    if value.is_empty() {
        Err(ConsoleError::invalid(format!("{what} is required")))
    } else {
        Ok(value)
    }
}

/// A redirect target: `path` with `done=<what>`.
pub(crate) fn done(path: &str, what: &str) -> String {
    let q = serde_urlencoded::to_string([("done", what)]).unwrap_or_default();
    format!("{path}?{q}")
}
