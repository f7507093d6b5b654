//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (session, monolithic with
//! `?digest=`, or `?mount=&from=`), and `PATCH`/`PUT`/`GET`/`DELETE` on a
//! session.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::RegistryError;
use berth_core::RepositoryName;
use berth_core::registry::{BlobRange, UploadStatus};
use berth_oci::{Algorithm, Digest};

use super::blobs::parse_digest;
use super::{ApiError, Ctx, body_stream, set_header, upload_range};

fn upload_location(name: &RepositoryName, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// 201 for a blob that is now in the repository.
fn created(name: &RepositoryName, digest: &Digest) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    set_header(&mut response, "location", &format!("/v2/{name}/blobs/{digest}"));
    set_header(&mut response, "docker-content-digest", &digest.to_string());
    set_header(&mut response, "content-length", "0");
    response
}

/// A session's position, answered with `status`.
fn session(status: StatusCode, name: &RepositoryName, upload: &UploadStatus) -> Response {
    let mut response = status.into_response();
    set_header(&mut response, "location", &upload_location(name, &upload.id));
    set_header(&mut response, "range", &upload_range(upload.offset));
    set_header(&mut response, "docker-upload-uuid", &upload.id);
    set_header(&mut response, "oci-chunk-min-length", "0");
    set_header(&mut response, "content-length", "0");
    response
}

pub(super) async fn start(ctx: &Ctx, name: &RepositoryName, body: Body) -> Result<Response, ApiError> {
    if let Some(mount) = ctx.param("mount") {
        let digest = parse_digest(mount)?;
        // Mounting reads the source repository: only from one the caller
        // may pull from.
        if let Some(from) = ctx.param("from").and_then(|f| RepositoryName::new(f).ok())
            && ctx
                .identity
                .allowed(&ctx.principal, berth_core::identity::Action::Pull(from.as_str()))
                .await
                .map_err(ApiError::Identity)?
            && ctx.registry.mount_blob(name, &from, &digest).await?
        {
            return Ok(created(name, &digest));
        }
        // Not mountable: fall back to a fresh session, as the spec says.
    } else if let Some(digest) = ctx.param("digest") {
        let digest = parse_digest(digest)?;
        let declared = BlobRange {
            start: None,
            length: ctx.content_length(),
        };
        ctx.registry
            .upload_monolithic(name, &digest, declared, body_stream(body))
            .await?;
        return Ok(created(name, &digest));
    }
    let algorithm = match ctx.param("digest-algorithm") {
        Some(a) => a
            .parse::<Algorithm>()
            .map_err(|e| RegistryError::DigestInvalid(e.to_string()))?,
        None => Algorithm::Sha256,
    };
    let upload = ctx.registry.start_upload(name, algorithm).await?;
    Ok(session(StatusCode::ACCEPTED, name, &upload))
}

pub(super) async fn patch(
    ctx: &Ctx,
    name: &RepositoryName,
    id: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let declared = declared_range(ctx)?;
    match ctx
        .registry
        .upload_chunk(name, id, declared, body_stream(body))
        .await
    {
        Ok(upload) => Ok(session(StatusCode::ACCEPTED, name, &upload)),
        Err(RegistryError::RangeNotSatisfiable { current }) => Err(ApiError::ChunkOutOfOrder {
            current,
            location: upload_location(name, id),
        }),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn finish(
    ctx: &Ctx,
    name: &RepositoryName,
    id: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let digest = ctx
        .param("digest")
        .ok_or_else(|| RegistryError::DigestInvalid("the digest query parameter is required".into()))?;
    let digest = parse_digest(digest)?;
    let declared = declared_range(ctx)?;
    let chunk = (ctx.content_length() != Some(0)).then(|| body_stream(body));
    match ctx
        .registry
        .finish_upload(name, id, &digest, declared, chunk)
        .await
    {
        Ok(()) => Ok(created(name, &digest)),
        Err(RegistryError::RangeNotSatisfiable { current }) => Err(ApiError::ChunkOutOfOrder {
            current,
            location: upload_location(name, id),
        }),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn status(ctx: &Ctx, name: &RepositoryName, id: &str) -> Result<Response, ApiError> {
    let upload = ctx.registry.upload_status(name, id).await?;
    Ok(session(StatusCode::NO_CONTENT, name, &upload))
}

pub(super) async fn cancel(ctx: &Ctx, name: &RepositoryName, id: &str) -> Result<Response, ApiError> {
    ctx.registry.cancel_upload(name, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The chunk position a request declares through `Content-Range` and
/// `Content-Length`, which must agree.
fn declared_range(ctx: &Ctx) -> Result<BlobRange, ApiError> {
    let length = ctx.content_length();
    let Some(spec) = ctx.header(header::CONTENT_RANGE) else {
        return Ok(BlobRange { start: None, length });
    };
    let (start, end) = parse_content_range(spec).ok_or_else(|| {
        RegistryError::BlobUploadInvalid(format!(
            "malformed Content-Range {spec:?}, expected <start>-<end>"
        ))
    })?;
    if end < start {
        return Err(RegistryError::BlobUploadInvalid(format!(
            "Content-Range {spec:?} ends before it starts"
        ))
        .into());
    }
    let range_len = (end - start).saturating_add(1);
    if length.is_some_and(|l| l != range_len) {
        return Err(RegistryError::SizeInvalid(format!(
            "Content-Range covers {range_len} bytes but Content-Length is {}",
            length.unwrap_or_default()
        ))
        .into());
    }
    Ok(BlobRange {
        start: Some(start),
        length: Some(range_len),
    })
}

/// `<start>-<end>`, also accepting `bytes <start>-<end>/<total>` and
/// `bytes=<start>-<end>`.
fn parse_content_range(spec: &str) -> Option<(u64, u64)> {
    let spec = spec.trim();
    let spec = spec
        .strip_prefix("bytes")
        .map(|s| s.trim_start_matches([' ', '=']))
        .unwrap_or(spec);
    let span = spec.split('/').next()?;
    let (a, b) = span.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-1023"), Some((0, 1023)));
        assert_eq!(parse_content_range("bytes 10-20/*"), Some((10, 20)));
        assert_eq!(parse_content_range("bytes=10-20"), Some((10, 20)));
        assert_eq!(parse_content_range("10-"), None);
        assert_eq!(parse_content_range("junk"), None);
    }
}
