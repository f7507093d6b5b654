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
use berth_core::identity::Action;
use berth_store::metadata::{AccountRow, OAuthAppFields, OAuthAppRow, TokenRow};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody, avatar};
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

/// Authorize the caller as an administrator of `orgname` and find it.
async fn org(api: &Api, orgname: &str) -> Result<AccountRow, ApiError> {
    api.authorize(Action::AdministerNamespace(orgname)).await?;
    Ok(api.identity.organization(orgname).await?)
}

/// Quay's application view; `client_secret` only right after it was made.
fn app_view(app: &OAuthAppRow, client_secret: Option<&str>) -> Value {
    let mut view = json!({
        "name": app.name,
        "description": app.description,
        "application_uri": app.application_uri,
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "avatar_email": app.avatar_email,
    });
    if let Some(secret) = client_secret {
        view["client_secret"] = json!(secret);
    }
    view
}

/// ISO 8601 time, as Quay's token views show it.
fn iso(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// An access token as Quay shows it, without its secret.
fn token_view(t: &TokenRow, created_by: Option<&str>) -> Value {
    json!({
        "uuid": t.uuid,
        "scope": t.scopes,
        "expires_at": t.expires_ms.and_then(iso),
        "created": iso(t.created_ms),
        "created_by": created_by,
        "last_accessed": t.last_accessed_ms.and_then(iso),
    })
}

/// A new application.
#[derive(Debug, Deserialize, ToSchema)]
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
    responses((status = 200, description = "`{applications: [...]}`, without client secrets")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_applications(
    api: Api,
    Path(orgname): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = org(&api, &orgname).await?;
    let apps: Vec<Value> = api
        .identity
        .applications(&org)
        .await?
        .iter()
        .map(|a| app_view(a, None))
        .collect();
    Ok(Json(json!({ "applications": apps })))
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
    responses((status = 200, description = "The application, with `client_secret`"), (status = 400, description = "Invalid")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_organization_application(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<NewApplication>,
) -> Result<Json<Value>, ApiError> {
    let org = org(&api, &orgname).await?;
    let fields = OAuthAppFields {
        name: body.name,
        description: body.description.unwrap_or_default(),
        application_uri: body.application_uri.unwrap_or_default(),
        redirect_uri: body.redirect_uri.unwrap_or_default(),
        avatar_email: body.avatar_email.filter(|e| !e.is_empty()),
    };
    let made = api
        .identity
        .create_application(&api.principal, &org, &fields, Some(api.ip))
        .await?;
    Ok(Json(app_view(&made.app, Some(&made.client_secret))))
}

/// One application (without its client secret).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/applications/{client_id}",
    operation_id = "getOrganizationApplication",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path)),
    responses((status = 200, description = "The application"), (status = 404, description = "No such application")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_application(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = org(&api, &orgname).await?;
    let app = api.identity.application(&org, &client_id).await?;
    Ok(Json(app_view(&app, None)))
}

/// Change an application.
#[utoipa::path(
    put,
    path = "/organization/{orgname}/applications/{client_id}",
    operation_id = "updateOrganizationApplication",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path)),
    request_body = UpdateApplication,
    responses((status = 200, description = "The application"), (status = 400, description = "Invalid")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn update_organization_application(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<UpdateApplication>,
) -> Result<Json<Value>, ApiError> {
    let org = org(&api, &orgname).await?;
    let fields = OAuthAppFields {
        name: body.name,
        description: body.description.unwrap_or_default(),
        application_uri: body.application_uri,
        redirect_uri: body.redirect_uri,
        avatar_email: body.avatar_email.filter(|e| !e.is_empty()),
    };
    let app = api
        .identity
        .update_application(&api.principal, &org, &client_id, &fields, Some(api.ip))
        .await?;
    Ok(Json(app_view(&app, None)))
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
    let org = org(&api, &orgname).await?;
    api.identity
        .delete_application(&api.principal, &org, &client_id, Some(api.ip))
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
    responses((status = 200, description = "The application, with its new `client_secret`")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn reset_organization_application_client_secret(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = org(&api, &orgname).await?;
    let made = api
        .identity
        .reset_client_secret(&api.principal, &org, &client_id, Some(api.ip))
        .await?;
    Ok(Json(app_view(&made.app, Some(&made.client_secret))))
}

/// The access tokens of an application (without their secrets).
#[utoipa::path(
    get,
    path = "/organization/{orgname}/applications/{client_id}/tokens",
    operation_id = "listOrganizationApplicationTokens",
    tag = "organization",
    params(("orgname" = String, Path), ("client_id" = String, Path)),
    responses((status = 200, description = "`{tokens: [{uuid, scope, expires_at, created, created_by, last_accessed}]}`")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_application_tokens(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = org(&api, &orgname).await?;
    let app = api.identity.application(&org, &client_id).await?;
    let mut out = Vec::new();
    for t in api.identity.application_tokens(&app).await? {
        let user = api.identity.account_name(t.account_id).await?;
        out.push(token_view(&t, user.as_deref()));
    }
    Ok(Json(json!({ "tokens": out })))
}

/// A new access token.
#[derive(Debug, Deserialize, ToSchema)]
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
        (status = 200, description = "The token view with the secret as `token` and `access_token`, `token_type`, `expires_in`"),
        (status = 400, description = "Unknown scope"),
        (status = 403, description = "A scope the caller may not grant")
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn create_organization_application_token(
    api: Api,
    Path((orgname, client_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<Json<Value>, ApiError> {
    let org = org(&api, &orgname).await?;
    let made = api
        .identity
        .create_application_token(
            &api.principal,
            &org,
            &client_id,
            &body.scope,
            body.expires_in,
            Some(api.ip),
        )
        .await?;
    let mut view = token_view(&made.row, api.principal.name());
    view["token"] = json!(made.access_token);
    view["access_token"] = json!(made.access_token);
    view["token_type"] = json!("Bearer");
    view["expires_in"] = json!(made.expires_in);
    Ok(Json(view))
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
    let org = org(&api, &orgname).await?;
    api.identity
        .revoke_application_token(&api.principal, &org, &client_id, &uuid, Some(api.ip))
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
    responses((status = 200, description = "`{name, description, uri, avatar, organization}`"), (status = 404, description = "No such application")),
)]
async fn get_application_information(
    api: Api,
    Path(client_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (app, org) = api.identity.application_with_owner(&client_id).await?;
    Ok(Json(json!({
        "name": app.name,
        "description": app.description,
        "uri": app.application_uri,
        "avatar": avatar(&app.name, "app"),
        "organization": { "name": org.name, "avatar": avatar(&org.name, "org") },
    })))
}
