//! A body that counts the data bytes passing through it.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use metrics::Counter;

/// `inner`, adding the length of every data frame to `counter` as it is
/// read (so a body cut short counts what was actually carried).
pub(super) fn counted(inner: Body, counter: Counter) -> Body {
    Body::new(Counted { inner, counter })
}

struct Counted {
    inner: Body,
    counter: Counter,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.counter.increment(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    // Kept, so a known length still goes out as `Content-Length`.
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
