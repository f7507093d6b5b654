//! Immutability policies, as Quay's API shapes them:
//! `/organization/{orgname}/immutabilitypolicy/[{uuid}]` and
//! `/repository/{namespace}/{repository}/immutabilitypolicy/[{uuid}]`.
//! A policy makes the tags whose name its pattern matches (or, with
//! `tagPatternMatches: false`, does not match) immutable, existing ones
//! included.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::registry::{ImmutabilityPolicy, PolicyInput, PolicyScope};
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
        .routes(routes!(list_org_policies, create_org_policy))
        .routes(routes!(get_org_policy, update_org_policy, delete_org_policy))
        .routes(routes!(list_repo_policies, create_repo_policy))
        .routes(routes!(get_repo_policy, update_repo_policy, delete_repo_policy))
}

/// An immutability policy (Quay's `ImmutabilityPolicyConfig`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyConfig {
    /// A regular expression matched at the start of tag names (at most 256
    /// characters).
    #[serde(rename = "tagPattern")]
    tag_pattern: String,
    /// If true (the default), matching tags are immutable; if false, the
    /// tags that do not match are.
    #[serde(rename = "tagPatternMatches")]
    tag_pattern_matches: Option<bool>,
}

impl From<PolicyConfig> for PolicyInput {
    fn from(c: PolicyConfig) -> Self {
        PolicyInput {
            tag_pattern: c.tag_pattern,
            tag_pattern_matches: c.tag_pattern_matches.unwrap_or(true),
        }
    }
}

/// A policy as Quay shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PolicyView {
    /// Its id.
    uuid: String,
    /// The pattern.
    #[serde(rename = "tagPattern")]
    tag_pattern: String,
    /// Whether matching (true) or other (false) tags are immutable.
    #[serde(rename = "tagPatternMatches")]
    tag_pattern_matches: bool,
}

impl From<ImmutabilityPolicy> for PolicyView {
    fn from(p: ImmutabilityPolicy) -> Self {
        PolicyView {
            uuid: p.uuid,
            tag_pattern: p.tag_pattern,
            tag_pattern_matches: p.tag_pattern_matches,
        }
    }
}

/// The policies of an organization or repository.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PolicyListView {
    /// Oldest first.
    policies: Vec<PolicyView>,
}

/// The id of the policy created or deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PolicyIdView {
    /// Its id.
    uuid: String,
}

fn org_scope(orgname: &str) -> Result<PolicyScope, ApiError> {
    Ok(PolicyScope::Organization(organization_path(orgname)?))
}

fn repo_scope(namespace: &str, repository: &str) -> Result<PolicyScope, ApiError> {
    Ok(PolicyScope::Repository(repo_path(namespace, repository)?))
}

async fn list(api: &Api, scope: PolicyScope) -> Result<Json<PolicyListView>, ApiError> {
    let policies = api.registry.immutability_policies(&api.caller, &scope).await?;
    Ok(Json(PolicyListView {
        policies: policies.into_iter().map(PolicyView::from).collect(),
    }))
}

async fn create(
    api: &Api,
    scope: PolicyScope,
    body: PolicyConfig,
) -> Result<(StatusCode, Json<PolicyIdView>), ApiError> {
    let uuid = api
        .registry
        .create_immutability_policy(&api.caller, &scope, &body.into())
        .await?;
    Ok((StatusCode::CREATED, Json(PolicyIdView { uuid })))
}

async fn get_one(api: &Api, scope: PolicyScope, uuid: &str) -> Result<Json<PolicyView>, ApiError> {
    let policy = api
        .registry
        .immutability_policy(&api.caller, &scope, uuid)
        .await?;
    Ok(Json(policy.into()))
}

async fn update(
    api: &Api,
    scope: PolicyScope,
    uuid: &str,
    body: PolicyConfig,
) -> Result<StatusCode, ApiError> {
    api.registry
        .update_immutability_policy(&api.caller, &scope, uuid, &body.into())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete(api: &Api, scope: PolicyScope, uuid: String) -> Result<Json<PolicyIdView>, ApiError> {
    api.registry
        .delete_immutability_policy(&api.caller, &scope, &uuid)
        .await?;
    Ok(Json(PolicyIdView { uuid }))
}

/// An organization's immutability policies (its administrators may read
/// them).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/immutabilitypolicy/",
    operation_id = "listOrgImmutabilityPolicies",
    tag = "immutabilitypolicy",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "The policies", body = PolicyListView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn list_org_policies(api: Api, Path(orgname): Path<String>) -> Result<Json<PolicyListView>, ApiError> {
    list(&api, org_scope(&orgname)?).await
}

/// Create an organization immutability policy: tags of every repository
/// of the organization that it matches, existing ones included, become
/// immutable.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/immutabilitypolicy/",
    operation_id = "createOrgImmutabilityPolicy",
    tag = "immutabilitypolicy",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = PolicyConfig,
    responses((status = 201, description = "Created", body = PolicyIdView), (status = 400, description = "Invalid or duplicate pattern"), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_org_policy(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<(StatusCode, Json<PolicyIdView>), ApiError> {
    create(&api, org_scope(&orgname)?, body).await
}

/// One immutability policy of an organization.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/immutabilitypolicy/{policy_uuid}",
    operation_id = "getOrgImmutabilityPolicy",
    tag = "immutabilitypolicy",
    params(("orgname" = String, Path, description = "The organization"), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "The policy", body = PolicyView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org_policy(
    api: Api,
    Path((orgname, uuid)): Path<(String, String)>,
) -> Result<Json<PolicyView>, ApiError> {
    get_one(&api, org_scope(&orgname)?, &uuid).await
}

/// Change an organization immutability policy; tags it no longer holds
/// are released.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/immutabilitypolicy/{policy_uuid}",
    operation_id = "updateOrgImmutabilityPolicy",
    tag = "immutabilitypolicy",
    params(("orgname" = String, Path, description = "The organization"), ("policy_uuid" = String, Path, description = "The policy")),
    request_body = PolicyConfig,
    responses((status = 204, description = "Updated"), (status = 400, description = "Invalid or duplicate pattern"), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn update_org_policy(
    api: Api,
    Path((orgname, uuid)): Path<(String, String)>,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<StatusCode, ApiError> {
    update(&api, org_scope(&orgname)?, &uuid, body).await
}

/// Delete an organization immutability policy; tags only it held are
/// released.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/immutabilitypolicy/{policy_uuid}",
    operation_id = "deleteOrgImmutabilityPolicy",
    tag = "immutabilitypolicy",
    params(("orgname" = String, Path, description = "The organization"), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "Deleted", body = PolicyIdView), (status = 403, description = "Not an administrator of the organization"), (status = 404, description = "No such organization or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_org_policy(
    api: Api,
    Path((orgname, uuid)): Path<(String, String)>,
) -> Result<Json<PolicyIdView>, ApiError> {
    delete(&api, org_scope(&orgname)?, uuid).await
}

/// A repository's immutability policies (its administrators may read
/// them).
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/immutabilitypolicy/",
    operation_id = "listRepositoryImmutabilityPolicies",
    tag = "immutabilitypolicy",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses((status = 200, description = "The policies", body = PolicyListView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn list_repo_policies(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<Json<PolicyListView>, ApiError> {
    list(&api, repo_scope(&namespace, &repository)?).await
}

/// Create a repository immutability policy: its tags that it matches,
/// existing ones included, become immutable.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/immutabilitypolicy/",
    operation_id = "createRepositoryImmutabilityPolicy",
    tag = "immutabilitypolicy",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    request_body = PolicyConfig,
    responses((status = 201, description = "Created", body = PolicyIdView), (status = 400, description = "Invalid or duplicate pattern"), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn create_repo_policy(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<(StatusCode, Json<PolicyIdView>), ApiError> {
    create(&api, repo_scope(&namespace, &repository)?, body).await
}

/// One immutability policy of a repository.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/immutabilitypolicy/{policy_uuid}",
    operation_id = "getRepositoryImmutabilityPolicy",
    tag = "immutabilitypolicy",
    params(("namespace" = String, Path), ("repository" = String, Path), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "The policy", body = PolicyView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_repo_policy(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<Json<PolicyView>, ApiError> {
    get_one(&api, repo_scope(&namespace, &repository)?, &uuid).await
}

/// Change a repository immutability policy; tags it no longer holds are
/// released.
#[utoipa::path(
    put,
    path = "/repository/{namespace}/{repository}/immutabilitypolicy/{policy_uuid}",
    operation_id = "updateRepositoryImmutabilityPolicy",
    tag = "immutabilitypolicy",
    params(("namespace" = String, Path), ("repository" = String, Path), ("policy_uuid" = String, Path, description = "The policy")),
    request_body = PolicyConfig,
    responses((status = 204, description = "Updated"), (status = 400, description = "Invalid or duplicate pattern"), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn update_repo_policy(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<PolicyConfig>,
) -> Result<StatusCode, ApiError> {
    update(&api, repo_scope(&namespace, &repository)?, &uuid, body).await
}

/// Delete a repository immutability policy; tags only it held are
/// released.
#[utoipa::path(
    delete,
    path = "/repository/{namespace}/{repository}/immutabilitypolicy/{policy_uuid}",
    operation_id = "deleteRepositoryImmutabilityPolicy",
    tag = "immutabilitypolicy",
    params(("namespace" = String, Path), ("repository" = String, Path), ("policy_uuid" = String, Path, description = "The policy")),
    responses((status = 200, description = "Deleted", body = PolicyIdView), (status = 403, description = "Not an administrator of the repository"), (status = 404, description = "No such repository or policy")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn delete_repo_policy(
    api: Api,
    Path((namespace, repository, uuid)): Path<(String, String, String)>,
) -> Result<Json<PolicyIdView>, ApiError> {
    delete(&api, repo_scope(&namespace, &repository)?, uuid).await
}
