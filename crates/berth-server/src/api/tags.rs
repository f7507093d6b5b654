//! Tags: `DELETE /api/v1/repository/{namespace}/{repository}/tag/{tag}`.
//! Deleting a tag ends its row; its history stays.

use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::Action;
use berth_oci::Reference;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::Api;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(delete_full_tag))
}

/// Delete a tag.
#[utoipa::path(
    delete,
    path = "/repository/{namespace}/{repository}/tag/{tag}",
    operation_id = "deleteFullTag",
    tag = "tag",
    params(("namespace" = String, Path), ("repository" = String, Path), ("tag" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not allowed"), (status = 404, description = "No such tag")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:write"]))
)]
async fn delete_full_tag(
    api: Api,
    Path((namespace, repository, tag)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let full = format!("{namespace}/{repository}");
    api.authorize(Action::Push(&full)).await?;
    berth_oci::validate_tag(&tag).map_err(|e| ApiError::invalid(e.to_string()))?;
    api.registry
        .delete_manifest(&full, &Reference::Tag(tag.clone()))
        .await
        .map_err(|e| match e {
            berth_core::RegistryError::ManifestUnknown => ApiError::not_found(format!("tag {tag} not found")),
            other => other.into(),
        })?;
    api.log(
        api.event("delete_tag")
            .repository(&full)
            .metadata(json!({ "tag": tag })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
