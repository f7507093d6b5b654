//! Repositories: `POST /api/v1/repository` and `POST
//! /api/v1/repository/{namespace}/{repository}/changevisibility`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::Action;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_repo))
        .routes(routes!(change_repo_visibility))
}

/// `public` or `private`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum Visibility {
    /// Readable by anyone.
    Public,
    /// Readable by those granted access.
    Private,
}

/// A new repository (Quay's `NewRepo`).
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewRepo {
    /// The repository's name within the namespace.
    repository: String,
    /// Who may read it.
    visibility: Visibility,
    /// Markdown description.
    #[serde(default)]
    description: String,
    /// The namespace; the caller's own by default.
    namespace: Option<String>,
    /// `image` (the only kind).
    repo_kind: Option<String>,
}

/// Create a repository.
#[utoipa::path(
    post,
    path = "/repository",
    operation_id = "createRepo",
    tag = "repository",
    request_body = NewRepo,
    responses((status = 201, description = "Created"), (status = 400, description = "Invalid or existing"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:create"]))
)]
async fn create_repo(
    api: Api,
    JsonBody(body): JsonBody<NewRepo>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.repo_kind.as_deref().is_some_and(|k| k != "image") {
        return Err(ApiError::invalid("only repositories of kind image are supported"));
    }
    let namespace = match body.namespace {
        Some(ns) => ns,
        None => api
            .principal
            .name()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::unauthenticated("Requires authentication"))?,
    };
    api.authorize(Action::CreateRepository(&namespace)).await?;
    let full = format!("{namespace}/{}", body.repository);
    if api.identity.repository(&full).await?.is_some() {
        return Err(ApiError::invalid("Repository already exists"));
    }
    api.identity
        .create_repository(
            &api.principal,
            &full,
            body.visibility == Visibility::Public,
            &body.description,
            Some(api.ip),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "namespace": namespace, "name": body.repository, "kind": "image" })),
    ))
}

/// The new visibility.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ChangeVisibility {
    /// `public` or `private`.
    visibility: Visibility,
}

/// Make a repository public or private.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/changevisibility",
    operation_id = "changeRepoVisibility",
    tag = "repository",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    request_body = ChangeVisibility,
    responses((status = 200, description = "Changed"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn change_repo_visibility(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<ChangeVisibility>,
) -> Result<Json<Value>, ApiError> {
    let full = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&full)).await?;
    api.identity
        .set_visibility(
            &api.principal,
            &full,
            body.visibility == Visibility::Public,
            Some(api.ip),
        )
        .await?;
    Ok(Json(json!({ "success": true })))
}
