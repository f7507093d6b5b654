//! `GET /v2/auth`: the Docker token endpoint. Takes optional Basic
//! credentials (user password, robot token, `$app` app token,
//! `$oauthtoken` OAuth token) and repeated `scope` parameters, and answers
//! with a signed registry token holding what the policy grants.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use berth_core::identity::Principal;
use berth_core::identity::tokens::parse_scope;

use crate::AppState;
use crate::access::refusal;
use crate::auth::{Presented, presented};
use crate::distribution::ApiError;

/// `GET /v2/auth`.
pub(crate) async fn issue(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match respond(&state, peer, &headers, &uri).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn respond(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let realm = state.realm(headers, uri);
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let service = query
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| realm.service.clone());
    let mut scopes = Vec::new();
    for (_, scope) in query.iter().filter(|(k, _)| k == "scope") {
        // Some clients send several scopes in one parameter, space-separated.
        for one in scope.split(' ').filter(|s| !s.is_empty()) {
            if let Some(s) = parse_scope(one, &realm.service).map_err(ApiError::InvalidRequest)? {
                scopes.push(s);
            }
        }
    }
    let ip = peer.ip();
    let principal = match presented(headers).map_err(|e| refusal(e, &realm, None))? {
        Presented::Basic(user, secret) => state
            .identity
            .login_for_registry_token(&user, &secret, Some(ip))
            .await
            .map_err(|e| refusal(e, &realm, None))?,
        Presented::Bearer(_) => {
            return Err(ApiError::Unauthorized {
                message: "use Basic credentials to obtain a token".into(),
                challenge: realm.challenge(None, None),
            });
        }
        Presented::Nothing if scopes.is_empty() => {
            return Err(ApiError::Unauthorized {
                message: "authentication required".into(),
                challenge: realm.challenge(None, None),
            });
        }
        Presented::Nothing => Principal::anonymous(),
    };
    let (token, claims) = state
        .identity
        .issue_registry_token(&principal, &service, &scopes, Some(ip))
        .await
        .map_err(ApiError::Identity)?;
    let issued_at = chrono::DateTime::from_timestamp(claims.iat, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": claims.exp - claims.iat,
        "issued_at": issued_at,
    });
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
