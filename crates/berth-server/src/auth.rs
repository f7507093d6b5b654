//! Who is calling: credentials from the `Authorization` header, checked by
//! the identity service. `/v2` takes registry tokens (Bearer), Basic
//! credentials, or none; `/api/v1` takes OAuth tokens (Bearer) or Basic.

use std::net::IpAddr;

use axum::http::{HeaderMap, Uri, header};
use base64::Engine;
use berth_core::identity::{Claims, Principal};
use berth_core::{Identity, IdentityError};

/// The credentials a request carried.
pub(crate) enum Caller {
    /// None.
    Anonymous,
    /// Basic credentials (or, on `/api/v1`, an OAuth token), checked.
    Principal(Principal),
    /// A registry token, verified.
    Token(std::sync::Arc<Claims>),
}

/// What the `Authorization` header holds, before checking.
pub(crate) enum Presented {
    /// No header.
    Nothing,
    /// `Basic` user and secret.
    Basic(String, String),
    /// `Bearer` token.
    Bearer(String),
}

/// Read the `Authorization` header.
pub(crate) fn presented(headers: &HeaderMap) -> Result<Presented, IdentityError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Presented::Nothing);
    };
    let value = value
        .to_str()
        .map_err(|_| IdentityError::Unauthenticated("malformed Authorization header".into()))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| IdentityError::Unauthenticated("malformed Basic credentials".into()))?;
        let (user, secret) = decoded
            .split_once(':')
            .ok_or_else(|| IdentityError::Unauthenticated("malformed Basic credentials".into()))?;
        Ok(Presented::Basic(user.to_owned(), secret.to_owned()))
    } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Ok(Presented::Bearer(rest.to_owned()))
    } else {
        Err(IdentityError::Unauthenticated(
            "unsupported Authorization scheme".into(),
        ))
    }
}

/// Identify a `/v2` caller: Basic credentials are checked, a Bearer token
/// must be a registry token for `service`.
pub(crate) async fn registry_caller(
    identity: &Identity,
    headers: &HeaderMap,
    service: &str,
    ip: IpAddr,
) -> Result<Caller, IdentityError> {
    match presented(headers)? {
        Presented::Nothing => Ok(Caller::Anonymous),
        Presented::Basic(user, secret) => {
            Ok(Caller::Principal(identity.login(&user, &secret, Some(ip)).await?))
        }
        Presented::Bearer(token) => Ok(Caller::Token(identity.tokens().verify(&token, service).await?)),
    }
}

/// Identify an `/api/v1` caller: Basic credentials or an OAuth token.
pub(crate) async fn api_caller(
    identity: &Identity,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Principal, IdentityError> {
    match presented(headers)? {
        Presented::Nothing => Ok(Principal::anonymous()),
        Presented::Basic(user, secret) => identity.login(&user, &secret, Some(ip)).await,
        Presented::Bearer(token) => identity.oauth_login(&token, Some(ip)).await,
    }
}

/// Where clients get registry tokens and what they are for.
#[derive(Debug, Clone)]
pub(crate) struct Realm {
    /// The token endpoint's URL.
    pub realm: String,
    /// The service name (token audience).
    pub service: String,
}

impl Realm {
    /// From the configured host name, or else the request's host: its
    /// `Host` header, or (HTTP/2 sends none) the authority of its URI,
    /// when it is a plain host name or address.
    pub(crate) fn of(configured: Option<&str>, scheme: &str, headers: &HeaderMap, uri: &Uri) -> Realm {
        let plain = |h: &&str| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        };
        let host = configured
            .map(str::to_owned)
            .or_else(|| {
                headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| uri.authority().map(|a| a.as_str()))
                    .filter(plain)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "localhost".to_owned());
        Realm {
            realm: format!("{scheme}://{host}/v2/auth"),
            service: host,
        }
    }

    /// The `WWW-Authenticate` challenge, naming `scope` and `error` if given.
    pub(crate) fn challenge(&self, scope: Option<&str>, error: Option<&str>) -> String {
        let mut c = format!("Bearer realm=\"{}\",service=\"{}\"", self.realm, self.service);
        if let Some(scope) = scope {
            c.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(error) = error {
            c.push_str(&format!(",error=\"{error}\""));
        }
        c
    }
}
