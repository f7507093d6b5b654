//! A repository's mirroring page, for its administrators: the sync status
//! (last and next sync, retries left, the last error) with "sync now" and
//! "cancel", and the mirror's settings (upstream, tag patterns, robot,
//! schedule, TLS, credentials), to create a mirror or change it. The
//! credentials are write-only: the page says whether some are stored,
//! never what they are.

use askama::Template;
use axum::response::Response;
use berth_core::identity::robots::RobotOwner;
use berth_core::registry::{
    ARCHITECTURES, MIN_TIMEOUT_S, Mirror, MirrorInput, RegistryConnection, SyncStatus,
};
use berth_core::{Namespace, RepositoryName};
use serde::Deserialize;

use super::auth::see_other;
use super::dispatch::administered;
use super::error::{ConsoleError, page};
use super::schedule::{SyncForm, interval_in_units, local_time, now_local, patterns, unit_names};
use super::session::{Posted, Visitor};
use super::view::{Chrome, when_or_dash};

/// What the mirroring page is asked.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MirrorQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The form's values: a mirror's, or a new mirror's defaults.
struct Fields {
    external_reference: String,
    tags: String,
    robot: String,
    interval: u64,
    unit: &'static str,
    start: String,
    verify_tls: bool,
    is_enabled: bool,
    timeout_s: i64,
    has_credentials: bool,
    /// Each architecture a filter may keep, and whether it does.
    architectures: Vec<(&'static str, bool)>,
}

/// The sync status as shown.
struct Status {
    name: &'static str,
    running: bool,
    last_sync: String,
    next_sync: String,
    lease: String,
    retries: i64,
    last_error: Option<String>,
    architectures: String,
}

/// The mirroring page.
#[derive(Template)]
#[template(path = "console/mirror.html")]
struct MirrorPage {
    chrome: Chrome,
    name: String,
    visibility: &'static str,
    state: &'static str,
    can_admin: bool,
    tab: &'static str,
    notice: Option<&'static str>,
    /// `None` while the repository is no mirror.
    status: Option<Status>,
    fields: Fields,
    robots: Vec<String>,
    units: Vec<&'static str>,
}

/// What a finished change says.
fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Mirror created: the repository is now in MIRROR state and syncs as scheduled.",
        "saved" => "Mirror settings saved.",
        "sync_now" => "Sync requested: the status changes once a worker takes it.",
        "cancelled" => "Sync cancelled: it stops after the tag it is copying.",
        _ => return None,
    })
}

impl Fields {
    fn of(mirror: &Mirror) -> Fields {
        let (interval, unit) = interval_in_units(mirror.sync_interval_s);
        Fields {
            external_reference: mirror.external_reference.clone(),
            tags: mirror.tag_globs.join(", "),
            robot: mirror.robot_username.clone(),
            interval,
            unit,
            start: mirror.sync_start_ms.map(local_time).unwrap_or_default(),
            verify_tls: mirror.connection.verify_tls,
            is_enabled: mirror.is_enabled,
            timeout_s: mirror.timeout_s,
            has_credentials: mirror.has_credentials,
            architectures: ARCHITECTURES
                .iter()
                .map(|a| (*a, mirror.architecture_filter.iter().flatten().any(|f| f == a)))
                .collect(),
        }
    }

    fn new_mirror() -> Fields {
        Fields {
            external_reference: String::new(),
            tags: "*".to_owned(),
            robot: String::new(),
            interval: 24,
            unit: "hours",
            start: now_local(),
            verify_tls: true,
            is_enabled: true,
            timeout_s: i64::try_from(MIN_TIMEOUT_S).unwrap_or(300),
            has_credentials: false,
            architectures: ARCHITECTURES.iter().map(|a| (*a, false)).collect(),
        }
    }
}

impl Status {
    fn of(mirror: &Mirror) -> Status {
        let running = matches!(mirror.sync_status, SyncStatus::Syncing | SyncStatus::SyncNow);
        Status {
            name: mirror.sync_status.as_str(),
            running,
            last_sync: when_or_dash(mirror.last_sync_ms),
            next_sync: if mirror.sync_interval_s > 0 || mirror.sync_status == SyncStatus::SyncNow {
                when_or_dash(mirror.sync_start_ms)
            } else {
                "only when asked".to_owned()
            },
            lease: when_or_dash(mirror.sync_expiration_ms),
            retries: mirror.sync_retries_remaining,
            last_error: mirror.last_error.clone(),
            architectures: mirror
                .architecture_filter
                .as_ref()
                .map(|a| a.join(", "))
                .unwrap_or_else(|| "every platform".to_owned()),
        }
    }
}

/// The robots of `namespace`, which may write its mirrors.
pub(crate) async fn namespace_robots(visitor: &Visitor, namespace: &str) -> Vec<String> {
    let Ok(ns) = Namespace::new(namespace) else {
        return Vec::new();
    };
    let own = visitor.chrome().user.as_deref() == Some(namespace);
    let owner = if own {
        RobotOwner::Caller
    } else {
        RobotOwner::Organization(&ns)
    };
    // Another user's namespace (a superuser's visit) lists nothing; the
    // robot is then typed by name.
    match visitor.identity.robots(&visitor.caller, owner, false, None).await {
        Ok(list) => list.into_iter().map(|r| r.account.name).collect(),
        Err(_) => Vec::new(),
    }
}

/// `GET /repository/{name}?tab=mirror`: 404 for anyone but its
/// administrators.
pub(crate) async fn show(
    visitor: Visitor,
    repo: RepositoryName,
    query: MirrorQuery,
) -> Result<Response, ConsoleError> {
    let details = administered(&visitor, &repo).await?;
    let mirror = match visitor.registry.mirror(&visitor.caller, &repo).await {
        Ok(m) => Some(m),
        Err(e) => {
            let e = ConsoleError::from(e);
            if !e.is_not_found() {
                return Err(e);
            }
            None
        }
    };
    page(&MirrorPage {
        chrome: visitor.chrome(),
        name: repo.to_string(),
        visibility: details.repository.visibility.as_str(),
        state: details.state.as_str(),
        can_admin: true,
        tab: "mirror",
        notice: query.done.as_deref().and_then(notice),
        status: mirror.as_ref().map(Status::of),
        fields: mirror.as_ref().map(Fields::of).unwrap_or_else(Fields::new_mirror),
        robots: namespace_robots(&visitor, repo.namespace()).await,
        units: unit_names(),
    })
}

/// A change posted from the mirroring page. Checkboxes are present only
/// when ticked.
#[derive(Debug, Deserialize)]
pub(crate) struct MirrorAction {
    action: String,
    #[serde(default)]
    external_reference: String,
    #[serde(default)]
    tags: String,
    /// The architecture checkboxes, present when ticked.
    #[serde(default)]
    arch_amd64: Option<String>,
    #[serde(default)]
    arch_arm64: Option<String>,
    #[serde(default)]
    arch_ppc64le: Option<String>,
    #[serde(default)]
    arch_s390x: Option<String>,
    #[serde(flatten)]
    sync: SyncForm,
}

impl MirrorAction {
    /// The ticked architectures (none: every platform).
    fn architectures(&self) -> Vec<String> {
        [
            ("amd64", &self.arch_amd64),
            ("arm64", &self.arch_arm64),
            ("ppc64le", &self.arch_ppc64le),
            ("s390x", &self.arch_s390x),
        ]
        .into_iter()
        .filter(|(_, ticked)| ticked.is_some())
        .map(|(a, _)| a.to_owned())
        .collect()
    }
}

/// The mirror's settings as the form sets them. Credentials change only
/// when typed (or cleared), so a saved form keeps the stored ones.
fn input(form: &MirrorAction) -> Result<MirrorInput, ConsoleError> {
    let sync = form.sync.read()?;
    let (username, password) = sync.credentials;
    Ok(MirrorInput {
        is_enabled: Some(sync.is_enabled),
        external_reference: Some(form.external_reference.trim().to_owned()),
        username,
        password,
        sync_interval_s: Some(sync.interval_s),
        sync_start_ms: sync.start_ms,
        robot_username: Some(sync.robot),
        tag_globs: Some(patterns(&form.tags)),
        connection: Some(RegistryConnection {
            verify_tls: sync.verify_tls,
            ..RegistryConnection::default()
        }),
        timeout_s: Some(sync.timeout_s),
        architecture_filter: Some(Some(form.architectures()).filter(|a| !a.is_empty())),
    })
}

/// `change` without what already holds in `current`, so the usage log
/// names only what a save changed; the connection keeps the fields the
/// page does not show (proxies, unsigned images).
fn unchanged_dropped(mut change: MirrorInput, current: &Mirror) -> MirrorInput {
    fn keep<T: PartialEq>(value: Option<T>, current: &T) -> Option<T> {
        value.filter(|v| v != current)
    }
    change.external_reference = keep(change.external_reference, &current.external_reference);
    change.robot_username = keep(change.robot_username, &current.robot_username);
    change.tag_globs = keep(change.tag_globs, &current.tag_globs);
    change.sync_interval_s = change
        .sync_interval_s
        .filter(|s| i64::try_from(*s).ok() != Some(current.sync_interval_s));
    change.timeout_s = change
        .timeout_s
        .filter(|t| i64::try_from(*t).ok() != Some(current.timeout_s));
    // A date typed to the minute: unchanged if it is the stored one's minute.
    change.sync_start_ms = change
        .sync_start_ms
        .filter(|s| current.sync_start_ms.map(|c| c - c % 60_000) != Some(*s));
    change.connection = change
        .connection
        .map(|c| RegistryConnection {
            verify_tls: c.verify_tls,
            ..current.connection.clone()
        })
        .filter(|c| *c != current.connection);
    change.architecture_filter = keep(change.architecture_filter, &current.architecture_filter);
    change
}

/// `POST /repository/{name}?tab=mirror`: create or change the mirror, ask
/// for a sync or cancel one, each through the core, which authorizes and
/// logs it.
pub(crate) async fn act(
    repo: RepositoryName,
    posted: Posted<MirrorAction>,
) -> Result<Response, ConsoleError> {
    let Posted { visitor, form } = posted;
    let (registry, caller) = (&visitor.registry, &visitor.caller);
    let done = match form.action.as_str() {
        "create" => {
            registry.create_mirror(caller, &repo, input(&form)?).await?;
            "created"
        }
        "save" => {
            let current = registry.mirror(caller, &repo).await?;
            let change = unchanged_dropped(input(&form)?, &current);
            registry.change_mirror(caller, &repo, change).await?;
            "saved"
        }
        "sync_now" => {
            registry.mirror_sync_now(caller, &repo).await?;
            "sync_now"
        }
        "cancel" => {
            registry.mirror_sync_cancel(caller, &repo).await?;
            "cancelled"
        }
        other => return Err(ConsoleError::invalid(format!("unknown action {other:?}"))),
    };
    Ok(see_other(&format!("/repository/{repo}?tab=mirror&done={done}")))
}
