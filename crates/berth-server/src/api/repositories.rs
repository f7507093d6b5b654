//! Repositories: `POST`/`GET /api/v1/repository` (create, list), `GET`/`PUT`/
//! `DELETE /api/v1/repository/{namespace}/{repository}` and `POST
//! .../changevisibility`.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use berth_core::identity::Action;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, ApiQuery, JsonBody, format_date, truthy};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_repo, list_repos))
        .routes(routes!(get_repo, update_repo, delete_repository))
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

/// Most tags a repository view includes, as Quay.
const VIEW_TAGS: usize = 500;

/// Query of `GET /repository/{namespace}/{repository}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct RepoQuery {
    /// Include the newest tags (default true, at most 500).
    #[serde(rename = "includeTags")]
    include_tags: Option<bool>,
    /// Accepted for Quay compatibility; no statistics are kept.
    #[serde(rename = "includeStats")]
    #[allow(dead_code)]
    include_stats: Option<bool>,
}

/// A repository, its newest tags and what the caller may do with it.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}",
    operation_id = "getRepo",
    tag = "repository",
    params(("namespace" = String, Path), ("repository" = String, Path), RepoQuery),
    responses((status = 200, description = "The repository"), (status = 403, description = "Not allowed"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn get_repo(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    Query(query): Query<RepoQuery>,
) -> Result<Json<Value>, ApiError> {
    let full = format!("{namespace}/{repository}");
    api.authorize(Action::Pull(&full)).await?;
    let repo = api
        .identity
        .repository(&full)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("repository {full} not found")))?;
    let mut tags = serde_json::Map::new();
    if query.include_tags.unwrap_or(true) {
        for t in api.registry.live_tags(&full, VIEW_TAGS).await? {
            tags.insert(
                t.name.clone(),
                json!({
                    "name": t.name,
                    "size": t.size,
                    "last_modified": format_date(t.start_ms),
                    "expiration": t.expires_ms.map(format_date),
                    "manifest_digest": t.manifest_digest,
                }),
            );
        }
    }
    let tag_expiration_s = api.registry.time_machine_window(&full).await?.as_secs();
    let is_organization = api.identity.organization(&namespace).await.is_ok();
    Ok(Json(json!({
        "namespace": namespace,
        "name": repository,
        "kind": "image",
        "description": repo.description,
        "is_public": repo.is_public,
        "is_organization": is_organization,
        "is_starred": false,
        "status_token": "",
        "trust_enabled": false,
        "tag_expiration_s": tag_expiration_s,
        "is_free_account": true,
        "state": "NORMAL",
        "tags": tags,
        "can_write": api.may(Action::Push(&full)).await?,
        "can_admin": api.may(Action::Administer(&full)).await?,
    })))
}

/// The new description.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct RepoUpdate {
    /// Markdown description.
    description: String,
}

/// Change a repository's description.
#[utoipa::path(
    put,
    path = "/repository/{namespace}/{repository}",
    operation_id = "updateRepo",
    tag = "repository",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    request_body = RepoUpdate,
    responses((status = 200, description = "Changed"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:write"]))
)]
async fn update_repo(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<RepoUpdate>,
) -> Result<Json<Value>, ApiError> {
    let full = format!("{namespace}/{repository}");
    api.authorize(Action::Push(&full)).await?;
    if api.identity.repository(&full).await?.is_none() {
        return Err(ApiError::not_found(format!("repository {full} not found")));
    }
    api.identity
        .set_description(&api.principal, &full, &body.description, Some(api.ip))
        .await?;
    Ok(Json(json!({ "success": true })))
}

/// Repositories per page of the listing, as Quay.
const REPOS_PER_PAGE: usize = 100;

/// Query of `GET /repository`; one of `namespace`, `public` and `starred`
/// is required.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct RepoListQuery {
    /// Only repositories in this namespace.
    namespace: Option<String>,
    /// Only starred repositories (there are no stars here: none).
    #[serde(default, deserialize_with = "truthy")]
    #[param(value_type = Option<bool>)]
    starred: Option<bool>,
    /// List every repository the caller may see, public ones included.
    #[serde(default, deserialize_with = "truthy")]
    #[param(value_type = Option<bool>)]
    public: Option<bool>,
    /// Include `last_modified` (seconds since the epoch).
    #[serde(default, deserialize_with = "truthy")]
    #[param(value_type = Option<bool>)]
    last_modified: Option<bool>,
    /// Include `popularity` (always 0: pulls are not counted).
    #[serde(default, deserialize_with = "truthy")]
    #[param(value_type = Option<bool>)]
    popularity: Option<bool>,
    /// `image` (the default and only kind).
    repo_kind: Option<String>,
    /// The token of the next page, from the previous answer.
    next_page: Option<String>,
}

/// The page token after repository `last`: opaque to clients.
fn page_token(last: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

/// The repository name a page token continues after.
fn page_start(token: &str) -> Result<String, ApiError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::invalid("invalid next_page token"))
}

/// The repositories the caller may see, a page at a time.
#[utoipa::path(
    get,
    path = "/repository",
    operation_id = "listRepos",
    tag = "repository",
    params(RepoListQuery),
    responses((status = 200, description = "`{repositories: [...], next_page?}`"), (status = 400, description = "None of namespace, public, starred")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn list_repos(api: Api, ApiQuery(query): ApiQuery<RepoListQuery>) -> Result<Json<Value>, ApiError> {
    let starred = query.starred.unwrap_or(false);
    if query.namespace.is_none() && !starred && !query.public.unwrap_or(false) {
        return Err(ApiError::invalid(
            "namespace, starred or public are required for this API call",
        ));
    }
    if starred || query.repo_kind.as_deref().is_some_and(|k| k != "image") {
        return Ok(Json(json!({ "repositories": [] })));
    }
    let last = match &query.next_page {
        Some(token) => page_start(token)?,
        None => String::new(),
    };
    let (rows, more) = api
        .identity
        .visible_repositories_in(&api.principal, query.namespace.as_deref(), &last, REPOS_PER_PAGE)
        .await?;
    let mut repositories = Vec::with_capacity(rows.len());
    for r in &rows {
        let (namespace, name) = match r.name.split_once('/') {
            Some((ns, name)) => (ns, name),
            None => ("library", r.name.as_str()),
        };
        let mut v = json!({
            "namespace": namespace,
            "name": name,
            "description": r.description,
            "is_public": r.is_public,
            "kind": "image",
            "state": "NORMAL",
        });
        if api.principal.account().is_some() {
            v["is_starred"] = json!(false);
        }
        if query.last_modified.unwrap_or(false) {
            let ms = api.registry.repository_last_modified(r.id).await?;
            v["last_modified"] = json!(ms.map(|ms| ms / 1000));
        }
        if query.popularity.unwrap_or(false) {
            v["popularity"] = json!(0.0);
        }
        repositories.push(v);
    }
    let mut body = json!({ "repositories": repositories });
    if let (true, Some(last)) = (more, rows.last()) {
        body["next_page"] = json!(page_token(&last.name));
    }
    Ok(Json(body))
}

/// Delete a repository with its tags, manifests and permissions; its name
/// can be used again at once, and garbage collection reclaims its blobs.
#[utoipa::path(
    delete,
    path = "/repository/{namespace}/{repository}",
    operation_id = "deleteRepository",
    tag = "repository",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not allowed"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn delete_repository(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let full = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&full)).await?;
    api.registry.delete_repository(&full).await?;
    api.log(
        api.event("delete_repo")
            .repository(&full)
            .metadata(json!({ "namespace": namespace, "repo": repository })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
