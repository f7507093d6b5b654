//! The superuser quota page: pick a namespace (an organization or a
//! user), see its usage bar and thresholds, set or remove its quota and
//! add or remove thresholds, through the same core operations as the
//! API's superuser quota endpoints.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use berth_core::Namespace;
use berth_core::registry::{QuotaError, QuotaOwner, parse_size};
use serde::Deserialize;

use super::error::{ConsoleError, page};
use super::org_settings::{QuotaState, quota_state};
use super::outcome::{after_post, required};
use super::session::{Posted, Visitor};
use super::superuser::hidden;
use super::view::Chrome;

/// The quotas page.
#[derive(Template)]
#[template(path = "console/su_quotas.html")]
struct QuotasPage {
    chrome: Chrome,
    tab: &'static str,
    organizations: Vec<String>,
    namespace: String,
    quota: Option<QuotaState>,
    notice: Option<&'static str>,
    problem: Option<String>,
}

/// The page's query: which namespace, and the change just made.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QuotaQuery {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

fn namespace(name: &str) -> Result<Namespace, ConsoleError> {
    Namespace::new(required(name, "namespace")?).map_err(|e| ConsoleError::invalid(e.to_string()))
}

async fn render(
    visitor: &Visitor,
    ns: Option<&str>,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    // Listing the organizations admits superusers only.
    let organizations = visitor
        .identity
        .all_organizations(&visitor.caller)
        .await
        .map_err(hidden)?
        .into_iter()
        .map(|o| o.name)
        .collect();
    let ns = ns.map(str::trim).filter(|n| !n.is_empty());
    let mut problem = problem;
    let mut quota = None;
    if let Some(name) = ns {
        // A namespace that does not exist is said so beside the form.
        match namespace(name) {
            Ok(n) => match visitor
                .registry
                .quotas(&visitor.caller, &QuotaOwner::Panel(n))
                .await
            {
                Err(QuotaError::NotFound(why)) if visitor.registry.config().quota.enabled => {
                    problem = problem.or(Some(why));
                }
                found => quota = Some(quota_state(found).map_err(hidden)?),
            },
            Err(e) => problem = problem.or(Some(e.message().to_owned())),
        }
    }
    page(&QuotasPage {
        chrome: visitor.chrome(),
        tab: "quotas",
        organizations,
        namespace: ns.unwrap_or_default().to_owned(),
        quota,
        notice,
        problem,
    })
}

/// `GET /superuser/quotas?namespace=`.
pub(crate) async fn show(visitor: Visitor, Query(q): Query<QuotaQuery>) -> Result<Response, ConsoleError> {
    let notice = match q.done.as_deref() {
        Some("quota") => Some("Quota saved."),
        Some("quota_deleted") => Some("Quota removed."),
        Some("limit") => Some("Threshold added."),
        Some("limit_deleted") => Some("Threshold removed."),
        _ => None,
    };
    render(&visitor, q.namespace.as_deref(), notice, None).await
}

/// A change posted from the quotas page.
#[derive(Debug, Deserialize)]
pub(crate) struct QuotaAction {
    action: String,
    namespace: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    quota_id: String,
    #[serde(default)]
    limit_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    percent: String,
}

fn number(text: &str, what: &str) -> Result<i64, ConsoleError> {
    text.trim()
        .parse()
        .map_err(|_| ConsoleError::invalid(format!("{what} must be a whole number")))
}

/// `POST /superuser/quotas`.
pub(crate) async fn act(posted: Posted<QuotaAction>) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let caller = &visitor.caller;
    let registry = &visitor.registry;
    let result = async {
        let ns = namespace(&form.namespace)?;
        let owner = QuotaOwner::Panel(ns.clone());
        let back = |what: &str| {
            serde_urlencoded::to_string([("namespace", ns.as_str()), ("done", what)])
                .map(|q| format!("/superuser/quotas?{q}"))
                .unwrap_or_default()
        };
        match form.action.as_str() {
            "set_quota" => {
                let bytes = parse_size(required(&form.limit, "limit")?).map_err(ConsoleError::invalid)?;
                if form.quota_id.trim().is_empty() {
                    registry
                        .create_quota(caller, &owner, bytes)
                        .await
                        .map_err(hidden)?;
                } else {
                    let id = number(&form.quota_id, "quota")?;
                    registry
                        .change_quota(caller, &owner, id, Some(bytes))
                        .await
                        .map_err(hidden)?;
                }
                Ok(back("quota"))
            }
            "delete_quota" => {
                let id = number(&form.quota_id, "quota")?;
                registry.delete_quota(caller, &owner, id).await.map_err(hidden)?;
                Ok(back("quota_deleted"))
            }
            "add_limit" => {
                let id = number(&form.quota_id, "quota")?;
                let percent = number(&form.percent, "threshold")?;
                registry
                    .create_quota_limit(caller, &owner, id, &form.kind, percent)
                    .await
                    .map_err(hidden)?;
                Ok(back("limit"))
            }
            "delete_limit" => {
                let id = number(&form.quota_id, "quota")?;
                let limit = number(&form.limit_id, "threshold")?;
                registry
                    .delete_quota_limit(caller, &owner, id, limit)
                    .await
                    .map_err(hidden)?;
                Ok(back("limit_deleted"))
            }
            other => Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
        }
    }
    .await;
    after_post(result, |why| {
        render(&visitor, Some(&form.namespace), None, Some(why))
    })
    .await
}
