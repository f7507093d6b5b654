//! Who is looking at a console page: the session cookie (a signed-in
//! user) or nobody, and the CSRF token every form of the page carries.
//!
//! The token is derived from a secret the browser holds in an HttpOnly
//! cookie: the session token once signed in, before that a random
//! `berth_csrf` cookie set by [`ensure_csrf_cookie`]. A cross-site page
//! can make the browser send the cookie but cannot read it or the page,
//! so it cannot know the token.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use berth_core::{Caller, Identity, Registry};
use serde::de::DeserializeOwned;

use super::error::ConsoleError;
use crate::AppState;

/// The cookie holding a signed-in user's session token.
pub(crate) const SESSION_COOKIE: &str = "berth_session";
/// The cookie holding the secret of signed-out visitors' form tokens.
pub(crate) const CSRF_COOKIE: &str = "berth_csrf";
/// Largest form body the console reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The value of cookie `name` in `headers`, if sent.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for `name`: HttpOnly, SameSite=Lax, Secure when
/// served over HTTPS; `max_age` seconds, or 0 to delete it.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    // Names and values are ours: hex and ASCII letters only.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("berth_invalid=; Max-Age=0"))
}

/// Give a visitor without one a `berth_csrf` cookie, visible to this
/// request's handler as if the browser had sent it.
pub(crate) async fn ensure_csrf_cookie(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if cookie(request.headers(), CSRF_COOKIE).is_some() {
        return next.run(request).await;
    }
    let mut secret = [0u8; 32];
    berth_core::crypto::random_bytes(&mut secret);
    let seed = hex::encode(secret);
    if let Ok(v) = HeaderValue::from_str(&format!("{CSRF_COOKIE}={seed}")) {
        request.headers_mut().append(COOKIE, v);
    }
    let mut response = next.run(request).await;
    // A session cookie lasts as long as the browser session.
    let value = format!(
        "{CSRF_COOKIE}={seed}; Path=/; HttpOnly; SameSite=Lax{}",
        if state.secure_cookies() { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// The visitor of one console request and the services pages act through.
pub(crate) struct Visitor {
    /// Identity and access.
    pub identity: Identity,
    /// The registry.
    pub registry: Registry,
    /// Who, as core operations take it: they authorize it themselves.
    pub caller: Caller,
    /// The session token, when signed in.
    pub session: Option<String>,
    /// The secret form tokens are derived from.
    csrf_seed: String,
    /// The registry's host name, for pull commands.
    pub host: String,
    /// Whether cookies are marked Secure (served over HTTPS).
    pub secure: bool,
}

impl Visitor {
    /// The signed-in user's name.
    pub fn user(&self) -> Option<&str> {
        self.session.as_ref().and(self.caller.name())
    }

    /// The token every form of this visitor's pages carries as
    /// `csrf_token`.
    pub fn csrf(&self) -> String {
        hex::encode(berth_core::crypto::sha256(&[
            b"berth console form\0",
            self.csrf_seed.as_bytes(),
        ]))
    }

    /// What every page's frame shows.
    pub fn chrome(&self) -> super::view::Chrome {
        super::view::Chrome {
            user: self.user().map(str::to_owned),
            csrf: self.csrf(),
            superuser: self.session.is_some()
                && self.caller.principal.account().is_some_and(|a| a.super_user),
        }
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let token = cookie(&parts.headers, SESSION_COOKIE);
        let principal = match token {
            Some(t) => state.identity.web_session(t).await?,
            None => None,
        };
        let session = principal.as_ref().and(token).map(str::to_owned);
        let csrf_seed = match &session {
            Some(t) => t.clone(),
            None => cookie(&parts.headers, CSRF_COOKIE).unwrap_or_default().to_owned(),
        };
        let realm = state.realm(&parts.headers, &parts.uri);
        Ok(Visitor {
            identity: state.identity.clone(),
            registry: state.registry.clone(),
            caller: match principal {
                Some(p) => Caller::new(p, Some(ip)),
                None => Caller::anonymous(Some(ip)),
            },
            session,
            csrf_seed,
            host: realm.service,
            secure: state.secure_cookies(),
        })
    }
}

/// A posted form whose `csrf_token` matched the visitor's (else 403,
/// before anything else is read from it), and the visitor.
pub(crate) struct Posted<T> {
    /// Who posted it.
    pub visitor: Visitor,
    /// Its fields.
    pub form: T,
}

/// Equal strings, compared in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| ConsoleError::invalid("the form is too large"))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let sent = pairs
            .iter()
            .find(|(k, _)| k == "csrf_token")
            .map(|(_, v)| v.as_str());
        if !sent.is_some_and(|s| same(s, &visitor.csrf())) {
            return Err(ConsoleError::forbidden(
                "This form has expired or did not come from this site. Reload the page and try again.",
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ConsoleError::invalid(format!("the form is incomplete: {e}")))?;
        Ok(Posted { visitor, form })
    }
}
