//! OAuth applications of organizations
//! (`/api/v1/organization/{orgname}/applications/...`), their access
//! tokens, and the public `GET /api/v1/app/{client_id}`.
//!
//! Client secrets and access tokens are stored hashed: a client secret is
//! in the answers of creation and `resetclientsecret` only, an access token
//! in the answer that made it only.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::Namespace;
use berth_core::identity::applications::{ApplicationFields, OAuthApplication, OAuthToken};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, Avatar, JsonBody, avatar};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_organization_applications,
            create_organization_application
        ))
        .routes(routes!(
            get_organization_application,
            update_organization_application,
            delete_organization_application
        ))
        .routes(routes!(reset_organization_application_client_secret))
        .routes(routes!(
            get_organization_application_tokens,
            create_organization_application_token
        ))
        .routes(routes!(delete_organization_application_token))
        .routes(routes!(get_application_information))
}

/// An organization named by the path; an invalid name names none (404).
fn org_name(orgname: String) -> Result<Namespace, ApiError> {
    Namespace::new(orgname).map_err(|e| ApiError::not_found(e.to_string()))
}

/// Quay's application view; `client_secret` only right after it was made.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ApplicationView {
    /// Display name.
    name: String,
    /// Free text.
    description: String,
    /// Home page.
    application_uri: String,
    /// Public client id.
    client_id: String,
    /// Where the OAuth flow returns to.
    redirect_uri: String,
    /// Address whose avatar the application shows.
    avatar_email: Option<String>,
    /// The client secret, only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl ApplicationView {
    fn new(app: OAuthApplication, client_secret: Option<String>) -> ApplicationView {
        ApplicationView {
            name: app.name,
            description: app.description,
            application_uri: app.application_uri,
            client_id: app.client_id,
            redirect_uri: app.redirect_uri,
            avatar_email: app.avatar_email,
            client_secret,
        }
    }
}

/// The applications of an organization.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ApplicationListView {
    /// By name, without client secrets.
    applications: Vec<ApplicationView>,
}

/// ISO 8601 time, as Quay's token views show it.
fn iso(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// An access token as Quay shows it, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ApplicationTokenView {
    /// Public identifier.
    uuid: String,
    /// Scopes, space-separated.
    scope: String,
    /// When it expires.
    expires_at: Option<String>,
    /// When it was made.
    created: Option<String>,
    /// The user it acts for.
    created_by: Option<String>,
    /// When it was last used, if ever.
    last_accessed: Option<String>,
}

impl From<OAuthToken> for ApplicationTokenView {
    fn from(t: OAuthToken) -> ApplicationTokenView {
        ApplicationTokenView {
            uuid: t.uuid,
            scope: t.scope,
            expires_at: t.expires_ms.and_then(iso),
            created: iso(t.created_ms),
            created_by: t.created_by,
            last_accessed: t.last_accessed_ms.and_then(iso),
        }
    }
}

/// The access tokens of an application.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ApplicationTokenListView {
    /// Newest first, without their secrets.
    tokens: Vec<ApplicationTokenView>,
}

/// An access token that was just made: the token view with the secret,
/// shown only here, and the OAuth token response's fields.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NewApplicationTokenView {
    /// The token's view.
    #[serde(flatten)]
    view: ApplicationTokenView,
    /// The token.
    token: String,
    /// The token again, as OAuth names it.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Its lifetime in seconds.
    expires_in: u64,
}

/// An organization as the public application view shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ApplicationOrganizationView {
    /// The organization's name.
    name: String,
    /// Its avatar.
    avatar: Avatar,
}

/// Public information about an application.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ApplicationInformationView {
    /// Display name.
    name: String,
    /// Free text.
    description: String,
    /// Home page.
    uri: String,
    /// The application's avatar.
    avatar: Avatar,
    /// The organization owning it.
    organization: ApplicationOrganizationView,
}

/// A new application.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewApplication {
    /// Display name.
    name: String,
    /// Where the OAuth flow returns to.
    redirect_uri: Option<String>,
    /// The application's home page.
    application_uri: Option<String>,
    /// Free text.
    description: Option<String>,
    /// Address whose avatar the application shows.
    avatar_email: Option<String>,
}

/// New values of an application (Quay requires the first three).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateApplication {
    /// Display name.
    name: String,
    /// Where the OAuth flow returns to.
    redirect_uri: String,
    /// The application's home page.
    application_uri: String,
    /// Free text (cleared if absent, as in Quay).
    description: Option<String>,
    /// Address whose avatar the application shows (cleared if absent).
    avatar_email: Option<String>,
}

/// The applications of an organization.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/applications",
    operation_id = "getOrganizationApplications",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "The applications, without client secrets", body = ApplicationListView)),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_applications(
    api: Api,
    Path(orgname): Path<String>,
) -> Result<Json<ApplicationListView>, ApiError> {
    let org = org_name(orgname)?;
    let apps = api.identity.applications(&api.caller, &org).await?;
    Ok(Json(ApplicationListView {
        applications: apps.into_iter().map(|a| ApplicationView::new(a, None)).collect(),
    }))
}

/// Register an application; the answer holds its client secret, shown
/// only this once.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/applications",
    operation_id = "createOrganizationApplication",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = NewApplication,
    responses((status = 200, description = "The application, with `client_secret`", body = ApplicationView), (status = 400, description = "Invalid")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_organization_application(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<NewApplication>,
) -> Result<Json<ApplicationView>, ApiError> {
    let org = org_name(orgname)?;
    let fields = ApplicationFields {
        name: body.name,
        description: body.description.unwrap_or_default(),
        application_uri: body.application_uri.unwrap_or_default(),
        redirect_uri: body.redirect_uri.unwrap_or_default(),
        avatar_email: body.avatar_email.filter(|e| !e.is_empty()),
    };
    let made = api
        .identity
        .create_application(&api.caller, &org, &fields)
        .await?;
    Ok(Json(ApplicationView::new(made.app, Some(made.client_secret))))
}

/// One application (without its client secret).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/applications/{client_id}",
    operation_id = "getOrganizationApplication",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path)),
    responses((status = 200, description = "The application", body = ApplicationView), (status = 404, description = "No such application")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_application(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
) -> Result<Json<ApplicationView>, ApiError> {
    let org = org_name(orgname)?;
    let app = api.identity.application(&api.caller, &org, &client_id).await?;
    Ok(Json(ApplicationView::new(app, None)))
}

/// Change an application.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/applications/{client_id}",
    operation_id = "updateOrganizationApplication",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path)),
    request_body = UpdateApplication,
    responses((status = 200, description = "The application", body = ApplicationView), (status = 400, description = "Invalid")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn update_organization_application(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<UpdateApplication>,
) -> Result<Json<ApplicationView>, ApiError> {
    let org = org_name(orgname)?;
    let fields = ApplicationFields {
        name: body.name,
        description: body.description.unwrap_or_default(),
        application_uri: body.application_uri,
        redirect_uri: body.redirect_uri,
        avatar_email: body.avatar_email.filter(|e| !e.is_empty()),
    };
    let app = api
        .identity
        .update_application(&api.caller, &org, &client_id, &fields)
        .await?;
    Ok(Json(ApplicationView::new(app, None)))
}

/// Delete an application and revoke its tokens.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/applications/{client_id}",
    operation_id = "deleteOrganizationApplication",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such application")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_organization_application(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let org = org_name(orgname)?;
    api.identity
        .delete_application(&api.caller, &org, &client_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give an application a new client secret, shown only in this answer.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/applications/{client_id}/resetclientsecret",
    operation_id = "resetOrganizationApplicationClientSecret",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path)),
    responses((status = 200, description = "The application, with its new `client_secret`", body = ApplicationView)),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn reset_organization_application_client_secret(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
) -> Result<Json<ApplicationView>, ApiError> {
    let org = org_name(orgname)?;
    let made = api
        .identity
        .reset_client_secret(&api.caller, &org, &client_id)
        .await?;
    Ok(Json(ApplicationView::new(made.app, Some(made.client_secret))))
}

/// The access tokens of an application (without their secrets).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/applications/{client_id}/tokens",
    operation_id = "listOrganizationApplicationTokens",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path)),
    responses((status = 200, description = "The tokens", body = ApplicationTokenListView)),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_application_tokens(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
) -> Result<Json<ApplicationTokenListView>, ApiError> {
    let org = org_name(orgname)?;
    let tokens = api
        .identity
        .application_tokens(&api.caller, &org, &client_id)
        .await?;
    Ok(Json(ApplicationTokenListView {
        tokens: tokens.into_iter().map(ApplicationTokenView::from).collect(),
    }))
}

/// A new access token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    /// Scopes, space- or comma-separated (`repo:read repo:write ...`).
    scope: String,
    /// Lifetime in seconds (default and maximum: ten years); Quay's
    /// `expiration` is accepted too.
    #[serde(alias = "expiration")]
    expires_in: Option<u64>,
}

/// Make an access token of the application acting for the caller within
/// the given scopes; the token is shown only in this answer.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/applications/{client_id}/tokens",
    operation_id = "createOrganizationApplicationToken",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path)),
    request_body = NewToken,
    responses(
        (status = 200, description = "The token view with the secret as `token` and `access_token`, `token_type`, `expires_in`", body = NewApplicationTokenView),
        (status = 400, description = "Unknown scope"),
        (status = 403, description = "A scope the caller may not grant")
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_organization_application_token(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<Json<NewApplicationTokenView>, ApiError> {
    let org = org_name(orgname)?;
    let made = api
        .identity
        .create_application_token(&api.caller, &org, &client_id, &body.scope, body.expires_in)
        .await?;
    let view = ApplicationTokenView::from(made.token);
    Ok(Json(NewApplicationTokenView {
        view,
        token: made.access_token.clone(),
        access_token: made.access_token,
        token_type: "Bearer",
        expires_in: made.expires_in,
    }))
}

/// Revoke one access token of an application.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/applications/{client_id}/tokens/{token_uuid}",
    operation_id = "deleteOrganizationApplicationToken",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path), ("token_uuid" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such token")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_organization_application_token(
    api: Api,
    Path((orgname, client_id, uuid)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let org = org_name(orgname)?;
    api.identity
        .revoke_application_token(&api.caller, &org, &client_id, &uuid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Public information about an application.
#[utoipa::path(
    get,
    path = "/app/{client_id}",
    operation_id = "getApplicationInformation",
    tag = "organization",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "The application", body = ApplicationInformationView), (status = 404, description = "No such application")),
)]
async fn get_application_information(
    api: Api,
    Path(client_id): Path<String>,
) -> Result<Json<ApplicationInformationView>, ApiError> {
    let info = api.identity.application_information(&client_id).await?;
    let app = info.application;
    Ok(Json(ApplicationInformationView {
        avatar: avatar(&app.name, "app"),
        name: app.name,
        description: app.description,
        uri: app.application_uri,
        organization: ApplicationOrganizationView {
            avatar: avatar(&info.organization, "org"),
            name: info.organization,
        },
    }))
}
