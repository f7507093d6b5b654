//! The home page: the visitor's namespaces and the repositories they may
//! see, filtered by namespace and name prefix, a page at a time. Paging
//! is by name (keyset) over the name index, so the thousandth page costs
//! what the first does.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use berth_core::Namespace;
use serde::{Deserialize, Serialize};

use super::error::{ConsoleError, page};
use super::session::Visitor;
use super::view::{Chrome, when_or_dash};

/// Repositories per page.
const PER_PAGE: usize = 50;

/// The home page's query: which namespace, which name prefix, after which
/// repository.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct HomeQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

/// A repository row.
struct Row {
    name: String,
    visibility: &'static str,
    last_modified: String,
}

/// The home page.
#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    chrome: Chrome,
    /// The signed-in user's own namespace first, then their organizations.
    namespaces: Vec<(String, bool)>,
    namespace: String,
    filter: String,
    rows: Vec<Row>,
    first_page: Option<String>,
    next_page: Option<String>,
}

/// `GET /`.
pub(crate) async fn show(visitor: Visitor, Query(query): Query<HomeQuery>) -> Result<Response, ConsoleError> {
    let mut namespaces = Vec::new();
    if let (Some(user), Some(id)) = (visitor.user(), visitor.caller.account_id()) {
        namespaces.push((user.to_owned(), false));
        for org in visitor.identity.organizations_of(id).await? {
            namespaces.push((org, true));
        }
    }
    let namespace_text = query.namespace.clone().unwrap_or_default();
    let filter = query
        .filter
        .clone()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let namespace = match namespace_text.as_str() {
        "" => None,
        text => Some(Namespace::new(text).map_err(|e| ConsoleError::invalid(e.to_string()))?),
    };
    let prefix = match (&namespace, filter.as_str()) {
        (_, "") => None,
        (Some(ns), f) => Some(format!("{ns}/{f}")),
        (None, f) => Some(f.to_owned()),
    };
    let after = query.after.clone().unwrap_or_default();
    let listing = visitor
        .registry
        .repositories(
            &visitor.caller,
            namespace.as_ref(),
            prefix.as_deref(),
            &after,
            PER_PAGE,
            true,
        )
        .await?;
    let link = |after: Option<String>| {
        let q = HomeQuery {
            namespace: query.namespace.clone().filter(|s| !s.is_empty()),
            filter: Some(filter.clone()).filter(|s| !s.is_empty()),
            after,
        };
        match serde_urlencoded::to_string(&q) {
            Ok(s) if !s.is_empty() => format!("/?{s}"),
            _ => "/".to_owned(),
        }
    };
    let next_page = match (listing.more, listing.repositories.last()) {
        (true, Some(last)) => Some(link(Some(last.repository.name.to_string()))),
        _ => None,
    };
    let first_page = (!after.is_empty()).then(|| link(None));
    let rows = listing
        .repositories
        .into_iter()
        .map(|r| Row {
            name: r.repository.name.to_string(),
            visibility: r.repository.visibility.as_str(),
            last_modified: when_or_dash(r.last_modified_ms.flatten()),
        })
        .collect();
    page(&HomePage {
        chrome: visitor.chrome(),
        namespaces,
        namespace: namespace_text,
        filter,
        rows,
        first_page,
        next_page,
    })
}
