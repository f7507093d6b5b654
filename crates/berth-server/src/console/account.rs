//! The signed-in user's account page: contact address and the
//! time-machine window of their namespace, their password (the current
//! one required), and their app tokens (created and shown once, revoked).

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use berth_core::identity::UserChange;
use serde::Deserialize;

use super::error::{ConsoleError, page};
use super::members::Notice;
use super::org_settings::window_options;
use super::outcome::{after_post, done, required};
use super::session::{Posted, Visitor};
use super::view::{Chrome, when, when_or_dash};

/// One app token (never its secret).
struct TokenRow {
    uuid: String,
    title: String,
    created: String,
    last_used: String,
    expires: String,
}

/// An app token just created, shown this once.
struct NewToken {
    title: String,
    code: String,
}

/// The account page.
#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    chrome: Chrome,
    name: String,
    email: String,
    window: i64,
    windows: Vec<(i64, String)>,
    organizations: Vec<String>,
    tokens: Vec<TokenRow>,
    new_token: Option<NewToken>,
    notice: Option<&'static str>,
    problem: Option<String>,
}

/// Signed-out visitors are sent to sign in: the page has nothing for them.
fn signed_in(visitor: &Visitor) -> Result<(), ConsoleError> {
    match visitor.user() {
        Some(_) => Ok(()),
        None => Err(ConsoleError::forbidden("Sign in to see your account.")),
    }
}

async fn render(
    visitor: &Visitor,
    new_token: Option<NewToken>,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    signed_in(visitor)?;
    let profile = visitor.identity.logged_in_user(&visitor.caller).await?;
    let tokens = visitor
        .identity
        .app_tokens(&visitor.caller, false)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            uuid: t.uuid,
            title: t.title,
            created: when(t.created_ms),
            last_used: when_or_dash(t.last_accessed_ms),
            expires: t.expires_ms.map(when).unwrap_or_else(|| "never".to_owned()),
        })
        .collect();
    page(&AccountPage {
        chrome: visitor.chrome(),
        name: profile.account.name,
        email: profile.account.email.unwrap_or_default(),
        window: profile.tag_expiration_s,
        windows: window_options(visitor),
        organizations: profile.organizations.into_iter().map(|o| o.name).collect(),
        tokens,
        new_token,
        notice,
        problem,
    })
}

/// `GET /account`.
pub(crate) async fn show(visitor: Visitor, Query(q): Query<Notice>) -> Result<Response, ConsoleError> {
    let notice = match q.done.as_deref() {
        Some("profile") => Some("Account saved."),
        Some("password") => Some("Password changed."),
        Some("revoked") => Some("Token revoked; it no longer works."),
        _ => None,
    };
    render(&visitor, None, notice, None).await
}

/// A change posted from the account page.
#[derive(Debug, Deserialize)]
pub(crate) struct AccountAction {
    action: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    tag_expiration_s: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    uuid: String,
}

/// `POST /account`.
pub(crate) async fn act(posted: Posted<AccountAction>) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    signed_in(&visitor)?;
    let caller = &visitor.caller;
    let identity = &visitor.identity;
    let mut new_token = None;
    let result = async {
        match form.action.as_str() {
            "profile" => {
                let seconds: i64 = form
                    .tag_expiration_s
                    .trim()
                    .parse()
                    .map_err(|_| ConsoleError::invalid("choose a time-machine window"))?;
                let change = UserChange {
                    email: Some(form.email.trim().to_owned()).filter(|e| !e.is_empty()),
                    tag_expiration_s: Some(seconds),
                };
                identity.change_user(caller, change).await?;
                Ok(done("/account", "profile"))
            }
            "password" => {
                if form.new_password != form.confirm_password {
                    return Err(ConsoleError::invalid(
                        "the new password and its confirmation differ",
                    ));
                }
                identity
                    .change_own_password(
                        caller,
                        &form.current_password,
                        &form.new_password,
                        visitor.session.as_deref(),
                    )
                    .await?;
                Ok(done("/account", "password"))
            }
            "create_token" => {
                let made = identity
                    .create_app_token(caller, required(&form.title, "title")?)
                    .await?;
                new_token = Some(NewToken {
                    title: made.token.title,
                    code: made.token_code,
                });
                Ok(String::new())
            }
            "revoke_token" => {
                identity
                    .revoke_app_token(caller, required(&form.uuid, "token")?)
                    .await?;
                Ok(done("/account", "revoked"))
            }
            other => Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
        }
    }
    .await;
    if new_token.is_some() {
        // The token is shown on the page the creation answers with, once.
        return render(&visitor, new_token, None, None).await;
    }
    after_post(result, |why| render(&visitor, None, None, Some(why))).await
}
