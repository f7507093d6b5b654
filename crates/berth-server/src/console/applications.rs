//! An organization's OAuth applications: list, create (the client secret
//! is shown once, on the page the creation answers with), delete, and
//! generate an access token for oneself within chosen scopes (shown once).

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use berth_core::Namespace;
use berth_core::identity::Scope;
use berth_core::identity::applications::ApplicationFields;

use super::auth::see_other;
use super::error::{ConsoleError, page};
use super::members::{Notice, organization_name};
use super::outcome::{after_post, done, required};
use super::session::{Posted, Visitor};
use super::view::Chrome;

/// One application.
struct AppRow {
    client_id: String,
    name: String,
    application_uri: String,
    redirect_uri: String,
}

/// A secret just made, shown this once.
struct Secret {
    /// What it is, e.g. `Client secret of ci`.
    what: String,
    value: String,
}

/// The applications page.
#[derive(Template)]
#[template(path = "console/org_applications.html")]
struct ApplicationsPage {
    chrome: Chrome,
    name: String,
    is_admin: bool,
    tab: &'static str,
    apps: Vec<AppRow>,
    scopes: Vec<&'static str>,
    secret: Option<Secret>,
    notice: Option<&'static str>,
    problem: Option<String>,
}

async fn render(
    visitor: &Visitor,
    org: &Namespace,
    secret: Option<Secret>,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let apps = visitor
        .identity
        .applications(&visitor.caller, org)
        .await?
        .into_iter()
        .map(|a| AppRow {
            client_id: a.client_id,
            name: a.name,
            application_uri: a.application_uri,
            redirect_uri: a.redirect_uri,
        })
        .collect();
    page(&ApplicationsPage {
        chrome: visitor.chrome(),
        name: org.to_string(),
        is_admin: true,
        tab: "applications",
        apps,
        scopes: Scope::ALL.iter().map(|s| s.as_str()).collect(),
        secret,
        notice,
        problem,
    })
}

/// `GET /organization/{name}/applications`.
pub(crate) async fn show(
    visitor: Visitor,
    Path(name): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, ConsoleError> {
    let org = organization_name(&name)?;
    let notice = match q.done.as_deref() {
        Some("deleted") => Some("Application deleted; its tokens no longer work."),
        _ => None,
    };
    render(&visitor, &org, None, notice, None).await
}

/// The value of field `name` (empty if not sent).
fn field<'f>(form: &'f [(String, String)], name: &str) -> &'f str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// What a post from the page leads to: another page, or this one with a
/// secret to show once.
enum Outcome {
    Redirect(String),
    Show(Secret),
}

/// `POST /organization/{name}/applications`. The form is read as pairs:
/// the token form sends one `scope` per ticked box.
pub(crate) async fn act(
    Path(name): Path<String>,
    posted: Posted<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let org = organization_name(&name)?;
    let caller = &visitor.caller;
    let identity = &visitor.identity;
    let result = async {
        match field(&form, "action") {
            "create" => {
                let fields = ApplicationFields {
                    name: required(field(&form, "name"), "name")?.to_owned(),
                    description: field(&form, "description").trim().to_owned(),
                    application_uri: field(&form, "application_uri").trim().to_owned(),
                    redirect_uri: field(&form, "redirect_uri").trim().to_owned(),
                    avatar_email: None,
                };
                let made = identity.create_application(caller, &org, &fields).await?;
                Ok(Outcome::Show(Secret {
                    what: format!(
                        "Client secret of {} (client id {})",
                        made.app.name, made.app.client_id
                    ),
                    value: made.client_secret,
                }))
            }
            "delete" => {
                identity
                    .delete_application(caller, &org, required(field(&form, "client_id"), "application")?)
                    .await?;
                Ok(Outcome::Redirect(done(
                    &format!("/organization/{org}/applications"),
                    "deleted",
                )))
            }
            "token" => {
                let client_id = required(field(&form, "client_id"), "application")?;
                let scopes: Vec<&str> = form
                    .iter()
                    .filter(|(k, _)| k == "scope")
                    .map(|(_, v)| v.as_str())
                    .collect();
                let made = identity
                    .create_application_token(caller, &org, client_id, &scopes.join(" "), None)
                    .await?;
                Ok(Outcome::Show(Secret {
                    what: format!(
                        "Access token ({}), valid {} days",
                        made.token.scope,
                        made.expires_in / 86_400
                    ),
                    value: made.access_token,
                }))
            }
            other => Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
        }
    }
    .await;
    match result {
        Ok(Outcome::Show(secret)) => render(&visitor, &org, Some(secret), None, None).await,
        Ok(Outcome::Redirect(to)) => Ok(see_other(&to)),
        Err(e) => after_post(Err(e), |why| render(&visitor, &org, None, None, Some(why))).await,
    }
}
