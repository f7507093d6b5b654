//! App-specific tokens of the calling user: `/api/v1/user/apptoken[/{uuid}]`.
//! The token itself (`token_code`) is in the creating answer only; it is
//! stored hashed. Clients log in with user name `$app` and the token.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use berth_core::identity::{Action, Actor};
use berth_store::metadata::TokenRow;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody, format_date};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_app_tokens, create_app_token))
        .routes(routes!(get_app_token, revoke_app_token))
}

/// Quay's token view, without the secret.
fn token_view(t: &TokenRow) -> Value {
    json!({
        "uuid": t.uuid,
        "title": t.title,
        "last_accessed": t.last_accessed_ms.map(format_date),
        "created": format_date(t.created_ms),
        "expiration": t.expires_ms.map(format_date),
    })
}

/// The calling user's account id, once the policy allowed the action.
async fn caller(api: &Api) -> Result<i64, ApiError> {
    api.authorize(Action::AdministerUser).await?;
    match &api.principal.actor {
        Actor::User(u) => Ok(u.id),
        _ => Err(ApiError::forbidden("Unauthorized")),
    }
}

/// Query of the token list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only tokens that expire (none do unless an expiry was configured).
    expiring: Option<bool>,
}

/// The calling user's app tokens (without their secrets).
#[utoipa::path(
    get,
    path = "/user/apptoken",
    operation_id = "listAppTokens",
    tag = "appspecifictokens",
    params(ListQuery),
    responses((status = 200, description = "`{tokens: [...], only_expiring}`")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_app_tokens(
    api: Api,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let account = caller(&api).await?;
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let expiring = query.expiring.unwrap_or(false);
    let tokens: Vec<Value> = api
        .identity
        .app_tokens(account)
        .await?
        .iter()
        .filter(|t| !expiring || t.expires_ms.is_some())
        .map(token_view)
        .collect();
    Ok(Json(json!({ "tokens": tokens, "only_expiring": query.expiring })))
}

/// A new app token.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewAppToken {
    /// What the token is for.
    title: String,
}

/// Create an app token; `token_code` is shown only in this answer.
#[utoipa::path(
    post,
    path = "/user/apptoken",
    operation_id = "createAppToken",
    tag = "appspecifictokens",
    request_body = NewAppToken,
    responses((status = 200, description = "`{token: {uuid, title, last_accessed, created, expiration, token_code}}`"), (status = 400, description = "Missing title")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn create_app_token(api: Api, JsonBody(body): JsonBody<NewAppToken>) -> Result<Json<Value>, ApiError> {
    caller(&api).await?;
    let made = api
        .identity
        .create_app_token(&api.principal, &body.title, Some(api.ip))
        .await?;
    let mut view = token_view(&made.row);
    view["token_code"] = json!(made.token_code);
    Ok(Json(json!({ "token": view })))
}

/// One app token of the calling user (without its secret).
#[utoipa::path(
    get,
    path = "/user/apptoken/{token_uuid}",
    operation_id = "getAppToken",
    tag = "appspecifictokens",
    params(("token_uuid" = String, Path, description = "The token's uuid")),
    responses((status = 200, description = "`{token: {...}}`"), (status = 404, description = "No such token")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_app_token(api: Api, Path(uuid): Path<String>) -> Result<Json<Value>, ApiError> {
    let account = caller(&api).await?;
    let token = api.identity.app_token(account, &uuid).await?;
    Ok(Json(json!({ "token": token_view(&token) })))
}

/// Revoke one of the calling user's app tokens.
#[utoipa::path(
    delete,
    path = "/user/apptoken/{token_uuid}",
    operation_id = "revokeAppToken",
    tag = "appspecifictokens",
    params(("token_uuid" = String, Path, description = "The token's uuid")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such token")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn revoke_app_token(api: Api, Path(uuid): Path<String>) -> Result<StatusCode, ApiError> {
    caller(&api).await?;
    api.identity
        .revoke_app_token(&api.principal, &uuid, Some(api.ip))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
