//! Organization mirroring, Quay 3.17's API: `GET|POST|PUT|DELETE
//! /api/v1/organization/{orgname}/mirror`, `POST .../mirror/sync-now`,
//! `.../mirror/sync-cancel`, `.../mirror/verify` and `GET
//! .../mirror/repositories`. Upstream credentials are accepted, never
//! returned.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::registry::{MirrorProxy, OrgMirror, OrgMirrorInput, OrgMirrorRepository, RegistryConnection};
use berth_core::upstream::RegistryKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody, present};
use super::mirror::{format_date, parse_date};
use super::organizations::organization_path;
use super::repositories::Visibility;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_org_mirror,
            create_org_mirror,
            change_org_mirror,
            delete_org_mirror
        ))
        .routes(routes!(org_sync_now))
        .routes(routes!(org_sync_cancel))
        .routes(routes!(org_verify))
        .routes(routes!(org_mirror_repositories))
}

/// Proxies for the upstream.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OrgProxyConfig {
    /// `http_proxy`.
    #[serde(default)]
    http_proxy: Option<String>,
    /// `https_proxy`.
    #[serde(default)]
    https_proxy: Option<String>,
    /// `no_proxy`.
    #[serde(default)]
    no_proxy: Option<String>,
}

/// How the upstream is reached.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OrgRegistryConfig {
    /// Verify the upstream's certificate (default true); false also allows
    /// plain HTTP.
    #[serde(default)]
    verify_tls: Option<bool>,
    /// Proxies (kept and shown; connections are made directly).
    #[serde(default)]
    proxy: Option<OrgProxyConfig>,
}

/// An organization mirror configuration, or the fields of one to change
/// (Quay's body).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OrgMirrorConfig {
    /// Whether the mirror discovers and syncs (default true).
    #[serde(default)]
    is_enabled: Option<bool>,
    /// `quay` (also another Berth) or `harbor`.
    #[serde(default)]
    external_registry_type: Option<String>,
    /// The upstream registry, `https://host[:port]` (`http://` only with
    /// `verify_tls` false).
    #[serde(default)]
    external_registry_url: Option<String>,
    /// The upstream namespace: a Quay organization, a Harbor project.
    #[serde(default)]
    external_namespace: Option<String>,
    /// The upstream user (stored encrypted, never returned).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    external_registry_username: Option<Option<String>>,
    /// The upstream password (stored encrypted, never returned).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    external_registry_password: Option<Option<String>>,
    /// The robot of the organization that writes the repositories.
    #[serde(default)]
    robot_username: Option<String>,
    /// Visibility of the repositories the mirror creates.
    #[serde(default)]
    visibility: Option<Visibility>,
    /// Seconds between discoveries (at least 60).
    #[serde(default)]
    #[schema(minimum = 0)]
    sync_interval: Option<u64>,
    /// The first discovery, `YYYY-MM-DDTHH:MM:SSZ` (UTC).
    #[serde(default)]
    sync_start_date: Option<String>,
    /// Shell globs on repository names; none: every repository.
    #[serde(default)]
    repository_filters: Option<Vec<String>>,
    /// How the upstream is reached.
    #[serde(default)]
    external_registry_config: Option<OrgRegistryConfig>,
    /// Bound on one upstream operation, seconds (30 to 3600, default 300).
    #[serde(default)]
    #[schema(minimum = 0)]
    skopeo_timeout: Option<u64>,
    /// Architectures kept from indexes (`amd64`, `arm64`, `ppc64le`, `s390x`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    architecture_filter: Option<Option<Vec<String>>>,
}

impl OrgMirrorConfig {
    fn into_input(self) -> Result<OrgMirrorInput, ApiError> {
        let registry_type = self
            .external_registry_type
            .as_deref()
            .map(|t| {
                RegistryKind::parse(t).ok_or_else(|| {
                    ApiError::invalid(format!("external_registry_type {t:?} is not one of quay, harbor"))
                })
            })
            .transpose()?;
        let connection = self.external_registry_config.map(|c| {
            let proxy = c.proxy.unwrap_or_default();
            RegistryConnection {
                verify_tls: c.verify_tls.unwrap_or(true),
                unsigned_images: false,
                proxy: MirrorProxy {
                    http_proxy: proxy.http_proxy,
                    https_proxy: proxy.https_proxy,
                    no_proxy: proxy.no_proxy,
                },
            }
        });
        Ok(OrgMirrorInput {
            is_enabled: self.is_enabled,
            registry_type,
            registry_url: self.external_registry_url,
            external_namespace: self.external_namespace,
            username: self.external_registry_username,
            password: self.external_registry_password,
            robot_username: self.robot_username,
            visibility: self.visibility.map(Into::into),
            sync_interval_s: self.sync_interval,
            sync_start_ms: self.sync_start_date.as_deref().map(parse_date).transpose()?,
            repository_filters: self.repository_filters,
            connection,
            timeout_s: self.skopeo_timeout,
            architecture_filter: self.architecture_filter,
        })
    }
}

/// An organization mirror and the status of its discovery (credentials
/// are never shown).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OrgMirrorView {
    /// Whether it discovers and syncs.
    is_enabled: bool,
    /// `quay` or `harbor`.
    external_registry_type: &'static str,
    /// The upstream registry.
    external_registry_url: String,
    /// The upstream namespace.
    external_namespace: String,
    /// Never returned (always null).
    external_registry_username: Option<String>,
    /// Whether upstream credentials are stored.
    has_credentials: bool,
    /// The robot that writes the repositories.
    robot_username: String,
    /// `public` or `private`.
    visibility: &'static str,
    /// Seconds between discoveries.
    sync_interval: i64,
    /// The next discovery, if scheduled.
    sync_start_date: Option<String>,
    /// When a running discovery's claim lapses.
    sync_expiration_date: Option<String>,
    /// Failed discoveries retried before waiting a whole interval.
    sync_retries_remaining: i64,
    /// The discovery's status: `NEVER_RUN`, `SYNC_NOW`, `SYNCING`,
    /// `SUCCESS`, `FAIL` or `CANCEL`.
    sync_status: &'static str,
    /// When the last discovery ended.
    last_sync: Option<String>,
    /// Why the last discovery failed.
    last_error: Option<String>,
    /// Repository globs (empty: all).
    repository_filters: Vec<String>,
    /// How the upstream is reached.
    external_registry_config: OrgRegistryConfig,
    /// Bound on one upstream operation, seconds.
    skopeo_timeout: i64,
    /// Architectures kept from indexes.
    architecture_filter: Option<Vec<String>>,
}

impl From<OrgMirror> for OrgMirrorView {
    fn from(m: OrgMirror) -> Self {
        OrgMirrorView {
            is_enabled: m.is_enabled,
            external_registry_type: m.registry_type.as_str(),
            external_registry_url: m.registry_url,
            external_namespace: m.external_namespace,
            external_registry_username: None,
            has_credentials: m.has_credentials,
            robot_username: m.robot_username,
            visibility: m.visibility.as_str(),
            sync_interval: m.sync_interval_s,
            sync_start_date: m.sync_start_ms.map(format_date),
            sync_expiration_date: m.sync_expiration_ms.map(format_date),
            sync_retries_remaining: m.sync_retries_remaining,
            sync_status: m.sync_status.as_str(),
            last_sync: m.last_sync_ms.map(format_date),
            last_error: m.last_error,
            repository_filters: m.repository_filters,
            external_registry_config: OrgRegistryConfig {
                verify_tls: Some(m.connection.verify_tls),
                proxy: Some(OrgProxyConfig {
                    http_proxy: m.connection.proxy.http_proxy,
                    https_proxy: m.connection.proxy.https_proxy,
                    no_proxy: m.connection.proxy.no_proxy,
                }),
            },
            skopeo_timeout: m.timeout_s,
            architecture_filter: m.architecture_filter,
        }
    }
}

/// A repository the mirror discovered.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OrgMirrorRepositoryView {
    /// Its name within the namespace (upstream and here).
    repository_name: String,
    /// `NEVER_RUN`, `SYNC_NOW`, `SYNCING`, `SUCCESS`, `FAIL`, `CANCEL`, or
    /// `SKIP` (not mirrored: `skip_reason` says why).
    sync_status: &'static str,
    /// Why it is skipped.
    skip_reason: Option<String>,
    /// When the discovery last saw it.
    discovered: String,
    /// When its last sync ended.
    last_sync: Option<String>,
    /// Why its last sync failed.
    last_error: Option<String>,
}

impl From<OrgMirrorRepository> for OrgMirrorRepositoryView {
    fn from(r: OrgMirrorRepository) -> Self {
        OrgMirrorRepositoryView {
            repository_name: r.name,
            sync_status: r.status.as_str(),
            skip_reason: r.skip_reason,
            discovered: format_date(r.discovered_ms),
            last_sync: r.last_sync_ms.map(format_date),
            last_error: r.last_error,
        }
    }
}

/// The discovered repositories.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OrgMirrorRepositoriesView {
    /// By name.
    repositories: Vec<OrgMirrorRepositoryView>,
}

/// The outcome of `verify`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct VerifyView {
    /// Always true (a failure is a 400 saying why).
    success: bool,
    /// What was found.
    message: String,
}

/// The mirror configuration of an organization (its administrators may see it).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/mirror",
    operation_id = "getOrgMirrorConfig",
    tag = "mirror",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "The configuration", body = OrgMirrorView), (status = 403, description = "Not an administrator"), (status = 404, description = "No such organization or no mirror")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_org_mirror(api: Api, Path(orgname): Path<String>) -> Result<Json<OrgMirrorView>, ApiError> {
    let ns = organization_path(&orgname)?;
    Ok(Json(api.registry.org_mirror(&api.caller, &ns).await?.into()))
}

/// Make an organization a mirror of an upstream namespace.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/mirror",
    operation_id = "createOrgMirrorConfig",
    tag = "mirror",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = OrgMirrorConfig,
    responses((status = 201, description = "Created", body = OrgMirrorView), (status = 400, description = "A missing or invalid field, an upstream the outbound guard refuses, or a proxy-cache organization"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such organization"), (status = 409, description = "The organization has a mirror already")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_org_mirror(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<OrgMirrorConfig>,
) -> Result<(StatusCode, Json<OrgMirrorView>), ApiError> {
    let ns = organization_path(&orgname)?;
    let input = body.into_input()?;
    let mirror = api.registry.create_org_mirror(&api.caller, &ns, input).await?;
    Ok((StatusCode::CREATED, Json(mirror.into())))
}

/// Change the fields of an organization's mirror that the body sets.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/mirror",
    operation_id = "changeOrgMirrorConfig",
    tag = "mirror",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = OrgMirrorConfig,
    responses((status = 200, description = "Changed", body = OrgMirrorView), (status = 400, description = "An invalid field"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such organization or no mirror")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn change_org_mirror(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<OrgMirrorConfig>,
) -> Result<Json<OrgMirrorView>, ApiError> {
    let ns = organization_path(&orgname)?;
    let input = body.into_input()?;
    Ok(Json(
        api.registry
            .change_org_mirror(&api.caller, &ns, input)
            .await?
            .into(),
    ))
}

/// Remove an organization's mirror; its repositories keep their content
/// and become ordinary repositories.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/mirror",
    operation_id = "deleteOrgMirrorConfig",
    tag = "mirror",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such organization or no mirror")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_org_mirror(api: Api, Path(orgname): Path<String>) -> Result<StatusCode, ApiError> {
    let ns = organization_path(&orgname)?;
    api.registry.delete_org_mirror(&api.caller, &ns).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Discover and sync an organization's mirror now.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/mirror/sync-now",
    operation_id = "orgMirrorSyncNow",
    tag = "mirror",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 204, description = "Requested"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such organization, no mirror, or a discovery is running")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn org_sync_now(api: Api, Path(orgname): Path<String>) -> Result<StatusCode, ApiError> {
    let ns = organization_path(&orgname)?;
    api.registry.org_mirror_sync_now(&api.caller, &ns).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel a running or requested discovery and its repositories' syncs.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/mirror/sync-cancel",
    operation_id = "orgMirrorSyncCancel",
    tag = "mirror",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 204, description = "Cancelled"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such organization, no mirror, or nothing to cancel")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn org_sync_cancel(api: Api, Path(orgname): Path<String>) -> Result<StatusCode, ApiError> {
    let ns = organization_path(&orgname)?;
    api.registry.org_mirror_sync_cancel(&api.caller, &ns).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Check that the upstream answers and accepts the credentials (lists the
/// upstream namespace).
#[utoipa::path(
    post,
    path = "/organization/{orgname}/mirror/verify",
    operation_id = "orgMirrorVerify",
    tag = "mirror",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "The upstream answered", body = VerifyView), (status = 400, description = "The upstream cannot be used: the message says why"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such organization or no mirror")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn org_verify(api: Api, Path(orgname): Path<String>) -> Result<Json<VerifyView>, ApiError> {
    let ns = organization_path(&orgname)?;
    let found = api.registry.verify_org_mirror(&api.caller, &ns).await?;
    Ok(Json(VerifyView {
        success: true,
        message: format!("the upstream namespace holds {found} repositories"),
    }))
}

/// The repositories an organization's mirror discovered, with their status.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/mirror/repositories",
    operation_id = "listOrgMirrorRepositories",
    tag = "mirror",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "The repositories", body = OrgMirrorRepositoriesView), (status = 403, description = "Not an administrator"), (status = 404, description = "No such organization or no mirror")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn org_mirror_repositories(
    api: Api,
    Path(orgname): Path<String>,
) -> Result<Json<OrgMirrorRepositoriesView>, ApiError> {
    let ns = organization_path(&orgname)?;
    let repos = api.registry.org_mirror_repositories(&api.caller, &ns).await?;
    Ok(Json(OrgMirrorRepositoriesView {
        repositories: repos.into_iter().map(Into::into).collect(),
    }))
}
