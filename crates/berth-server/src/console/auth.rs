//! Signing in and out. The sign-in form goes through the core's one
//! login (failed-login throttling and its log included); a session is a
//! database row, so any instance serves the next request.

use askama::Template;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::IdentityError;
use serde::Deserialize;

use super::error::{ConsoleError, page};
use super::session::{Posted, SESSION_COOKIE, Visitor, set_cookie};
use super::view::Chrome;

/// The sign-in page.
#[derive(Template)]
#[template(path = "console/signin.html")]
struct SignInPage {
    chrome: Chrome,
    username: String,
    problem: Option<String>,
}

/// `GET /signin`.
pub(crate) async fn form(visitor: Visitor) -> Result<Response, ConsoleError> {
    page(&SignInPage {
        chrome: visitor.chrome(),
        username: String::new(),
        problem: None,
    })
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(crate) struct SignIn {
    username: String,
    password: String,
}

/// A redirect after a post (303: the browser follows with a GET).
pub(crate) fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// `POST /signin`: a session cookie and the home page, or the form again
/// saying why not.
pub(crate) async fn sign_in(posted: Posted<SignIn>) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let result = visitor
        .identity
        .sign_in(form.username.trim(), &form.password, visitor.caller.ip)
        .await;
    let (status, problem) = match result {
        Ok(session) => {
            let max_age = (session.expires_ms - berth_core::now_ms()).max(0) / 1000;
            let mut response = see_other("/");
            response.headers_mut().append(
                SET_COOKIE,
                set_cookie(SESSION_COOKIE, &session.token, max_age, visitor.secure),
            );
            return Ok(response);
        }
        Err(IdentityError::Unauthenticated(why)) => (StatusCode::UNAUTHORIZED, why),
        Err(IdentityError::Throttled(s)) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-ins; try again in {s} s."),
        ),
        Err(e) => return Err(e.into()),
    };
    let mut response = page(&SignInPage {
        chrome: visitor.chrome(),
        username: form.username,
        problem: Some(problem),
    })?;
    *response.status_mut() = status;
    Ok(response)
}

/// The sign-out form has nothing but its token.
#[derive(Deserialize)]
pub(crate) struct SignOut {}

/// `POST /signout`: the session ends in the database and the cookie goes.
pub(crate) async fn sign_out(posted: Posted<SignOut>) -> Result<Response, ConsoleError> {
    let visitor = posted.visitor;
    if let Some(token) = &visitor.session {
        visitor.identity.sign_out(token).await?;
    }
    let mut response = see_other("/");
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, visitor.secure));
    Ok(response)
}
