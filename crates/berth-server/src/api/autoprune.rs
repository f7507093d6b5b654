//! Auto-prune policies, as Quay's API shapes them:
//! `/organization/{orgname}/autoprunepolicy/[{uuid}]`,
//! `/user/autoprunepolicy/[{uuid}]` (the caller's own namespace) and
//! `/repository/{namespace}/{repository}/autoprunepolicy/[{uuid}]`, plus
//! `.../{uuid}/preview`: the tags the policy would prune now.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::registry::{PrunePolicy, PruneScope, PruneSpec, PruneValue, PrunedTag};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody};
use super::organizations::organization_path;
use super::repositories::repo_path;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_org, create_org))
        .routes(routes!(get_org, update_org, delete_org))
        .routes(routes!(preview_org))
        .routes(routes!(list_user, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(preview_user))
        .routes(routes!(list_repo, create_repo))
        .routes(routes!(get_repo, update_repo, delete_repo))
        .routes(routes!(preview_repo))
}

/// A policy's value: a count (`number_of_tags`) or a duration such as
/// `7d` (`creation_date`, `last_pulled`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum Value {
    /// A number of tags.
    Count(i64),
    /// A duration: digits and `s`, `m`, `h`, `d` or `w`.
    Text(String),
}

/// An auto-prune policy (Quay's `AutoPrunePolicyConfig`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyConfig {
    /// `number_of_tags` (keep that many of the most recently set tags),
    /// `creation_date` (prune tags set longer ago than the value) or
    /// `last_pulled` (prune tags neither pulled nor set for that long).
    method: String,
    /// The count, or the duration.
    value: Value,
    /// A regular expression, matched at the start of tag names, narrowing
    /// the tags the policy looks at (at most 256 characters).
    #[serde(rename = "tagPattern")]
    tag_pattern: Option<String>,
    /// If true (the default) the policy looks at matching tags; if false,
    /// at the others.
    #[serde(rename = "tagPatternMatches")]
    tag_pattern_matches: Option<bool>,
}

impl PolicyConfig {
    fn spec(&self) -> Result<PruneSpec, ApiError> {
        let value = match &self.value {
            Value::Count(n) => PruneValue::Count(*n),
            Value::Text(t) => PruneValue::Text(t.clone()),
        };
        PruneSpec::parse(
            &self.method,
            &value,
            self.tag_pattern.as_deref(),
            self.tag_pattern_matches,
        )
        .map_err(ApiError::invalid)
    }
}

/// A policy as Quay shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PolicyView {
    /// Its id.
    uuid: String,
    /// The method.
    method: String,
    /// The value as given.
    value: Value,
    /// The pattern, if any.
    #[serde(rename = "tagPattern")]
    tag_pattern: Option<String>,
    /// Whether the policy looks at matching (true) or other (false) tags.
    #[serde(rename = "tagPatternMatches")]
    tag_pattern_matches: bool,
}

impl From<PrunePolicy> for PolicyView {
    fn from(p: PrunePolicy) -> Self {
        PolicyView {
            uuid: p.uuid,
            method: p.spec.method.name().into(),
            value: match p.spec.value {
                PruneValue::Count(n) => Value::Count(n),
                PruneValue::Text(t) => Value::Text(t),
            },
            tag_pattern: p.spec.tag_pattern,
            tag_pattern_matches: p.spec.tag_pattern_matches,
        }
    }
}

/// The policies of a namespace or repository.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PolicyListView {
    /// Oldest first.
    policies: Vec<PolicyView>,
}

/// The id of the policy created, changed or deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PolicyIdView {
    /// Its id.
    uuid: String,
}

/// A tag a policy would prune.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PreviewTag {
    /// `namespace/name`.
    repository: String,
    /// The tag.
    name: String,
}

/// The tags a policy would prune now.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PreviewView {
    /// By repository, soonest first.
    tags: Vec<PreviewTag>,
}

impl From<PrunedTag> for PreviewTag {
    fn from(t: PrunedTag) -> Self {
        PreviewTag {
            repository: t.repository,
            name: t.name,
        }
    }
}

fn org(orgname: &str) -> Result<PruneScope, ApiError> {
    Ok(PruneScope::Namespace(organization_path(orgname)?))
}

fn repo(namespace: &str, repository: &str) -> Result<PruneScope, ApiError> {
    Ok(PruneScope::Repository(repo_path(namespace, repository)?))
}

fn own(api: &Api) -> Result<PruneScope, ApiError> {
    Ok(PruneScope::own(&api.caller)?)
}

async fn list(api: &Api, scope: PruneScope) -> Result<Json<PolicyListView>, ApiError> {
    let policies = api.registry.prune_policies(&api.caller, &scope).await?;
    Ok(Json(PolicyListView {
        policies: policies.into_iter().map(PolicyView::from).collect(),
    }))
}

async fn create(
    api: &Api,
    scope: PruneScope,
    body: PolicyConfig,
) -> Result<(StatusCode, Json<PolicyIdView>), ApiError> {
    let spec = body.spec()?;
    let uuid = api
        .registry
        .create_prune_policy(&api.caller, &scope, &spec)
        .await?;
    Ok((StatusCode::CREATED, Json(PolicyIdView { uuid })))
}

async fn get_one(api: &Api, scope: PruneScope, uuid: &str) -> Result<Json<PolicyView>, ApiError> {
    Ok(Json(
        api.registry.prune_policy(&api.caller, &scope, uuid).await?.into(),
    ))
}

async fn update(
    api: &Api,
    scope: PruneScope,
    uuid: &str,
    body: PolicyConfig,
) -> Result<StatusCode, ApiError> {
    let spec = body.spec()?;
    api.registry
        .update_prune_policy(&api.caller, &scope, uuid, &spec)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete(api: &Api, scope: PruneScope, uuid: String) -> Result<Json<PolicyIdView>, ApiError> {
    api.registry
        .delete_prune_policy(&api.caller, &scope, &uuid)
        .await?;
    Ok(Json(PolicyIdView { uuid }))
}

async fn preview(api: &Api, scope: PruneScope, uuid: &str) -> Result<Json<PreviewView>, ApiError> {
    let tags = api
        .registry
        .preview_prune_policy(&api.caller, &scope, uuid)
        .await?;
    Ok(Json(PreviewView {
        tags: tags.into_iter().map(PreviewTag::from).collect(),
    }))
}

/// An organization's auto-prune policies (its administrators may read
/// them).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/autoprunepolicy/",
    operation_id = "listOrganizationAutoPrunePolicies",
    tag = "policy",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "The policies", body = PolicyListView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn list_org(api: Api, Path(orgname): Path<String>) -> Result<Json<PolicyListView>, ApiError> {
    list(&api, org(&orgname)?).await
}

/// Create an auto-prune policy of an organization: it applies to every
/// repository of the organization.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/autoprunepolicy/",
    operation_id = "createOrganizationAutoPrunePolicy",
    tag = "policy",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = PolicyConfig,
    responses((status = 201, description = "Created", body = PolicyIdView), (status = 400, description = "Invalid method, value or pattern"), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_org(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<(StatusCode, Json<PolicyIdView>), ApiError> {
    create(&api, org(&orgname)?, body).await
}

/// One auto-prune policy of an organization.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/autoprunepolicy/{policy_uuid}",
    operation_id = "getOrganizationAutoPrunePolicy",
    tag = "policy",
    params(("orgname" = String, Path, description = "The organization"), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "The policy", body = PolicyView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org(
    api: Api,
    Path((orgname, uuid)): Path<(String, String)>,
) -> Result<Json<PolicyView>, ApiError> {
    get_one(&api, org(&orgname)?, &uuid).await
}

/// Change an auto-prune policy of an organization.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/autoprunepolicy/{policy_uuid}",
    operation_id = "updateOrganizationAutoPrunePolicy",
    tag = "policy",
    params(("orgname" = String, Path, description = "The organization"), ("policy_uuid" = String, Path, description = "The policy")),
    request_body = PolicyConfig,
    responses((status = 204, description = "Updated"), (status = 400, description = "Invalid method, value or pattern"), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn update_org(
    api: Api,
    Path((orgname, uuid)): Path<(String, String)>,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<StatusCode, ApiError> {
    update(&api, org(&orgname)?, &uuid, body).await
}

/// Delete an auto-prune policy of an organization.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/autoprunepolicy/{policy_uuid}",
    operation_id = "deleteOrganizationAutoPrunePolicy",
    tag = "policy",
    params(("orgname" = String, Path, description = "The organization"), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "Deleted", body = PolicyIdView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_org(
    api: Api,
    Path((orgname, uuid)): Path<(String, String)>,
) -> Result<Json<PolicyIdView>, ApiError> {
    delete(&api, org(&orgname)?, uuid).await
}

/// The tags an organization's policy would prune now (nothing is pruned).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/autoprunepolicy/{policy_uuid}/preview",
    operation_id = "previewOrganizationAutoPrunePolicy",
    tag = "policy",
    params(("orgname" = String, Path, description = "The organization"), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "The tags", body = PreviewView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn preview_org(
    api: Api,
    Path((orgname, uuid)): Path<(String, String)>,
) -> Result<Json<PreviewView>, ApiError> {
    preview(&api, org(&orgname)?, &uuid).await
}

/// The caller's own auto-prune policies.
#[utoipa::path(
    get,
    path = "/user/autoprunepolicy/",
    operation_id = "listUserAutoPrunePolicies",
    tag = "policy",
    responses((status = 200, description = "The policies", body = PolicyListView)),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_user(api: Api) -> Result<Json<PolicyListView>, ApiError> {
    list(&api, own(&api)?).await
}

/// Create an auto-prune policy of the caller's own namespace.
#[utoipa::path(
    post,
    path = "/user/autoprunepolicy/",
    operation_id = "createUserAutoPrunePolicy",
    tag = "policy",
    request_body = PolicyConfig,
    responses((status = 201, description = "Created", body = PolicyIdView), (status = 400, description = "Invalid method, value or pattern")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn create_user(
    api: Api,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<(StatusCode, Json<PolicyIdView>), ApiError> {
    let scope = own(&api)?;
    create(&api, scope, body).await
}

/// One of the caller's own auto-prune policies.
#[utoipa::path(
    get,
    path = "/user/autoprunepolicy/{policy_uuid}",
    operation_id = "getUserAutoPrunePolicy",
    tag = "policy",
    params(("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "The policy", body = PolicyView), (status = 404, description = "No such policy")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_user(api: Api, Path(uuid): Path<String>) -> Result<Json<PolicyView>, ApiError> {
    get_one(&api, own(&api)?, &uuid).await
}

/// Change one of the caller's own auto-prune policies.
#[utoipa::path(
    put,
    path = "/user/autoprunepolicy/{policy_uuid}",
    operation_id = "updateUserAutoPrunePolicy",
    tag = "policy",
    params(("policy_uuid" = String, Path, description = "The policy")),
    request_body = PolicyConfig,
    responses((status = 204, description = "Updated"), (status = 400, description = "Invalid method, value or pattern"), (status = 404, description = "No such policy")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn update_user(
    api: Api,
    Path(uuid): Path<String>,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<StatusCode, ApiError> {
    let scope = own(&api)?;
    update(&api, scope, &uuid, body).await
}

/// Delete one of the caller's own auto-prune policies.
#[utoipa::path(
    delete,
    path = "/user/autoprunepolicy/{policy_uuid}",
    operation_id = "deleteUserAutoPrunePolicy",
    tag = "policy",
    params(("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "Deleted", body = PolicyIdView), (status = 404, description = "No such policy")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn delete_user(api: Api, Path(uuid): Path<String>) -> Result<Json<PolicyIdView>, ApiError> {
    let scope = own(&api)?;
    delete(&api, scope, uuid).await
}

/// The tags one of the caller's own policies would prune now.
#[utoipa::path(
    get,
    path = "/user/autoprunepolicy/{policy_uuid}/preview",
    operation_id = "previewUserAutoPrunePolicy",
    tag = "policy",
    params(("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "The tags", body = PreviewView), (status = 404, description = "No such policy")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn preview_user(api: Api, Path(uuid): Path<String>) -> Result<Json<PreviewView>, ApiError> {
    preview(&api, own(&api)?, &uuid).await
}

/// A repository's auto-prune policies (its administrators may read them).
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/autoprunepolicy/",
    operation_id = "listRepositoryAutoPrunePolicies",
    tag = "policy",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses((status = 200, description = "The policies", body = PolicyListView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn list_repo(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<Json<PolicyListView>, ApiError> {
    list(&api, repo(&namespace, &repository)?).await
}

/// Create an auto-prune policy of a repository.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/autoprunepolicy/",
    operation_id = "createRepositoryAutoPrunePolicy",
    tag = "policy",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    request_body = PolicyConfig,
    responses((status = 201, description = "Created", body = PolicyIdView), (status = 400, description = "Invalid method, value or pattern"), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn create_repo(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<(StatusCode, Json<PolicyIdView>), ApiError> {
    create(&api, repo(&namespace, &repository)?, body).await
}

/// One auto-prune policy of a repository.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/autoprunepolicy/{policy_uuid}",
    operation_id = "getRepositoryAutoPrunePolicy",
    tag = "policy",
    params(("namespace" = String, Path), ("repository" = String, Path), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "The policy", body = PolicyView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_repo(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<Json<PolicyView>, ApiError> {
    get_one(&api, repo(&namespace, &repository)?, &uuid).await
}

/// Change an auto-prune policy of a repository.
#[utoipa::path(
    put,
    path = "/repository/{namespace}/{repository}/autoprunepolicy/{policy_uuid}",
    operation_id = "updateRepositoryAutoPrunePolicy",
    tag = "policy",
    params(("namespace" = String, Path), ("repository" = String, Path), ("policy_uuid" = String, Path, description = "The policy")),
    request_body = PolicyConfig,
    responses((status = 204, description = "Updated"), (status = 400, description = "Invalid method, value or pattern"), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn update_repo(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<StatusCode, ApiError> {
    update(&api, repo(&namespace, &repository)?, &uuid, body).await
}

/// Delete an auto-prune policy of a repository.
#[utoipa::path(
    delete,
    path = "/repository/{namespace}/{repository}/autoprunepolicy/{policy_uuid}",
    operation_id = "deleteRepositoryAutoPrunePolicy",
    tag = "policy",
    params(("namespace" = String, Path), ("repository" = String, Path), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "Deleted", body = PolicyIdView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn delete_repo(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<Json<PolicyIdView>, ApiError> {
    delete(&api, repo(&namespace, &repository)?, uuid).await
}

/// The tags a repository's policy would prune now (nothing is pruned).
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/autoprunepolicy/{policy_uuid}/preview",
    operation_id = "previewRepositoryAutoPrunePolicy",
    tag = "policy",
    params(("namespace" = String, Path), ("repository" = String, Path), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "The tags", body = PreviewView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn preview_repo(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<Json<PreviewView>, ApiError> {
    preview(&api, repo(&namespace, &repository)?, &uuid).await
}
