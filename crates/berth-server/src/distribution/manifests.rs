//! `HEAD`/`GET`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::RegistryError;
use berth_core::RepositoryName;
use berth_oci::manifest::is_manifest_type;
use berth_oci::media_type::essence;
use berth_oci::{NameError, Reference};
use futures_util::StreamExt;

use super::{ApiError, Ctx, set_header};

/// The reference of a manifest to read or delete. A tag outside the tag
/// grammar names no manifest, so it is unknown (404, as the conformance
/// suite requires); only a push refuses it as invalid.
fn existing_reference(reference: &str) -> Result<Reference, RegistryError> {
    match Reference::parse(reference) {
        Err(NameError::Tag) => Err(RegistryError::ManifestUnknown),
        parsed => parsed.map_err(RegistryError::from),
    }
}

/// Read a manifest body of at most `limit` bytes. A body that cannot be
/// read (such as a malformed chunked encoding) is the client's error.
async fn read_manifest(body: Body, limit: usize) -> Result<Vec<u8>, RegistryError> {
    let mut frames = body.into_data_stream();
    let mut content = Vec::new();
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(|e| {
            RegistryError::ManifestInvalid(format!("the request body could not be read: {e}"))
        })?;
        if content.len() + frame.len() > limit {
            return Err(RegistryError::ManifestTooLarge(limit));
        }
        content.extend_from_slice(&frame);
    }
    Ok(content)
}

pub(super) async fn get(
    ctx: &Ctx,
    name: &RepositoryName,
    reference: &str,
    head: bool,
) -> Result<Response, ApiError> {
    let reference = existing_reference(reference)?;
    let manifest = if head {
        let manifest = ctx.registry.client_manifest(name, &reference).await?;
        if !accepts(ctx, &manifest.media_type) {
            return Err(RegistryError::ManifestUnknown.into());
        }
        manifest
    } else {
        ctx.registry
            .pull_manifest(&ctx.caller(), name, &reference, |t| accepts(ctx, t))
            .await?
    };
    let len = manifest.content.len();
    let body = if head {
        Body::empty()
    } else {
        Body::from(manifest.content)
    };
    let mut response = (StatusCode::OK, body).into_response();
    set_header(&mut response, "content-type", &manifest.media_type);
    set_header(&mut response, "content-length", &len.to_string());
    set_header(&mut response, "docker-content-digest", &manifest.digest);
    set_header(&mut response, "etag", &format!("\"{}\"", manifest.digest));
    Ok(response)
}

/// Whether the request's `Accept` allows `media_type`. A client that names
/// manifest types but not this one gets MANIFEST_UNKNOWN, as from other
/// registries; one that names none (or `*/*`) gets whatever is stored.
fn accepts(ctx: &Ctx, media_type: &str) -> bool {
    let accepted: Vec<&str> = ctx
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(essence)
        .collect();
    let names_manifests = accepted.iter().any(|t| is_manifest_type(t));
    !names_manifests || accepted.iter().any(|t| *t == media_type || *t == "*/*")
}

pub(super) async fn put(
    ctx: &Ctx,
    name: &RepositoryName,
    reference: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let reference = Reference::parse(reference).map_err(RegistryError::from)?;
    let content = read_manifest(body, ctx.registry.config().manifest_size_limit).await?;
    let content_type = ctx.header(header::CONTENT_TYPE).map(str::to_owned);
    let pushed = ctx
        .registry
        .push_manifest(&ctx.caller(), name, &reference, content_type.as_deref(), content)
        .await?;
    let mut response = StatusCode::CREATED.into_response();
    set_header(
        &mut response,
        "location",
        &format!("/v2/{name}/manifests/{}", pushed.digest),
    );
    set_header(&mut response, "docker-content-digest", &pushed.digest.to_string());
    set_header(&mut response, "content-length", "0");
    if let Some(subject) = pushed.subject {
        set_header(&mut response, "oci-subject", &subject.to_string());
    }
    Ok(response)
}

pub(super) async fn delete(ctx: &Ctx, name: &RepositoryName, reference: &str) -> Result<Response, ApiError> {
    let reference = existing_reference(reference)?;
    ctx.registry
        .remove_manifest(&ctx.caller(), name, &reference)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
