//! An organization's mirroring page, for its administrators: the
//! discovery's status with the repositories it found (each with its sync
//! status, or why it is skipped), "sync now", "cancel", a check of the
//! upstream, and the settings (upstream registry and namespace, repository
//! patterns, robot, visibility, schedule, TLS, write-only credentials) to
//! create the mirror, change it or remove it.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use berth_core::registry::{
    MIN_ORG_SYNC_INTERVAL_S, ORG_TIMEOUT_S, OrgMirror, OrgMirrorInput, RegistryConnection, SyncStatus,
};
use berth_core::upstream::RegistryKind;
use berth_core::{Namespace, Visibility};
use serde::Deserialize;

use super::auth::see_other;
use super::error::{ConsoleError, page};
use super::members::{Notice, organization_name};
use super::mirror::namespace_robots;
use super::outcome::{after_post, done};
use super::schedule::{SyncForm, interval_in_units, local_time, now_local, patterns, unit_names};
use super::session::{Posted, Visitor};
use super::view::{Chrome, when_or_dash};

/// The form's values: the mirror's, or a new one's defaults.
struct Fields {
    registry_type: &'static str,
    registry_url: String,
    external_namespace: String,
    filters: String,
    robot: String,
    visibility: &'static str,
    interval: u64,
    unit: &'static str,
    start: String,
    verify_tls: bool,
    is_enabled: bool,
    timeout_s: i64,
    has_credentials: bool,
}

/// The discovery's status as shown.
struct Status {
    name: &'static str,
    running: bool,
    last_sync: String,
    next_sync: String,
    retries: i64,
    last_error: Option<String>,
}

/// A discovered repository.
struct RepoRow {
    name: String,
    status: &'static str,
    reason: String,
    last_sync: String,
    last_error: String,
}

/// The organization's mirroring page.
#[derive(Template)]
#[template(path = "console/org_mirror.html")]
struct OrgMirrorPage {
    chrome: Chrome,
    name: String,
    is_admin: bool,
    tab: &'static str,
    status: Option<Status>,
    repositories: Vec<RepoRow>,
    fields: Fields,
    robots: Vec<String>,
    units: Vec<&'static str>,
    min_interval: u64,
    timeouts: (u64, u64),
    notice: Option<String>,
    problem: Option<String>,
}

impl Fields {
    fn of(m: &OrgMirror) -> Fields {
        let (interval, unit) = interval_in_units(m.sync_interval_s);
        Fields {
            registry_type: m.registry_type.as_str(),
            registry_url: m.registry_url.clone(),
            external_namespace: m.external_namespace.clone(),
            filters: m.repository_filters.join(", "),
            robot: m.robot_username.clone(),
            visibility: m.visibility.as_str(),
            interval,
            unit,
            start: m.sync_start_ms.map(local_time).unwrap_or_default(),
            verify_tls: m.connection.verify_tls,
            is_enabled: m.is_enabled,
            timeout_s: m.timeout_s,
            has_credentials: m.has_credentials,
        }
    }

    fn new_mirror() -> Fields {
        Fields {
            registry_type: RegistryKind::Quay.as_str(),
            registry_url: String::new(),
            external_namespace: String::new(),
            filters: String::new(),
            robot: String::new(),
            visibility: Visibility::Private.as_str(),
            interval: 1,
            unit: "days",
            start: now_local(),
            verify_tls: true,
            is_enabled: true,
            timeout_s: i64::try_from(ORG_TIMEOUT_S.2).unwrap_or(300),
            has_credentials: false,
        }
    }
}

impl Status {
    fn of(m: &OrgMirror) -> Status {
        Status {
            name: m.sync_status.as_str(),
            running: matches!(m.sync_status, SyncStatus::Syncing | SyncStatus::SyncNow),
            last_sync: when_or_dash(m.last_sync_ms),
            next_sync: when_or_dash(m.sync_start_ms),
            retries: m.sync_retries_remaining,
            last_error: m.last_error.clone(),
        }
    }
}

async fn render(
    visitor: &Visitor,
    org: &Namespace,
    notice: Option<String>,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let details = visitor
        .identity
        .organization_details(&visitor.caller, org)
        .await?;
    if !details.is_admin {
        return Err(ConsoleError::forbidden(format!(
            "only administrators of {org} manage its mirroring"
        )));
    }
    let (registry, caller) = (&visitor.registry, &visitor.caller);
    let mirror = match registry.org_mirror(caller, org).await {
        Ok(m) => Some(m),
        Err(e) => {
            let e = ConsoleError::from(e);
            if !e.is_not_found() {
                return Err(e);
            }
            None
        }
    };
    let repositories = match &mirror {
        Some(_) => registry
            .org_mirror_repositories(caller, org)
            .await?
            .into_iter()
            .map(|r| RepoRow {
                name: r.name,
                status: r.status.as_str(),
                reason: r.skip_reason.unwrap_or_default(),
                last_sync: when_or_dash(r.last_sync_ms),
                last_error: r.last_error.unwrap_or_default(),
            })
            .collect(),
        None => Vec::new(),
    };
    page(&OrgMirrorPage {
        chrome: visitor.chrome(),
        name: details.name,
        is_admin: true,
        tab: "mirror",
        status: mirror.as_ref().map(Status::of),
        repositories,
        fields: mirror.as_ref().map(Fields::of).unwrap_or_else(Fields::new_mirror),
        robots: namespace_robots(visitor, org.as_str()).await,
        units: unit_names(),
        min_interval: MIN_ORG_SYNC_INTERVAL_S,
        timeouts: (ORG_TIMEOUT_S.0, ORG_TIMEOUT_S.1),
        notice,
        problem,
    })
}

/// `GET /organization/{name}/mirror`.
pub(crate) async fn show(
    visitor: Visitor,
    Path(name): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, ConsoleError> {
    let org = organization_name(&name)?;
    let notice = match q.done.as_deref() {
        Some("created") => Some("Organization mirror created: its first discovery runs as scheduled."),
        Some("saved") => Some("Mirror settings saved; its repositories take them at the next discovery."),
        Some("sync_now") => Some("Sync requested: the discovery, then every repository's sync."),
        Some("cancelled") => Some("Syncs cancelled."),
        Some("removed") => Some("Organization mirror removed; its repositories stay, as ordinary ones."),
        _ => None,
    };
    render(&visitor, &org, notice.map(str::to_owned), None).await
}

/// A post from the page. Checkboxes are present only when ticked.
#[derive(Debug, Deserialize)]
pub(crate) struct OrgMirrorForm {
    action: String,
    #[serde(default)]
    registry_type: String,
    #[serde(default)]
    registry_url: String,
    #[serde(default)]
    external_namespace: String,
    #[serde(default)]
    filters: String,
    #[serde(default)]
    visibility: String,
    #[serde(flatten)]
    sync: SyncForm,
}

impl OrgMirrorForm {
    /// The settings as the form sets them; the connection's fields the
    /// page does not show are taken from `current`.
    fn input(&self, current: Option<&OrgMirror>) -> Result<OrgMirrorInput, ConsoleError> {
        let registry_type = RegistryKind::parse(&self.registry_type).ok_or_else(|| {
            ConsoleError::invalid(format!("{:?} is not quay or harbor", self.registry_type))
        })?;
        let visibility = Visibility::parse(&self.visibility)
            .ok_or_else(|| ConsoleError::invalid("visibility must be public or private"))?;
        let sync = self.sync.read()?;
        let (username, password) = sync.credentials;
        let connection = RegistryConnection {
            verify_tls: sync.verify_tls,
            ..current.map(|m| m.connection.clone()).unwrap_or_default()
        };
        Ok(OrgMirrorInput {
            is_enabled: Some(sync.is_enabled),
            registry_type: Some(registry_type),
            registry_url: Some(self.registry_url.trim().to_owned()),
            external_namespace: Some(self.external_namespace.trim().to_owned()),
            username,
            password,
            robot_username: Some(sync.robot),
            visibility: Some(visibility),
            sync_interval_s: Some(sync.interval_s),
            sync_start_ms: sync.start_ms,
            repository_filters: Some(patterns(&self.filters)),
            connection: Some(connection),
            timeout_s: Some(sync.timeout_s),
            architecture_filter: None,
        })
    }
}

/// `POST /organization/{name}/mirror`: each action through the core,
/// which authorizes and logs it. A check answers with the page, saying
/// how many repositories the upstream namespace holds.
pub(crate) async fn act(
    Path(name): Path<String>,
    posted: Posted<OrgMirrorForm>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let org = organization_name(&name)?;
    let (registry, caller) = (&visitor.registry, &visitor.caller);
    let path = format!("/organization/{org}/mirror");
    let result: Result<Result<String, usize>, ConsoleError> = async {
        let code = match form.action.as_str() {
            "create" => {
                registry
                    .create_org_mirror(caller, &org, form.input(None)?)
                    .await?;
                "created"
            }
            "save" => {
                let current = registry.org_mirror(caller, &org).await?;
                registry
                    .change_org_mirror(caller, &org, form.input(Some(&current))?)
                    .await?;
                "saved"
            }
            "sync_now" => {
                registry.org_mirror_sync_now(caller, &org).await?;
                "sync_now"
            }
            "cancel" => {
                registry.org_mirror_sync_cancel(caller, &org).await?;
                "cancelled"
            }
            "remove" => {
                registry.delete_org_mirror(caller, &org).await?;
                "removed"
            }
            "verify" => return Ok(Err(registry.verify_org_mirror(caller, &org).await?)),
            other => return Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
        };
        Ok(Ok(done(&path, code)))
    }
    .await;
    match result {
        Ok(Ok(to)) => Ok(see_other(&to)),
        Ok(Err(count)) => {
            let said = format!("The upstream answered: its namespace holds {count} repositories.");
            render(&visitor, &org, Some(said), None).await
        }
        Err(e) => after_post(Err(e), |why| render(&visitor, &org, None, Some(why))).await,
    }
}
