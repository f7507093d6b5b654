//! App-specific tokens of the calling user: `/api/v1/user/apptoken[/{uuid}]`.
//! The token itself (`token_code`) is in the creating answer only; it is
//! stored hashed. Clients log in with user name `$app` and the token.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::app_tokens::AppToken;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, ApiQuery, JsonBody, format_date};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_app_tokens, create_app_token))
        .routes(routes!(get_app_token, revoke_app_token))
}

/// Quay's token view; `token_code` only right after it was made.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AppTokenView {
    /// Public identifier.
    uuid: String,
    /// What the token is for.
    title: String,
    /// When it was last used, if ever.
    last_accessed: Option<String>,
    /// When it was made.
    created: String,
    /// When it expires, if it does.
    expiration: Option<String>,
    /// The token, only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_code: Option<String>,
}

impl AppTokenView {
    fn new(t: AppToken, token_code: Option<String>) -> AppTokenView {
        AppTokenView {
            uuid: t.uuid,
            title: t.title,
            last_accessed: t.last_accessed_ms.map(format_date),
            created: format_date(t.created_ms),
            expiration: t.expires_ms.map(format_date),
            token_code,
        }
    }
}

/// One token.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AppTokenEnvelope {
    /// The token.
    token: AppTokenView,
}

/// The token list.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AppTokenListView {
    /// The tokens, newest first, without their secrets.
    tokens: Vec<AppTokenView>,
    /// The `expiring` query parameter as given.
    only_expiring: Option<bool>,
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
    responses((status = 200, description = "The tokens", body = AppTokenListView)),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_app_tokens(
    api: Api,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<AppTokenListView>, ApiError> {
    let tokens = api
        .identity
        .app_tokens(&api.caller, query.expiring.unwrap_or(false))
        .await?;
    Ok(Json(AppTokenListView {
        tokens: tokens.into_iter().map(|t| AppTokenView::new(t, None)).collect(),
        only_expiring: query.expiring,
    }))
}

/// A new app token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    responses((status = 200, description = "The token, with `token_code`", body = AppTokenEnvelope), (status = 400, description = "Missing title")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn create_app_token(
    api: Api,
    JsonBody(body): JsonBody<NewAppToken>,
) -> Result<Json<AppTokenEnvelope>, ApiError> {
    let made = api.identity.create_app_token(&api.caller, &body.title).await?;
    Ok(Json(AppTokenEnvelope {
        token: AppTokenView::new(made.token, Some(made.token_code)),
    }))
}

/// One app token of the calling user (without its secret).
#[utoipa::path(
    get,
    path = "/user/apptoken/{token_uuid}",
    operation_id = "getAppToken",
    tag = "appspecifictokens",
    params(("token_uuid" = String, Path, description = "The token's uuid")),
    responses((status = 200, description = "The token", body = AppTokenEnvelope), (status = 404, description = "No such token")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_app_token(api: Api, Path(uuid): Path<String>) -> Result<Json<AppTokenEnvelope>, ApiError> {
    let token = api.identity.app_token(&api.caller, &uuid).await?;
    Ok(Json(AppTokenEnvelope {
        token: AppTokenView::new(token, None),
    }))
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
    api.identity.revoke_app_token(&api.caller, &uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}
