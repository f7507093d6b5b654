//! Repository mirroring, Quay's API: `GET|POST|PUT
//! /api/v1/repository/{namespace}/{repository}/mirror`, `POST
//! .../mirror/sync-now` and `.../mirror/sync-cancel`. Upstream
//! credentials are accepted, never returned.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::registry::{Mirror, MirrorInput, MirrorProxy, RegistryConnection};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody, present};
use super::repositories::repo_path;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_mirror, create_mirror, change_mirror))
        .routes(routes!(sync_now))
        .routes(routes!(sync_cancel))
}

/// Quay's date format of mirror schedules.
const DATE: &str = "%Y-%m-%dT%H:%M:%SZ";

pub(super) fn parse_date(s: &str) -> Result<i64, ApiError> {
    chrono::NaiveDateTime::parse_from_str(s, DATE)
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|_| {
            ApiError::invalid(format!(
                "sync_start_date {s:?} is not of the form 2024-01-31T12:00:00Z"
            ))
        })
}

pub(super) fn format_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format(DATE).to_string())
        .unwrap_or_default()
}

/// Which tags are mirrored.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RootRule {
    /// Always `tag_glob_csv`.
    rule_kind: String,
    /// Shell globs (`*`, `?`, `[seq]`); a tag matching any is mirrored.
    rule_value: Vec<String>,
}

/// Proxies for the upstream.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ProxyConfig {
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
pub(super) struct ExternalRegistryConfig {
    /// Verify the upstream's certificate (default true); false also
    /// allows plain HTTP.
    #[serde(default)]
    verify_tls: Option<bool>,
    /// Accepted for Quay compatibility.
    #[serde(default)]
    unsigned_images: Option<bool>,
    /// Proxies.
    #[serde(default)]
    proxy: Option<ProxyConfig>,
}

/// A mirror configuration, or the fields of one to change (Quay's body).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MirrorConfig {
    /// Whether the mirror syncs (default true).
    #[serde(default)]
    is_enabled: Option<bool>,
    /// The upstream repository, `host[:port]/path` (no tag).
    #[serde(default)]
    external_reference: Option<String>,
    /// The upstream user (stored encrypted, never returned).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    external_registry_username: Option<Option<String>>,
    /// The upstream password (stored encrypted, never returned).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    external_registry_password: Option<Option<String>>,
    /// Seconds between syncs.
    #[serde(default)]
    #[schema(minimum = 0)]
    sync_interval: Option<u64>,
    /// The first sync, `YYYY-MM-DDTHH:MM:SSZ` (UTC).
    #[serde(default)]
    sync_start_date: Option<String>,
    /// The robot of the namespace that writes the mirror.
    #[serde(default)]
    robot_username: Option<String>,
    /// Which tags are mirrored.
    #[serde(default)]
    root_rule: Option<RootRule>,
    /// How the upstream is reached.
    #[serde(default)]
    external_registry_config: Option<ExternalRegistryConfig>,
    /// Bound on one upstream operation, seconds (at least 300).
    #[serde(default)]
    #[schema(minimum = 0)]
    skopeo_timeout_interval: Option<u64>,
    /// Architectures kept from indexes (`amd64`, `arm64`, `ppc64le`, `s390x`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    architecture_filter: Option<Option<Vec<String>>>,
}

impl MirrorConfig {
    fn into_input(self) -> Result<MirrorInput, ApiError> {
        let tag_globs = match self.root_rule {
            Some(rule) if rule.rule_kind != "tag_glob_csv" => {
                return Err(ApiError::invalid("root_rule.rule_kind must be tag_glob_csv"));
            }
            Some(rule) => Some(rule.rule_value),
            None => None,
        };
        let connection = self.external_registry_config.map(|c| {
            let proxy = c.proxy.unwrap_or_default();
            RegistryConnection {
                verify_tls: c.verify_tls.unwrap_or(true),
                unsigned_images: c.unsigned_images.unwrap_or(false),
                proxy: MirrorProxy {
                    http_proxy: proxy.http_proxy,
                    https_proxy: proxy.https_proxy,
                    no_proxy: proxy.no_proxy,
                },
            }
        });
        Ok(MirrorInput {
            is_enabled: self.is_enabled,
            external_reference: self.external_reference,
            username: self.external_registry_username,
            password: self.external_registry_password,
            sync_interval_s: self.sync_interval,
            sync_start_ms: self.sync_start_date.as_deref().map(parse_date).transpose()?,
            robot_username: self.robot_username,
            tag_globs,
            connection,
            timeout_s: self.skopeo_timeout_interval,
            architecture_filter: self.architecture_filter,
        })
    }
}

/// A mirror configuration and its status (Quay's view; credentials are
/// never shown).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MirrorView {
    /// Whether the mirror syncs.
    is_enabled: bool,
    /// Always `PULL`.
    mirror_type: &'static str,
    /// The upstream repository.
    external_reference: String,
    /// Never returned (always null).
    external_registry_username: Option<String>,
    /// Whether upstream credentials are stored.
    has_credentials: bool,
    /// How the upstream is reached.
    external_registry_config: ExternalRegistryConfig,
    /// Seconds between syncs.
    sync_interval: i64,
    /// The next sync (`YYYY-MM-DDTHH:MM:SSZ`), if scheduled.
    sync_start_date: Option<String>,
    /// When a running sync's claim lapses.
    sync_expiration_date: Option<String>,
    /// Failed syncs retried before waiting a whole interval.
    sync_retries_remaining: i64,
    /// `NEVER_RUN`, `SYNC_NOW`, `SYNCING`, `SUCCESS`, `FAIL` or `CANCEL`.
    sync_status: &'static str,
    /// When the last sync ended.
    last_sync: Option<String>,
    /// Why the last sync failed.
    last_error: Option<String>,
    /// Which tags are mirrored.
    root_rule: RootRule,
    /// The robot that writes the mirror.
    robot_username: String,
    /// Bound on one upstream operation, seconds.
    skopeo_timeout_interval: i64,
    /// Architectures kept from indexes.
    architecture_filter: Option<Vec<String>>,
}

impl From<Mirror> for MirrorView {
    fn from(m: Mirror) -> Self {
        MirrorView {
            is_enabled: m.is_enabled,
            mirror_type: "PULL",
            external_reference: m.external_reference,
            external_registry_username: None,
            has_credentials: m.has_credentials,
            external_registry_config: ExternalRegistryConfig {
                verify_tls: Some(m.connection.verify_tls),
                unsigned_images: Some(m.connection.unsigned_images),
                proxy: Some(ProxyConfig {
                    http_proxy: m.connection.proxy.http_proxy,
                    https_proxy: m.connection.proxy.https_proxy,
                    no_proxy: m.connection.proxy.no_proxy,
                }),
            },
            sync_interval: m.sync_interval_s,
            sync_start_date: m.sync_start_ms.map(format_date),
            sync_expiration_date: m.sync_expiration_ms.map(format_date),
            sync_retries_remaining: m.sync_retries_remaining,
            sync_status: m.sync_status.as_str(),
            last_sync: m.last_sync_ms.map(format_date),
            last_error: m.last_error,
            root_rule: RootRule {
                rule_kind: "tag_glob_csv".into(),
                rule_value: m.tag_globs,
            },
            robot_username: m.robot_username,
            skopeo_timeout_interval: m.timeout_s,
            architecture_filter: m.architecture_filter,
        }
    }
}

/// The mirror configuration of a repository (its administrators may see it).
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/mirror",
    operation_id = "getRepoMirrorConfig",
    tag = "mirror",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses((status = 200, description = "The configuration", body = MirrorView), (status = 403, description = "Not an administrator"), (status = 404, description = "No such repository or no mirror")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_mirror(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<Json<MirrorView>, ApiError> {
    let name = repo_path(&namespace, &repository)?;
    Ok(Json(api.registry.mirror(&api.caller, &name).await?.into()))
}

/// Make a repository a mirror: it goes to `MIRROR` state, and the robot
/// gets `write` on it.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/mirror",
    operation_id = "createRepoMirrorConfig",
    tag = "mirror",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    request_body = MirrorConfig,
    responses((status = 201, description = "Created", body = MirrorView), (status = 400, description = "A missing or invalid field, or an upstream the outbound guard refuses"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such repository"), (status = 409, description = "The repository has a mirror already")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn create_mirror(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<MirrorConfig>,
) -> Result<(StatusCode, Json<MirrorView>), ApiError> {
    let name = repo_path(&namespace, &repository)?;
    let input = body.into_input()?;
    let mirror = api.registry.create_mirror(&api.caller, &name, input).await?;
    Ok((StatusCode::CREATED, Json(mirror.into())))
}

/// Change the fields of a repository's mirror that the body sets.
#[utoipa::path(
    put,
    path = "/repository/{namespace}/{repository}/mirror",
    operation_id = "changeRepoMirrorConfig",
    tag = "mirror",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    request_body = MirrorConfig,
    responses((status = 201, description = "Changed", body = MirrorView), (status = 400, description = "An invalid field"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such repository or no mirror")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn change_mirror(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    JsonBody(body): JsonBody<MirrorConfig>,
) -> Result<(StatusCode, Json<MirrorView>), ApiError> {
    let name = repo_path(&namespace, &repository)?;
    let input = body.into_input()?;
    let mirror = api.registry.change_mirror(&api.caller, &name, input).await?;
    Ok((StatusCode::CREATED, Json(mirror.into())))
}

/// Sync a repository's mirror now.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/mirror/sync-now",
    operation_id = "syncNow",
    tag = "mirror",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses((status = 204, description = "Requested"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such repository, no mirror, or a sync is running")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn sync_now(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = repo_path(&namespace, &repository)?;
    api.registry.mirror_sync_now(&api.caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel a running or requested sync of a repository's mirror.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/mirror/sync-cancel",
    operation_id = "syncCancel",
    tag = "mirror",
    params(("namespace" = String, Path), ("repository" = String, Path)),
    responses((status = 204, description = "Cancelled"), (status = 403, description = "Not an administrator"), (status = 404, description = "No such repository, no mirror, or nothing to cancel")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn sync_cancel(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = repo_path(&namespace, &repository)?;
    api.registry.mirror_sync_cancel(&api.caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
