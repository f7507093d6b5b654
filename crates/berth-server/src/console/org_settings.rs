//! An organization's settings page: its time-machine window and contact
//! address (administrators change them), and its quota: the usage bar and
//! the thresholds, read here and changed by superusers on the superuser
//! pages (as the API allows).

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use berth_core::Namespace;
use berth_core::identity::OrganizationChange;
use berth_core::registry::{QuotaError, QuotaOwner, QuotaStatus};
use serde::Deserialize;

use super::error::{ConsoleError, page};
use super::members::{Notice, organization_name};
use super::outcome::{after_post, done};
use super::session::{Posted, Visitor};
use super::view::{Chrome, size};

/// A namespace's quota as the pages show it.
pub(crate) struct QuotaView {
    /// The quota's id; none for the system default.
    pub id: Option<i64>,
    pub usage: String,
    pub limit: String,
    /// `limit_bytes` and the usage for the `<meter>` (bytes).
    pub usage_bytes: u64,
    pub limit_bytes: i64,
    /// Usage in percent of the limit, rounded down.
    pub percent: u64,
    /// `(id, Warning|Reject, percent)`, lowest first.
    pub limits: Vec<(i64, &'static str, i32)>,
    /// Whether this is the system default rather than the namespace's own.
    pub default_config: bool,
}

impl From<QuotaStatus> for QuotaView {
    fn from(q: QuotaStatus) -> QuotaView {
        let limit = u64::try_from(q.limit_bytes).unwrap_or(0).max(1);
        QuotaView {
            id: q.id,
            usage: size(i64::try_from(q.usage_bytes).unwrap_or(i64::MAX)),
            limit: size(q.limit_bytes),
            usage_bytes: q.usage_bytes.min(limit),
            limit_bytes: q.limit_bytes,
            percent: q.usage_bytes.saturating_mul(100) / limit,
            limits: q
                .limits
                .into_iter()
                .map(|l| (l.id, l.kind.as_str(), l.threshold_percent))
                .collect(),
            default_config: q.default_config,
        }
    }
}

/// What a quota read gives a page: the quota, none, or why none can be
/// shown (quota management off).
pub(crate) enum QuotaState {
    Off,
    None,
    Some(QuotaView),
}

/// `statuses` (or its failure) as a page shows it: quota management
/// being off is not an error page.
pub(crate) fn quota_state(
    statuses: Result<Vec<QuotaStatus>, QuotaError>,
) -> Result<QuotaState, ConsoleError> {
    match statuses {
        Ok(list) => Ok(match list.into_iter().next() {
            Some(q) => QuotaState::Some(q.into()),
            None => QuotaState::None,
        }),
        Err(QuotaError::NotFound(_)) => Ok(QuotaState::Off),
        Err(e) => Err(e.into()),
    }
}

/// A time-machine window for people: `none`, `1 day`, `14 days`, or
/// seconds when not whole days.
pub(crate) fn window_label(seconds: i64) -> String {
    match seconds {
        0 => "none (deleted tags cannot be restored)".to_owned(),
        86_400 => "1 day".to_owned(),
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        s => format!("{s} seconds"),
    }
}

/// The window options as `(seconds, label)`.
pub(crate) fn window_options(visitor: &Visitor) -> Vec<(i64, String)> {
    visitor
        .identity
        .config()
        .tag_expiration_options
        .iter()
        .filter_map(|s| i64::try_from(*s).ok())
        .map(|s| (s, window_label(s)))
        .collect()
}

/// The settings page.
#[derive(Template)]
#[template(path = "console/org_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    name: String,
    is_admin: bool,
    tab: &'static str,
    email: String,
    window: i64,
    windows: Vec<(i64, String)>,
    quota: QuotaState,
    notice: Option<&'static str>,
    problem: Option<String>,
}

async fn render(
    visitor: &Visitor,
    org: &Namespace,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let details = visitor
        .identity
        .organization_details(&visitor.caller, org)
        .await?;
    // Only administrators are given the settings (the core decides).
    let settings = details
        .settings
        .ok_or_else(|| ConsoleError::forbidden(format!("only administrators of {org} see its settings")))?;
    let default = i64::try_from(visitor.identity.config().default_tag_expiration_s).unwrap_or(i64::MAX);
    let quota = quota_state(
        visitor
            .registry
            .quotas(&visitor.caller, &QuotaOwner::Organization(org.clone()))
            .await,
    )?;
    page(&SettingsPage {
        chrome: visitor.chrome(),
        name: details.name,
        is_admin: details.is_admin,
        tab: "settings",
        email: settings.email.unwrap_or_default(),
        window: settings.tag_expiration_s.unwrap_or(default),
        windows: window_options(visitor),
        quota,
        notice,
        problem,
    })
}

/// `GET /organization/{name}/settings`.
pub(crate) async fn show(
    visitor: Visitor,
    Path(name): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, ConsoleError> {
    let org = organization_name(&name)?;
    let notice = match q.done.as_deref() {
        Some("saved") => Some("Settings saved."),
        _ => None,
    };
    render(&visitor, &org, notice, None).await
}

/// The settings form.
#[derive(Debug, Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    tag_expiration_s: String,
    #[serde(default)]
    email: String,
}

/// `POST /organization/{name}/settings`.
pub(crate) async fn act(
    Path(name): Path<String>,
    posted: Posted<SettingsForm>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let org = organization_name(&name)?;
    let result = async {
        let seconds: i64 = form
            .tag_expiration_s
            .trim()
            .parse()
            .map_err(|_| ConsoleError::invalid("choose a time-machine window"))?;
        let email = Some(form.email.trim().to_owned()).filter(|e| !e.is_empty());
        visitor
            .identity
            .change_organization(
                &visitor.caller,
                &org,
                OrganizationChange {
                    email,
                    tag_expiration_s: Some(seconds),
                    ..OrganizationChange::default()
                },
            )
            .await?;
        Ok(done(&format!("/organization/{org}/settings"), "saved"))
    }
    .await;
    after_post(result, |why| render(&visitor, &org, None, Some(why))).await
}
