//! Repositories: `POST`/`GET /api/v1/repository` (create, list), `GET`/`PUT`/
//! `DELETE /api/v1/repository/{namespace}/{repository}` and `POST
//! .../changevisibility`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::registry::{LiveTag, RepositoryDetails, RepositoryState, RepositorySummary};
use berth_core::{Namespace, RepositoryName};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, ApiQuery, JsonBody, format_date, truthy};
use super::vulnerabilities::{SecuritySummaryView, summary_of};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_repo, list_repos))
        .routes(routes!(get_repo, update_repo, delete_repository))
        .routes(routes!(change_repo_visibility))
        .routes(routes!(change_repo_state))
}

/// The repository a `{namespace}/{repository}` path names; an invalid
/// name names nothing (404).
pub(super) fn repo_path(namespace: &str, repository: &str) -> Result<RepositoryName, ApiError> {
    RepositoryName::join(namespace, repository)
        .map_err(|_| ApiError::not_found(format!("repository {namespace}/{repository} not found")))
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

impl From<Visibility> for berth_core::Visibility {
    fn from(v: Visibility) -> Self {
        match v {
            Visibility::Public => berth_core::Visibility::Public,
            Visibility::Private => berth_core::Visibility::Private,
        }
    }
}

/// A new repository (Quay's `NewRepo`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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

/// The repository just created.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CreatedRepoView {
    /// Its namespace.
    namespace: String,
    /// Its name within the namespace.
    name: String,
    /// `image`.
    kind: String,
}

/// Create a repository.
#[utoipa::path(
    post,
    path = "/repository",
    operation_id = "createRepo",
    tag = "repository",
    request_body = NewRepo,
    responses((status = 201, description = "Created", body = CreatedRepoView), (status = 400, description = "Invalid or existing"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:create"]))
)]
async fn create_repo(
    api: Api,
    JsonBody(body): JsonBody<NewRepo>,
) -> Result<(StatusCode, Json<CreatedRepoView>), ApiError> {
    if body.repo_kind.as_deref().is_some_and(|k| k != "image") {
        return Err(ApiError::invalid("only repositories of kind image are supported"));
    }
    let namespace = match body.namespace {
        Some(ns) => ns,
        None => api
            .caller
            .name()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::unauthenticated("Requires authentication"))?,
    };
    let name = RepositoryName::join(&namespace, &body.repository).map_err(|e| ApiError::invalid(e.0))?;
    api.identity
        .create_repo(&api.caller, &name, body.visibility.into(), &body.description)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedRepoView {
            namespace,
            name: body.repository,
            kind: "image".into(),
        }),
    ))
}

/// The new visibility.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeVisibility {
    /// `public` or `private`.
    visibility: Visibility,
}

/// `{"success": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SuccessView {
    /// Always true.
    success: bool,
}

/// Make a repository public or private.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/changevisibility",
    operation_id = "changeRepoVisibility",
    tag = "repository",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    request_body = ChangeVisibility,
    responses((status = 200, description = "Changed", body = SuccessView), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn change_repo_visibility(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<ChangeVisibility>,
) -> Result<Json<SuccessView>, ApiError> {
    let name = repo_path(&namespace, &repository)?;
    api.identity
        .set_visibility(&api.caller, &name, body.visibility.into())
        .await?;
    Ok(Json(SuccessView { success: true }))
}

/// The new state of a repository.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeState {
    /// `NORMAL` (every write), `READ_ONLY` (pulls only) or `MIRROR` (only
    /// the mirror's robot writes).
    state: String,
}

/// Set a repository's state (its administrators may): `READ_ONLY` refuses
/// every push and tag change, `MIRROR` those of everyone but the mirror's
/// robot.
#[utoipa::path(
    put,
    path = "/repository/{namespace}/{repository}/changestate",
    operation_id = "changeRepoState",
    tag = "repository",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    request_body = ChangeState,
    responses((status = 200, description = "Changed", body = SuccessView), (status = 400, description = "Not a state"), (status = 403, description = "Not allowed"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn change_repo_state(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<ChangeState>,
) -> Result<Json<SuccessView>, ApiError> {
    let name = repo_path(&namespace, &repository)?;
    let state = RepositoryState::parse(&body.state)
        .ok_or_else(|| ApiError::invalid(format!("{} is not a valid Repository state.", body.state)))?;
    api.registry
        .change_repository_state(&api.caller, &name, state)
        .await?;
    Ok(Json(SuccessView { success: true }))
}

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

/// A live tag in a repository view.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RepoTagView {
    /// Tag name.
    name: String,
    /// The manifest's size plus the blobs it references directly.
    size: i64,
    /// When it was set.
    last_modified: String,
    /// When it will expire, if planned.
    expiration: Option<String>,
    /// The manifest it points to.
    manifest_digest: String,
    /// The manifest's vulnerabilities per severity, while the scanner is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    security_summary: Option<SecuritySummaryView>,
}

impl From<LiveTag> for RepoTagView {
    fn from(t: LiveTag) -> Self {
        RepoTagView {
            last_modified: format_date(t.start_ms),
            expiration: t.expires_ms.map(format_date),
            name: t.name,
            size: t.size,
            manifest_digest: t.manifest_digest,
            security_summary: None,
        }
    }
}

/// A repository, its newest tags and what the caller may do with it
/// (Quay's repository view).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RepoView {
    /// Its namespace.
    namespace: String,
    /// Its name within the namespace.
    name: String,
    /// `image`.
    kind: String,
    /// Markdown text.
    description: String,
    /// Readable by anyone.
    is_public: bool,
    /// Whether the namespace is an organization.
    is_organization: bool,
    /// Stars are not kept: false.
    is_starred: bool,
    /// Always empty.
    status_token: String,
    /// Always false.
    trust_enabled: bool,
    /// The namespace's time-machine window, in seconds.
    tag_expiration_s: u64,
    /// Always true.
    is_free_account: bool,
    /// `NORMAL`, `READ_ONLY` or `MIRROR`.
    state: String,
    /// The newest live tags by name.
    tags: BTreeMap<String, RepoTagView>,
    /// Whether the caller may push.
    can_write: bool,
    /// Whether the caller administers it.
    can_admin: bool,
}

impl From<RepositoryDetails> for RepoView {
    fn from(d: RepositoryDetails) -> Self {
        let name = &d.repository.name;
        RepoView {
            namespace: name.namespace().to_owned(),
            name: name.short().to_owned(),
            kind: "image".into(),
            description: d.repository.description,
            is_public: d.repository.visibility.is_public(),
            is_organization: d.is_organization,
            is_starred: false,
            status_token: String::new(),
            trust_enabled: false,
            tag_expiration_s: d.tag_expiration_s,
            is_free_account: true,
            state: d.state.as_str().into(),
            tags: d
                .tags
                .into_iter()
                .map(|t| (t.name.clone(), RepoTagView::from(t)))
                .collect(),
            can_write: d.can_write,
            can_admin: d.can_admin,
        }
    }
}

/// A repository, its newest tags and what the caller may do with it.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}",
    operation_id = "getRepo",
    tag = "repository",
    params(("namespace" = String, Path), ("repository" = String, Path), RepoQuery),
    responses((status = 200, description = "The repository", body = RepoView), (status = 403, description = "Not allowed"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn get_repo(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<RepoQuery>,
) -> Result<Json<RepoView>, ApiError> {
    let name = repo_path(&namespace, &repository)?;
    let details = api
        .registry
        .repository_details(&api.caller, &name, query.include_tags.unwrap_or(true))
        .await?;
    let digests: Vec<String> = details.tags.iter().map(|t| t.manifest_digest.clone()).collect();
    let summaries = api
        .registry
        .security_summaries(&api.caller, &name, &digests)
        .await?;
    let mut view = RepoView::from(details);
    for tag in view.tags.values_mut() {
        tag.security_summary = summary_of(&summaries, &tag.manifest_digest);
    }
    Ok(Json(view))
}

/// The new description.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    responses((status = 200, description = "Changed", body = SuccessView), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:write"]))
)]
async fn update_repo(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<RepoUpdate>,
) -> Result<Json<SuccessView>, ApiError> {
    let name = repo_path(&namespace, &repository)?;
    api.identity
        .set_description(&api.caller, &name, &body.description)
        .await?;
    Ok(Json(SuccessView { success: true }))
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

/// A repository of the listing.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RepoSummaryView {
    /// Its namespace.
    namespace: String,
    /// Its name within the namespace.
    name: String,
    /// Markdown text.
    description: String,
    /// Readable by anyone.
    is_public: bool,
    /// `image`.
    kind: String,
    /// `NORMAL`, `READ_ONLY` or `MIRROR`.
    state: String,
    /// Stars are not kept: false, for authenticated callers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    is_starred: Option<bool>,
    /// When asked for: when it last changed, in seconds since the epoch
    /// (`null` if it never had a tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    last_modified: Option<Option<i64>>,
    /// When asked for: always 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    popularity: Option<f64>,
}

/// A page of the listing.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RepoListView {
    /// The repositories, by name.
    repositories: Vec<RepoSummaryView>,
    /// The token of the next page, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    responses((status = 200, description = "A page of repositories", body = RepoListView), (status = 400, description = "None of namespace, public, starred")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:read"]))
)]
async fn list_repos(
    api: Api,
    ApiQuery(query): ApiQuery<RepoListQuery>,
) -> Result<Json<RepoListView>, ApiError> {
    let starred = query.starred.unwrap_or(false);
    if query.namespace.is_none() && !starred && !query.public.unwrap_or(false) {
        return Err(ApiError::invalid(
            "namespace, starred or public are required for this API call",
        ));
    }
    let empty = RepoListView {
        repositories: Vec::new(),
        next_page: None,
    };
    if starred || query.repo_kind.as_deref().is_some_and(|k| k != "image") {
        return Ok(Json(empty));
    }
    // A namespace that cannot exist holds nothing.
    let namespace = match query.namespace.as_deref().map(Namespace::new).transpose() {
        Ok(ns) => ns,
        Err(_) => return Ok(Json(empty)),
    };
    let last = match &query.next_page {
        Some(token) => page_start(token)?,
        None => String::new(),
    };
    let page = api
        .registry
        .repositories(
            &api.caller,
            namespace.as_ref(),
            None,
            &last,
            REPOS_PER_PAGE,
            query.last_modified.unwrap_or(false),
        )
        .await?;
    let next_page = match (page.more, page.repositories.last()) {
        (true, Some(last)) => Some(page_token(last.repository.name.as_str())),
        _ => None,
    };
    let authenticated = api.caller.account_id().is_some();
    let popularity = query.popularity.unwrap_or(false);
    let summary = |r: RepositorySummary| RepoSummaryView {
        namespace: r.repository.name.namespace().to_owned(),
        name: r.repository.name.short().to_owned(),
        description: r.repository.description,
        is_public: r.repository.visibility.is_public(),
        kind: "image".into(),
        state: r.repository.state.as_str().into(),
        is_starred: authenticated.then_some(false),
        last_modified: r.last_modified_ms.map(|ms| ms.map(|ms| ms / 1000)),
        popularity: popularity.then_some(0.0),
    };
    Ok(Json(RepoListView {
        repositories: page.repositories.into_iter().map(summary).collect(),
        next_page,
    }))
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
    let name = repo_path(&namespace, &repository)?;
    api.registry.delete_repository(&api.caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
