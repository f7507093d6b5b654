//! Creating an organization or a repository from the console.

use askama::Template;
use axum::response::Response;
use berth_core::{Namespace, RepositoryName, Visibility};
use serde::Deserialize;

use super::auth::see_other;
use super::error::{ConsoleError, page};
use super::session::{Posted, Visitor};
use super::view::Chrome;

/// Only signed-in users create things; others are sent to sign in.
fn signed_in(visitor: &Visitor) -> Result<(), ConsoleError> {
    match visitor.user() {
        Some(_) => Ok(()),
        None => Err(ConsoleError::forbidden(
            "Sign in to create organizations and repositories.",
        )),
    }
}

/// The new-organization page.
#[derive(Template)]
#[template(path = "console/new_organization.html")]
struct NewOrganizationPage {
    chrome: Chrome,
    name: String,
    problem: Option<String>,
}

/// `GET /organizations/new`.
pub(crate) async fn organization_form(visitor: Visitor) -> Result<Response, ConsoleError> {
    signed_in(&visitor)?;
    page(&NewOrganizationPage {
        chrome: visitor.chrome(),
        name: String::new(),
        problem: None,
    })
}

/// The new-organization form.
#[derive(Deserialize)]
pub(crate) struct NewOrganization {
    name: String,
    #[serde(default)]
    email: String,
}

/// `POST /organizations/new`: the organization's page, or the form again
/// saying why not.
pub(crate) async fn organization(posted: Posted<NewOrganization>) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    signed_in(&visitor)?;
    let name = form.name.trim();
    let email = Some(form.email.trim()).filter(|e| !e.is_empty());
    let result = match Namespace::new(name) {
        Ok(ns) => visitor
            .identity
            .create_own_organization(&visitor.caller, &ns, email)
            .await
            .map_err(ConsoleError::from),
        Err(e) => Err(ConsoleError::invalid(e.to_string())),
    };
    match result {
        Ok(org) => Ok(see_other(&format!("/organization/{}", org.name))),
        Err(e) if e.is_refusal_of_input() => page(&NewOrganizationPage {
            chrome: visitor.chrome(),
            name: name.to_owned(),
            problem: Some(e.message().to_owned()),
        })
        .map(|r| e.with_status(r)),
        Err(e) => Err(e),
    }
}

/// The new-repository page.
#[derive(Template)]
#[template(path = "console/new_repository.html")]
struct NewRepositoryPage {
    chrome: Chrome,
    namespaces: Vec<String>,
    namespace: String,
    name: String,
    problem: Option<String>,
}

/// The namespaces the visitor may create in, as far as the page offers:
/// their own and their organizations.
async fn namespaces(visitor: &Visitor) -> Result<Vec<String>, ConsoleError> {
    let mut out: Vec<String> = visitor.user().map(str::to_owned).into_iter().collect();
    if let Some(id) = visitor.caller.account_id() {
        out.extend(visitor.identity.organizations_of(id).await?);
    }
    Ok(out)
}

/// `GET /repositories/new`.
pub(crate) async fn repository_form(visitor: Visitor) -> Result<Response, ConsoleError> {
    signed_in(&visitor)?;
    page(&NewRepositoryPage {
        namespaces: namespaces(&visitor).await?,
        chrome: visitor.chrome(),
        namespace: String::new(),
        name: String::new(),
        problem: None,
    })
}

/// The new-repository form.
#[derive(Deserialize)]
pub(crate) struct NewRepository {
    namespace: String,
    name: String,
    visibility: String,
    #[serde(default)]
    description: String,
}

/// `POST /repositories/new`: the repository's page, or the form again
/// saying why not.
pub(crate) async fn repository(posted: Posted<NewRepository>) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    signed_in(&visitor)?;
    let visibility = Visibility::parse(&form.visibility)
        .ok_or_else(|| ConsoleError::invalid("visibility must be public or private"))?;
    let result = match RepositoryName::join(form.namespace.trim(), form.name.trim()) {
        Ok(name) => visitor
            .identity
            .create_repo(&visitor.caller, &name, visibility, &form.description)
            .await
            .map_err(ConsoleError::from),
        Err(e) => Err(ConsoleError::invalid(e.to_string())),
    };
    match result {
        Ok(repo) => Ok(see_other(&format!("/repository/{}", repo.name))),
        Err(e) if e.is_refusal_of_input() => page(&NewRepositoryPage {
            namespaces: namespaces(&visitor).await?,
            chrome: visitor.chrome(),
            namespace: form.namespace,
            name: form.name,
            problem: Some(e.message().to_owned()),
        })
        .map(|r| e.with_status(r)),
        Err(e) => Err(e),
    }
}
