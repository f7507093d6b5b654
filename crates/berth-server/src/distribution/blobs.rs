//! `HEAD`/`GET`/`DELETE /v2/<name>/blobs/<digest>`, with `Range` support.

use berth_core::RepositoryName;
use std::ops::Range;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::RegistryError;
use berth_core::proxy::ClientBlob;
use berth_oci::Digest;

use super::{ApiError, Ctx, set_header};

/// Parse a digest from a path segment.
pub(super) fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse::<Digest>()
        .map_err(|e| ApiError::Registry(RegistryError::DigestInvalid(e.to_string())))
}

pub(super) async fn get(
    ctx: &Ctx,
    name: &RepositoryName,
    digest: &str,
    head: bool,
) -> Result<Response, ApiError> {
    let digest = parse_digest(digest)?;
    let blob = match ctx.registry.client_blob(name, &digest, !head).await? {
        ClientBlob::Stored(blob) => blob,
        // Arriving from a proxy cache's upstream: the whole blob, as it
        // comes.
        ClientBlob::Streaming { size, body } => {
            let mut response = (StatusCode::OK, Body::from_stream(body)).into_response();
            set_header(&mut response, "content-length", &size.to_string());
            set_header(&mut response, "content-type", "application/octet-stream");
            set_header(&mut response, "docker-content-digest", &digest.to_string());
            set_header(&mut response, "etag", &format!("\"{digest}\""));
            return Ok(response);
        }
    };
    let size = blob.size();
    let range = match ctx.header(header::RANGE) {
        Some(spec) => parse_range(spec, size)?,
        None => None,
    };
    if !head && let Some(url) = ctx.registry.blob_redirect(&blob).await? {
        // The client fetches the bytes from storage directly (and verifies
        // them against the digest it asked for).
        let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
        set_header(&mut response, "location", &url);
        set_header(&mut response, "docker-content-digest", &digest.to_string());
        set_header(&mut response, "content-length", "0");
        return Ok(response);
    }
    let (status, len) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, size),
    };
    let body = if head {
        Body::empty()
    } else {
        Body::from_stream(ctx.registry.pull_blob(&blob, range.clone()).await?)
    };
    let mut response = (status, body).into_response();
    set_header(&mut response, "content-length", &len.to_string());
    set_header(&mut response, "content-type", "application/octet-stream");
    set_header(&mut response, "docker-content-digest", &digest.to_string());
    set_header(&mut response, "accept-ranges", "bytes");
    set_header(&mut response, "etag", &format!("\"{digest}\""));
    if let Some(r) = range {
        set_header(
            &mut response,
            "content-range",
            &format!("bytes {}-{}/{size}", r.start, r.end - 1),
        );
    }
    Ok(response)
}

pub(super) async fn delete(ctx: &Ctx, name: &RepositoryName, digest: &str) -> Result<Response, ApiError> {
    let digest = parse_digest(digest)?;
    ctx.registry.delete_blob(name, &digest).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Parse a single `bytes=` range against a blob of `size` bytes. Returns
/// `None` (serve everything) for range units we do not support.
fn parse_range(spec: &str, size: u64) -> Result<Option<Range<u64>>, ApiError> {
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if set.contains(',') {
        return Ok(None); // Multiple ranges: RFC 9110 lets us send the whole blob.
    }
    let unsatisfiable = ApiError::RangeNotSatisfiable { size };
    let (first, last) = set
        .split_once('-')
        .ok_or(ApiError::RangeNotSatisfiable { size })?;
    let num = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| ApiError::RangeNotSatisfiable { size })
    };
    let range = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, true) => return Err(unsatisfiable),
        (true, false) => {
            let suffix = num(last)?;
            if suffix == 0 || size == 0 {
                return Err(unsatisfiable);
            }
            size.saturating_sub(suffix)..size
        }
        (false, true) => num(first)?..size,
        (false, false) => {
            let (a, b) = (num(first)?, num(last)?);
            if a > b {
                return Err(unsatisfiable);
            }
            a..b.saturating_add(1).min(size)
        }
    };
    if range.start >= size {
        return Err(unsatisfiable);
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("bytes=500-1499", 2048).ok().flatten(),
            Some(500..1500)
        );
        assert_eq!(parse_range("bytes=500-", 2048).ok().flatten(), Some(500..2048));
        assert_eq!(parse_range("bytes=-500", 2048).ok().flatten(), Some(1548..2048));
        assert_eq!(
            parse_range("bytes=2000-5000", 2048).ok().flatten(),
            Some(2000..2048)
        );
        assert!(parse_range("bytes=500-0", 2048).is_err());
        assert!(parse_range("bytes=5000-10000", 2048).is_err());
        assert!(parse_range("bytes=x-1", 2048).is_err());
        assert_eq!(parse_range("items=1-2", 2048).ok().flatten(), None);
    }
}
