//! An organization's proxy-cache page, for its administrators: the
//! upstream it caches (with how long a cached tag is served before it is
//! checked again), a form to check an upstream and to make the
//! organization a proxy cache of it, and removing the configuration. The
//! upstream credentials are write-only.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use berth_core::Namespace;
use berth_core::proxy::{ProxyCacheInput, ProxyCacheView};
use serde::Deserialize;

use super::auth::see_other;
use super::error::{ConsoleError, page};
use super::members::{Notice, organization_name};
use super::outcome::{after_post, done, required};
use super::session::{Posted, Visitor};
use super::view::Chrome;

/// The proxy-cache page.
#[derive(Template)]
#[template(path = "console/org_proxy_cache.html")]
struct ProxyCachePage {
    chrome: Chrome,
    name: String,
    is_admin: bool,
    tab: &'static str,
    config: Option<ProxyCacheView>,
    /// What was typed, shown again after a check or a refusal.
    typed: Typed,
    notice: Option<&'static str>,
    problem: Option<String>,
}

/// The form's fields as last typed (never the password).
#[derive(Default)]
struct Typed {
    upstream: String,
    expiration_s: String,
    insecure: bool,
    username: String,
}

async fn render(
    visitor: &Visitor,
    org: &Namespace,
    typed: Typed,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let details = visitor
        .identity
        .organization_details(&visitor.caller, org)
        .await?;
    if !details.is_admin {
        return Err(ConsoleError::forbidden(format!(
            "only administrators of {org} manage its proxy cache"
        )));
    }
    let config = visitor.registry.proxy_cache(&visitor.caller, org).await?;
    page(&ProxyCachePage {
        chrome: visitor.chrome(),
        name: details.name,
        is_admin: true,
        tab: "proxycache",
        config,
        typed,
        notice,
        problem,
    })
}

/// `GET /organization/{name}/proxycache`.
pub(crate) async fn show(
    visitor: Visitor,
    Path(name): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, ConsoleError> {
    let org = organization_name(&name)?;
    let notice = match q.done.as_deref() {
        Some("created") => Some(
            "Proxy cache configured: pulls of this organization's repositories now go through the upstream.",
        ),
        Some("removed") => Some("Proxy cache removed; what it cached stays."),
        _ => None,
    };
    let typed = Typed {
        expiration_s: DEFAULT_EXPIRATION.to_owned(),
        ..Typed::default()
    };
    render(&visitor, &org, typed, notice, None).await
}

/// Quay's default: a cached tag is checked again after a day.
const DEFAULT_EXPIRATION: &str = "86400";

/// A post from the page. The checkbox is present only when ticked.
#[derive(Debug, Deserialize)]
pub(crate) struct ProxyCacheForm {
    action: String,
    #[serde(default)]
    upstream_registry: String,
    #[serde(default)]
    expiration_s: String,
    #[serde(default)]
    insecure: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

impl ProxyCacheForm {
    fn input(&self) -> Result<ProxyCacheInput, ConsoleError> {
        let expiration = self.expiration_s.trim();
        let expiration_s = if expiration.is_empty() {
            None
        } else {
            Some(expiration.parse().map_err(|_| {
                ConsoleError::invalid(format!(
                    "expiration must be a number of seconds, not {expiration:?}"
                ))
            })?)
        };
        let typed = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(ProxyCacheInput {
            upstream_registry: required(&self.upstream_registry, "upstream registry")?.to_owned(),
            expiration_s,
            insecure: self.insecure.is_some(),
            username: typed(&self.username),
            password: typed(&self.password),
        })
    }

    fn typed(&self) -> Typed {
        Typed {
            upstream: self.upstream_registry.trim().to_owned(),
            expiration_s: self.expiration_s.trim().to_owned(),
            insecure: self.insecure.is_some(),
            username: self.username.trim().to_owned(),
        }
    }
}

/// `POST /organization/{name}/proxycache`: check an upstream, create the
/// configuration or remove it, each through the core (which authorizes
/// and logs it). A check answers with the page, saying what it found.
pub(crate) async fn act(
    Path(name): Path<String>,
    posted: Posted<ProxyCacheForm>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let org = organization_name(&name)?;
    let (registry, caller) = (&visitor.registry, &visitor.caller);
    let page_path = format!("/organization/{org}/proxycache");
    let result = async {
        match form.action.as_str() {
            "check" => {
                registry
                    .validate_proxy_cache(caller, &org, &form.input()?)
                    .await?;
                Ok(None)
            }
            "create" => {
                registry.create_proxy_cache(caller, &org, &form.input()?).await?;
                Ok(Some(done(&page_path, "created")))
            }
            "remove" => {
                registry.delete_proxy_cache(caller, &org).await?;
                Ok(Some(done(&page_path, "removed")))
            }
            other => Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
        }
    }
    .await;
    match result {
        Ok(None) => {
            let checked = Some("The upstream answered and accepted the credentials.");
            render(&visitor, &org, form.typed(), checked, None).await
        }
        Ok(Some(to)) => Ok(see_other(&to)),
        Err(e) => {
            after_post(Err(e), |why| {
                render(&visitor, &org, form.typed(), None, Some(why))
            })
            .await
        }
    }
}
