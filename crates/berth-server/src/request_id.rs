//! Every request gets an id: the client's `X-Request-ID` when it is a sane
//! token, else a new UUID. It is echoed in the answer and carried by every
//! log line of the request (as the `request` span's `id`), so an operator
//! can follow one request through the log, across a load balancer too.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header carrying the id, in both directions.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-chosen id kept.
const MAX_LEN: usize = 128;

/// Whether a client's id is kept: 1 to 128 letters, digits and `-_.:`,
/// so nothing a client sends can forge log structure or bloat every line.
fn acceptable(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Assign the request's id, run it inside a span holding the id, and
/// echo the id in the answer.
pub(crate) async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // Only acceptable ids and UUIDs get here: both are valid header values.
    let value = HeaderValue::from_str(&id).ok();
    if let Some(v) = &value {
        request.headers_mut().insert(X_REQUEST_ID.clone(), v.clone());
    }
    let span = tracing::info_span!("request", id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Some(v) = value {
        response.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_plain_tokens_are_kept() {
        for ok in ["abc", "4bf92f3577b34da6a3ce929d0e0e4736", "req-1.2_3:x"] {
            assert!(acceptable(ok), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in ["", "two words", "a\"b", "{json}", "line\nbreak", long.as_str()] {
            assert!(!acceptable(bad), "{bad:?}");
        }
    }
}
