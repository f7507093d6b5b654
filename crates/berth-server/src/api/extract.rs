//! What every `/api/v1` handler extracts: the services and the caller
//! (Basic credentials or an OAuth Bearer token), and JSON bodies whose
//! rejections are Quay-style errors.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use berth_core::{Caller, Identity, Registry};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::AppState;

/// The services and the authenticated caller of one API request.
pub(crate) struct Api {
    /// Identity and access.
    pub identity: Identity,
    /// The registry.
    pub registry: Registry,
    /// Who is calling and from where, as core operations take it: they
    /// authorize it themselves.
    pub caller: Caller,
}

impl FromRequestParts<AppState> for Api {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let principal = crate::auth::api_caller(&state.identity, &parts.headers, ip).await?;
        Ok(Api {
            identity: state.identity.clone(),
            registry: state.registry.clone(),
            caller: Caller::new(principal, Some(ip)),
        })
    }
}

/// A JSON request body; malformed bodies are 400 `invalid_request`, and
/// so are unknown fields (request structs use `deny_unknown_fields`),
/// with serde's message naming the field.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::invalid(e.body_text())),
        }
    }
}

/// Query parameters; malformed ones are 400 `invalid_request`.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError::invalid(e.body_text())),
        }
    }
}

/// A boolean query parameter as Quay reads one: `true`/`false`, `1`/`0`,
/// `yes`/`no` (any case).
pub(crate) fn truthy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(Some(true)),
        "false" | "0" | "no" | "off" | "" => Ok(Some(false)),
        _ => Err(serde::de::Error::custom(format!("{text:?} is not a boolean"))),
    }
}

/// A JSON field that may be absent (`None`), `null` (`Some(None)`) or set;
/// use with `#[serde(default, deserialize_with = "present")]`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Quay's date format (RFC 2822), e.g. `Tue, 21 May 2024 20:41:09 -0000`.
pub(crate) fn format_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S -0000").to_string())
        .unwrap_or_default()
}

/// Quay's answer to some changes: a JSON string, `"Created"` or
/// `"Updated"`.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub(crate) enum Done {
    /// Something was created.
    Created,
    /// Something was changed.
    Updated,
}

/// The avatar object Quay attaches to accounts, teams and applications.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Avatar {
    /// The name the avatar is drawn for.
    pub name: String,
    /// SHA-256 of the name, hex.
    pub hash: String,
    /// A color derived from the hash (`#rrggbb`).
    pub color: String,
    /// `user`, `org`, `robot`, `team` or `app`.
    pub kind: String,
}

/// The avatar of `name`, of `kind`.
pub(crate) fn avatar(name: &str, kind: &str) -> Avatar {
    let hash = hex::encode(berth_core::crypto::sha256(&[name.as_bytes()]));
    Avatar {
        name: name.to_owned(),
        color: format!("#{}", &hash[..6]),
        hash,
        kind: kind.to_owned(),
    }
}
