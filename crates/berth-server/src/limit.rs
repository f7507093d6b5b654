//! Admission control: a bounded number of requests in flight; the rest are
//! refused at once with 429 TOOMANYREQUESTS and `Retry-After`, rather than
//! queued until clients time out.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::distribution::ApiError;

/// The in-flight request budget.
pub(crate) struct Limiter {
    permits: Arc<Semaphore>,
}

impl Limiter {
    pub(crate) fn new(max: usize) -> Limiter {
        Limiter {
            permits: Arc::new(Semaphore::new(max.max(1))),
        }
    }
}

/// Middleware: run the request if a permit is free, else answer 429.
pub(crate) async fn admit(State(limiter): State<Arc<Limiter>>, request: Request, next: Next) -> Response {
    match limiter.permits.clone().try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::TooManyRequests.into_response(),
    }
}
