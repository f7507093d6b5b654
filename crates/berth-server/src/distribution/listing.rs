//! `GET /v2/<name>/tags/list`, `GET /v2/_catalog` (both with `n`/`last`
//! pagination and a `Link` header) and `GET /v2/<name>/referrers/<digest>`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use berth_core::RepositoryName;
use berth_oci::media_type::OCI_INDEX;
use serde_json::{Value, json};

use super::blobs::parse_digest;
use super::{ApiError, Ctx, set_header};

/// Largest page a client may ask for.
const MAX_PAGE: usize = 10_000;

/// `n` (page size) and `last` (exclusive start) of a listing request.
fn pagination(ctx: &Ctx, default: usize) -> Result<(usize, String), ApiError> {
    let n = match ctx.param("n") {
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| ApiError::PaginationInvalid(format!("n must be a non-negative integer, not {n:?}")))?
            .min(MAX_PAGE),
        None => default,
    };
    Ok((n, ctx.param("last").unwrap_or_default().to_owned()))
}

/// Attach `Link: <url?n=N&last=L>; rel="next"` when more items follow
/// `next_after`.
fn with_link(mut response: Response, path: &str, n: usize, next_after: Option<&str>) -> Response {
    if let Some(last) = next_after {
        let query =
            serde_urlencoded::to_string([("n", n.to_string().as_str()), ("last", last)]).unwrap_or_default();
        set_header(&mut response, "link", &format!("<{path}?{query}>; rel=\"next\""));
    }
    response
}

/// The body of a tag listing; the names go out as the database wrote them.
#[derive(serde::Serialize)]
struct TagList<'a> {
    name: &'a RepositoryName,
    tags: &'a serde_json::value::RawValue,
}

pub(super) async fn tags(ctx: &Ctx, name: &RepositoryName) -> Result<Response, ApiError> {
    let (n, last) = pagination(ctx, MAX_PAGE)?;
    let page = ctx.registry.list_tags(name, &last, n).await?;
    let body = TagList {
        name,
        tags: &page.names,
    };
    let response = Json(body).into_response();
    Ok(with_link(
        response,
        &format!("/v2/{name}/tags/list"),
        n,
        page.next_after.as_deref(),
    ))
}

pub(super) async fn catalog(ctx: &Ctx) -> Result<Response, ApiError> {
    let (n, last) = pagination(ctx, 1000)?;
    let page = ctx
        .identity
        .visible_repositories(&ctx.principal, &last, n)
        .await
        .map_err(ApiError::Identity)?;
    let response = Json(json!({ "repositories": page.items })).into_response();
    Ok(with_link(response, "/v2/_catalog", n, page.next_after()))
}

pub(super) async fn referrers(ctx: &Ctx, name: &RepositoryName, digest: &str) -> Result<Response, ApiError> {
    let subject = parse_digest(digest)?;
    let artifact_type = ctx.param("artifactType");
    let rows = ctx.registry.referrers(name, &subject, artifact_type).await?;
    let manifests: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut d = json!({ "mediaType": r.media_type, "digest": r.digest, "size": r.size });
            if let Some(t) = r.artifact_type {
                d["artifactType"] = Value::String(t);
            }
            if let Some(a) = r.annotations.and_then(|a| serde_json::from_str::<Value>(&a).ok()) {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut response = Json(body).into_response();
    set_header(&mut response, "content-type", OCI_INDEX);
    if artifact_type.is_some() {
        set_header(&mut response, "oci-filters-applied", "artifactType");
    }
    Ok(response)
}
