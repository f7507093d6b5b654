//! A repository's settings page, for its administrators: visibility,
//! description (Markdown, previewed as the repository page renders it),
//! state (`NORMAL` or `READ_ONLY`) and deleting the repository, which
//! asks for its name to be typed first.

use askama::Template;
use axum::response::Response;
use berth_core::registry::RepositoryState;
use berth_core::{RepositoryName, Visibility};
use serde::Deserialize;

use super::auth::see_other;
use super::dispatch::administered;
use super::error::{ConsoleError, page};
use super::session::{Posted, Visitor};
use super::view::{Chrome, markdown};

/// What the settings page is asked.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SettingsQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The settings page.
#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    name: String,
    visibility: &'static str,
    description: String,
    description_html: String,
    state: &'static str,
    /// States this page may set (a mirror's state is the mirror's to set).
    states: [&'static str; 2],
    can_admin: bool,
    tab: &'static str,
    notice: Option<&'static str>,
}

/// What a finished change says.
fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "visibility" => "Visibility changed.",
        "description" => "Description saved.",
        "state" => "State changed.",
        _ => return None,
    })
}

/// `GET /repository/{name}?tab=settings`: 404 for anyone but its
/// administrators, as every refusal on a repository's pages.
pub(crate) async fn show(
    visitor: Visitor,
    repo: RepositoryName,
    query: SettingsQuery,
) -> Result<Response, ConsoleError> {
    let details = administered(&visitor, &repo).await?;
    page(&SettingsPage {
        chrome: visitor.chrome(),
        name: repo.to_string(),
        visibility: details.repository.visibility.as_str(),
        description_html: markdown(&details.repository.description),
        description: details.repository.description,
        state: details.state.as_str(),
        states: ["NORMAL", "READ_ONLY"],
        can_admin: true,
        tab: "settings",
        notice: query.done.as_deref().and_then(notice),
    })
}

/// A change posted from the settings page.
#[derive(Debug, Deserialize)]
pub(crate) struct SettingsAction {
    action: String,
    #[serde(default)]
    visibility: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    state: String,
    /// The repository's name, typed again to confirm a deletion.
    #[serde(default)]
    confirm: String,
}

/// `POST /repository/{name}?tab=settings`: carry out the change through
/// the core (which authorizes and logs it), then back to the page, or
/// home after a deletion.
pub(crate) async fn act(
    repo: RepositoryName,
    posted: Posted<SettingsAction>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let (registry, identity, caller) = (&visitor.registry, &visitor.identity, &visitor.caller);
    let done = match form.action.as_str() {
        "set_visibility" => {
            let visibility = Visibility::parse(&form.visibility)
                .ok_or_else(|| ConsoleError::invalid("visibility must be public or private"))?;
            identity.set_visibility(caller, &repo, visibility).await?;
            "visibility"
        }
        "set_description" => {
            identity.set_description(caller, &repo, &form.description).await?;
            "description"
        }
        "set_state" => {
            let state = match RepositoryState::parse(&form.state) {
                Some(s @ (RepositoryState::Normal | RepositoryState::ReadOnly)) => s,
                _ => {
                    return Err(ConsoleError::invalid(format!(
                        "{} is not a state this page sets (NORMAL or READ_ONLY)",
                        form.state
                    )));
                }
            };
            registry.change_repository_state(caller, &repo, state).await?;
            "state"
        }
        "delete_repository" => {
            if form.confirm.trim() != repo.as_str() {
                return Err(ConsoleError::invalid(format!(
                    "Type the repository's name, {repo}, to confirm its deletion."
                )));
            }
            registry.delete_repository(caller, &repo).await?;
            return Ok(see_other(&format!("/?namespace={}", repo.namespace())));
        }
        other => return Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
    };
    Ok(see_other(&format!("/repository/{repo}?tab=settings&done={done}")))
}
