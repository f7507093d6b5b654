//! Which page of a repository a `/repository/...` request is for. A
//! repository name may hold any number of `/`, so the paths are told apart
//! by what a name cannot hold: `/manifest/<digest>` at the end (a digest
//! has a `:`) is the manifest page; the `tab` query picks the settings,
//! notifications and mirroring pages, whose posts go to the same URL and
//! are read as that page's form.

use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::response::Response;
use berth_core::RepositoryName;
use berth_core::registry::RepositoryDetails;
use berth_oci::Digest;
use serde::de::DeserializeOwned;

use super::error::ConsoleError;
use super::session::{Posted, Visitor};
use super::{manifest, mirror, notifications, repository, settings};
use crate::AppState;

/// The repository named in the path, or 404.
pub(crate) fn repository_name(path: &str) -> Result<RepositoryName, ConsoleError> {
    RepositoryName::new(path).map_err(|_| ConsoleError::not_found("repository not found"))
}

/// `repo` for a page only its administrators see: 404 for anyone else,
/// as every refusal on a repository's pages.
pub(crate) async fn administered(
    visitor: &Visitor,
    repo: &RepositoryName,
) -> Result<RepositoryDetails, ConsoleError> {
    let details = visitor
        .registry
        .repository_details(&visitor.caller, repo, false)
        .await
        .map_err(|e| ConsoleError::from(e).hiding("repository"))?;
    if !details.can_admin {
        return Err(ConsoleError::not_found("repository not found"));
    }
    Ok(details)
}

/// `name/manifest/<digest>` split into the repository and the digest.
fn manifest_path(path: &str) -> Option<(&str, Digest)> {
    let (repo, digest) = path.rsplit_once("/manifest/")?;
    Some((repo, digest.parse().ok()?))
}

/// The query string read as `T`, or 400.
fn query<T: DeserializeOwned + Default>(raw: Option<&str>) -> Result<T, ConsoleError> {
    match raw {
        None | Some("") => Ok(T::default()),
        Some(q) => {
            serde_urlencoded::from_str(q).map_err(|e| ConsoleError::invalid(format!("bad query: {e}")))
        }
    }
}

/// The `tab` of a query string.
fn tab(raw: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default()).ok()?;
    pairs.into_iter().find(|(k, _)| k == "tab").map(|(_, v)| v)
}

/// `GET /repository/{name}[/manifest/{digest}]`.
pub(crate) async fn get(
    visitor: Visitor,
    Path(path): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    if let Some((repo, digest)) = manifest_path(&path) {
        let repo = repository_name(repo)?;
        return manifest::show(visitor, repo, digest, query(raw.as_deref())?).await;
    }
    let repo = repository_name(&path)?;
    match tab(raw.as_deref()).as_deref() {
        Some("settings") => settings::show(visitor, repo, query(raw.as_deref())?).await,
        Some("notifications") => notifications::show(visitor, repo, query(raw.as_deref())?).await,
        Some("mirror") => mirror::show(visitor, repo, query(raw.as_deref())?).await,
        _ => repository::show(visitor, repo, query(raw.as_deref())?).await,
    }
}

/// `POST /repository/{name}[?tab=...]`: the form of the page it was
/// posted from (its `csrf_token` checked first, as every post's).
pub(crate) async fn post(
    State(state): State<AppState>,
    Path(path): Path<String>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Result<Response, ConsoleError> {
    let repo = repository_name(&path)?;
    match tab(raw.as_deref()).as_deref() {
        Some("settings") => settings::act(repo, Posted::from_request(request, &state).await?).await,
        Some("notifications") => notifications::act(repo, Posted::from_request(request, &state).await?).await,
        Some("mirror") => mirror::act(repo, Posted::from_request(request, &state).await?).await,
        _ => repository::act(repo, Posted::from_request(request, &state).await?).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_are_told_from_repository_names() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let path = format!("acme/web/manifest/{digest}");
        let (repo, d) = manifest_path(&path).unwrap();
        assert_eq!((repo, d.to_string()), ("acme/web", digest.clone()));
        // A repository with a component named `manifest` is not a manifest page.
        assert!(manifest_path("acme/manifest/web").is_none());
        assert!(manifest_path("acme/web").is_none());
        assert_eq!(tab(Some("tab=settings&done=x")).as_deref(), Some("settings"));
        assert_eq!(tab(None), None);
    }
}
