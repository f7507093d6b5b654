//! The web console: server-rendered pages at `/` for people in a
//! browser. Templates (askama, checked at build time) and the console's
//! own small stylesheet and script are compiled into the binary; nothing
//! third-party is served and nothing runs inline, so the Content Security
//! Policy is `default-src 'self'`.
//!
//! Pages act through the same `berth-core` operations as the API, with
//! the visitor's session as the caller: the core authorizes and writes the
//! usage log. Every form carries a `csrf_token` (`session.rs`); a post
//! without the right one is refused with 403 before it is read.

mod account;
mod applications;
mod auth;
mod create;
mod dispatch;
mod error;
mod home;
mod logs;
mod manifest;
mod members;
mod mirror;
mod notifications;
mod org_mirror;
mod org_settings;
mod organization;
mod outcome;
mod proxy_cache;
mod repository;
mod schedule;
mod session;
mod settings;
mod superuser;
mod superuser_quotas;
mod teams;
mod usage;
mod view;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::AppState;

/// The Content Security Policy of every console response.
const CSP: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

/// The console's routes (merged at the root).
pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home::show))
        .route("/signin", get(auth::form).post(auth::sign_in))
        .route("/signout", post(auth::sign_out))
        .route(
            "/organizations/new",
            get(create::organization_form).post(create::organization),
        )
        .route(
            "/repositories/new",
            get(create::repository_form).post(create::repository),
        )
        .route(
            "/organization/{name}",
            get(organization::show).post(organization::act),
        )
        .route("/repository/{*name}", get(dispatch::get).post(dispatch::post))
        .merge(admin_routes())
        .route(
            "/static/console.css",
            get(|| asset(CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/static/console.js",
            get(|| asset(JS, "text/javascript; charset=utf-8")),
        )
        .layer(from_fn_with_state(state.clone(), write_gate))
        .layer(from_fn_with_state(state, session::ensure_csrf_cookie))
        .layer(from_fn(security_headers))
}

/// The organization, account and superuser pages.
fn admin_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/organization/{name}/members",
            get(members::show).post(members::act),
        )
        .route(
            "/organization/{name}/teams/{team}",
            get(teams::show).post(teams::act),
        )
        .route(
            "/organization/{name}/applications",
            get(applications::show).post(applications::act),
        )
        .route(
            "/organization/{name}/settings",
            get(org_settings::show).post(org_settings::act),
        )
        .route(
            "/organization/{name}/mirror",
            get(org_mirror::show).post(org_mirror::act),
        )
        .route(
            "/organization/{name}/proxycache",
            get(proxy_cache::show).post(proxy_cache::act),
        )
        .route("/organization/{name}/logs/export", get(organization::export_logs))
        .route("/account", get(account::show).post(account::act))
        .route("/superuser", get(superuser::status))
        .route(
            "/superuser/users",
            get(superuser::users).post(superuser::act_users),
        )
        .route("/superuser/organizations", get(superuser::organizations))
        .route(
            "/superuser/quotas",
            get(superuser_quotas::show).post(superuser_quotas::act),
        )
        .route("/superuser/logs", get(superuser::logs))
        .route("/superuser/logs/export", get(superuser::export_logs))
}

/// One of the compiled-in assets.
async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The headers every console response carries: the CSP, no sniffing, no
/// framing, no referrer beyond this site.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// Changes are refused in read-only mode as the API refuses them;
/// signing in and out still work.
async fn write_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if request.method() == Method::POST
        && path != "/signin"
        && path != "/signout"
        && let Err(refusal) = crate::mode::check_api(state.registry.config().write_mode, request.method())
    {
        return error::ConsoleError::from(refusal).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    /// Every template, as committed.
    fn templates() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/console");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
        assert!(out.len() >= 8, "templates found in {}", dir.display());
        out
    }

    #[test]
    fn templates_hold_no_inline_code() {
        for (path, text) in templates() {
            let lower = text.to_ascii_lowercase();
            assert!(!lower.contains("javascript:"), "{path}: a javascript: URL");
            assert!(!lower.contains("style="), "{path}: an inline style");
            assert!(!lower.contains("<style"), "{path}: an inline stylesheet");
            // Scripts only by src, and no handler attributes.
            for (i, _) in lower.match_indices("<script") {
                let tag = &lower[i..lower[i..].find('>').map(|e| i + e).unwrap_or(lower.len())];
                assert!(tag.contains(" src="), "{path}: an inline script");
            }
            let handler = lower.split(|c: char| c.is_whitespace()).any(|word| {
                word.starts_with("on")
                    && word.contains('=')
                    && word[2..]
                        .split('=')
                        .next()
                        .is_some_and(|n| n.chars().all(|c| c.is_ascii_alphabetic()) && !n.is_empty())
            });
            assert!(!handler, "{path}: an on*= handler attribute");
        }
    }

    #[test]
    fn every_post_form_carries_the_token() {
        for (path, text) in templates() {
            for form in text.split("<form").skip(1) {
                let form = &form[..form.find("</form>").unwrap_or(form.len())];
                if form.contains("method=\"post\"") {
                    assert!(
                        form.contains("name=\"csrf_token\" value=\"{{ chrome.csrf }}\""),
                        "{path}: a post form without csrf_token"
                    );
                }
                // Every control has a label (by `for`, by wrapping, or a
                // hidden input).
                for (i, _) in form
                    .match_indices("<input")
                    .chain(form.match_indices("<select"))
                    .chain(form.match_indices("<textarea"))
                {
                    let tag = &form[i..form[i..].find('>').map(|e| i + e).unwrap_or(form.len())];
                    if tag.contains("type=\"hidden\"") || tag.contains("type=\"radio\"") {
                        continue;
                    }
                    let id = tag
                        .split("id=\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .unwrap_or_else(|| panic!("{path}: a control without an id: {tag}"));
                    assert!(
                        form.contains(&format!("for=\"{id}\"")),
                        "{path}: no label for {id}"
                    );
                }
            }
        }
    }
}
