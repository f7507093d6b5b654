//! Organization mirrors, as Quay 3.17's: every repository of an upstream
//! namespace (a Quay or Berth organization, a Harbor project) whose name
//! matches the filters is mirrored into one organization. This module holds
//! the configuration (the API's operations); `org/discover.rs` the worker
//! round that lists the upstream namespace and makes a `MIRROR`
//! repository with a repository mirror for each match, which the
//! repository-mirror worker then syncs.
//!
//! Inside an organization mirror, users create no repositories and
//! configure no repository mirrors, and it is never a proxy cache too.
//! Upstream credentials are sealed as repository mirrors' are (the
//! organization and field as associated data), and re-sealed for each
//! repository mirror made from them.

mod discover;
mod model;

pub use model::{OrgMirror, OrgMirrorInput, OrgMirrorRepository, OrgRepositoryStatus};

use std::time::Duration;

use berth_store::metadata::{OrgMirrorFields, OrgMirrorRow};

use super::{ARCHITECTURES, RegistryConnection, SyncStatus, invalid};
use crate::Caller;
use crate::identity::AuditEvent;
use crate::names::Namespace;
use crate::registry::{ClientError, Registry};
use crate::upstream::{Credentials, NamespaceLister, RegistryKind};

/// Shortest time between discoveries (Quay's).
pub const MIN_ORG_SYNC_INTERVAL_S: u64 = 60;
/// Bounds of `skopeo_timeout` (Quay's), and its default.
pub const ORG_TIMEOUT_S: (u64, u64, u64) = (30, 3600, 300);

/// The associated data an organization mirror credential is sealed with.
fn secret_context(account_id: i64, field: &str) -> String {
    format!("organization mirror {account_id} {field}")
}

/// Check repository filters: at most 100, none empty or over 256 bytes.
fn check_filters(filters: &[String]) -> Result<(), ClientError> {
    if filters.iter().any(|g| g.trim().is_empty()) {
        return Err(invalid("repository_filters may not hold an empty pattern"));
    }
    if filters.len() > 100 || filters.iter().any(|g| g.len() > 256) {
        return Err(invalid("too many or too long repository_filters"));
    }
    Ok(())
}

/// Check an upstream namespace name (it becomes a URL path segment).
fn check_namespace(ns: &str) -> Result<(), ClientError> {
    let ok = !ns.is_empty()
        && ns.len() <= 255
        && ns
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "external_namespace {ns:?} is not a namespace name (lower-case letters, digits, '.', '_', '-')"
        )))
    }
}

impl Registry {
    /// Organization `ns` (not found if it is none) once `caller`
    /// administers it.
    async fn mirrored_org(&self, caller: &Caller, ns: &Namespace) -> Result<i64, ClientError> {
        self.administered_namespace(caller, ns)
            .await?
            .filter(|a| a.kind == crate::AccountKind::Organization.as_str())
            .map(|a| a.id)
            .ok_or_else(|| ClientError::NotFound(format!("organization {ns} not found")))
    }

    async fn org_mirror_row(&self, id: i64, ns: &Namespace) -> Result<OrgMirrorRow, ClientError> {
        self.db
            .org_mirror(id)
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("organization {ns} has no mirror configuration")))
    }

    /// Refuse what an organization mirror forbids in namespace `ns`
    /// (`what` says what was asked).
    pub(crate) async fn refuse_in_org_mirror(&self, ns: &str, what: &str) -> Result<(), ClientError> {
        if self.db.is_org_mirror_namespace(ns).await? {
            return Err(invalid(format!(
                "organization {ns} is an organization mirror: {what} is not allowed in it"
            )));
        }
        Ok(())
    }

    /// The mirror of organization `ns` (its administrators may see it).
    pub async fn org_mirror(&self, caller: &Caller, ns: &Namespace) -> Result<OrgMirror, ClientError> {
        let id = self.mirrored_org(caller, ns).await?;
        Ok(OrgMirror::from_row(&self.org_mirror_row(id, ns).await?))
    }

    /// Make organization `ns` a mirror of an upstream namespace. Logged as
    /// `org_mirror_enabled` (or `_disabled`).
    pub async fn create_org_mirror(
        &self,
        caller: &Caller,
        ns: &Namespace,
        input: OrgMirrorInput,
    ) -> Result<OrgMirror, ClientError> {
        let id = self.mirrored_org(caller, ns).await?;
        if self.db.org_mirror(id).await?.is_some() {
            return Err(ClientError::Conflict(format!(
                "organization {ns} already has a mirror configuration"
            )));
        }
        if self.db.proxy_config(ns.as_str()).await?.is_some() {
            return Err(invalid(format!(
                "organization {ns} is a proxy cache: proxy cache and organization mirroring are mutually exclusive"
            )));
        }
        let required = |what: &str| invalid(format!("{what} is required"));
        for (missing, what) in [
            (input.registry_type.is_none(), "external_registry_type"),
            (input.registry_url.is_none(), "external_registry_url"),
            (input.external_namespace.is_none(), "external_namespace"),
            (input.robot_username.is_none(), "robot_username"),
            (input.visibility.is_none(), "visibility"),
            (input.sync_interval_s.is_none(), "sync_interval"),
            (input.sync_start_ms.is_none(), "sync_start_date"),
        ] {
            if missing {
                return Err(required(what));
            }
        }
        let blank = OrgMirrorFields {
            is_enabled: true,
            registry_type: String::new(),
            registry_url: String::new(),
            external_namespace: String::new(),
            username_sealed: None,
            password_sealed: None,
            robot_id: 0,
            visibility: String::new(),
            sync_interval_s: 0,
            sync_start_ms: None,
            repository_filters: "[]".into(),
            registry_config: serde_json::to_string(&RegistryConnection::default())
                .map_err(|e| invalid(e.to_string()))?,
            timeout_s: i64::try_from(ORG_TIMEOUT_S.2).unwrap_or(300),
            architecture_filter: None,
        };
        let fields = self.apply_org_input(ns, id, blank, &input).await?;
        if !self.db.create_org_mirror(id, &fields).await? {
            return Err(ClientError::Conflict(format!(
                "organization {ns} already has a mirror configuration"
            )));
        }
        let kind = if fields.is_enabled {
            "org_mirror_enabled"
        } else {
            "org_mirror_disabled"
        };
        self.log(
            AuditEvent::by(kind, caller)
                .namespace(ns.as_str())
                .metadata(serde_json::json!({
                    "namespace": ns.as_str(),
                    "external_registry_url": fields.registry_url,
                    "external_namespace": fields.external_namespace,
                })),
        )
        .await?;
        self.mirror_wakeup.notify_one();
        self.org_mirror(caller, ns).await
    }

    /// Change the fields of organization `ns`'s mirror that `input` sets;
    /// its repositories take the change at the next discovery. Logged as
    /// `org_mirror_config_changed` (credentials by name only).
    pub async fn change_org_mirror(
        &self,
        caller: &Caller,
        ns: &Namespace,
        input: OrgMirrorInput,
    ) -> Result<OrgMirror, ClientError> {
        let id = self.mirrored_org(caller, ns).await?;
        let row = self.org_mirror_row(id, ns).await?;
        let before = OrgMirrorFields {
            is_enabled: row.is_enabled,
            registry_type: row.registry_type.clone(),
            registry_url: row.registry_url.clone(),
            external_namespace: row.external_namespace.clone(),
            username_sealed: row.username_sealed.clone(),
            password_sealed: row.password_sealed.clone(),
            robot_id: row.robot_id,
            visibility: row.visibility.clone(),
            sync_interval_s: row.sync_interval_s,
            sync_start_ms: row.sync_start_ms,
            repository_filters: row.repository_filters.clone(),
            registry_config: row.registry_config.clone(),
            timeout_s: row.timeout_s,
            architecture_filter: row.architecture_filter.clone(),
        };
        let was_enabled = before.is_enabled;
        let fields = self.apply_org_input(ns, id, before, &input).await?;
        if !self.db.update_org_mirror(id, &fields).await? {
            return Err(ClientError::NotFound(format!(
                "organization {ns} has no mirror configuration"
            )));
        }
        // At once, not at the next discovery: a disabled mirror discovers nothing.
        if fields.is_enabled != was_enabled {
            self.db
                .enable_org_mirror_repositories(id, fields.is_enabled)
                .await?;
        }
        let mut changed = Vec::new();
        for (set, name) in [
            (input.is_enabled.is_some(), "is_enabled"),
            (input.registry_type.is_some(), "external_registry_type"),
            (input.registry_url.is_some(), "external_registry_url"),
            (input.external_namespace.is_some(), "external_namespace"),
            (input.username.is_some(), "external_registry_username"),
            (input.password.is_some(), "external_registry_password"),
            (input.robot_username.is_some(), "robot_username"),
            (input.visibility.is_some(), "visibility"),
            (input.sync_interval_s.is_some(), "sync_interval"),
            (input.sync_start_ms.is_some(), "sync_start_date"),
            (input.repository_filters.is_some(), "repository_filters"),
            (input.connection.is_some(), "external_registry_config"),
            (input.timeout_s.is_some(), "skopeo_timeout"),
            (input.architecture_filter.is_some(), "architecture_filter"),
        ] {
            if set {
                changed.push(name);
            }
        }
        self.log(
            AuditEvent::by("org_mirror_config_changed", caller)
                .namespace(ns.as_str())
                .metadata(serde_json::json!({ "namespace": ns.as_str(), "changed": changed })),
        )
        .await?;
        self.mirror_wakeup.notify_one();
        self.org_mirror(caller, ns).await
    }

    /// Remove organization `ns`'s mirror: its repositories keep what they
    /// hold and become ordinary (`NORMAL`, no repository mirror). Logged as
    /// `org_mirror_deleted`.
    pub async fn delete_org_mirror(&self, caller: &Caller, ns: &Namespace) -> Result<(), ClientError> {
        let id = self.mirrored_org(caller, ns).await?;
        if !self.db.delete_org_mirror(id).await? {
            return Err(ClientError::NotFound(format!(
                "organization {ns} has no mirror configuration"
            )));
        }
        self.log(
            AuditEvent::by("org_mirror_deleted", caller)
                .namespace(ns.as_str())
                .metadata(serde_json::json!({ "namespace": ns.as_str() })),
        )
        .await
    }

    /// Validate `input` and lay it over `f`: the upstream passes the
    /// outbound guard, the robot belongs to the organization, credentials
    /// are sealed.
    async fn apply_org_input(
        &self,
        ns: &Namespace,
        id: i64,
        mut f: OrgMirrorFields,
        input: &OrgMirrorInput,
    ) -> Result<OrgMirrorFields, ClientError> {
        if let Some(v) = input.is_enabled {
            f.is_enabled = v;
        }
        if let Some(kind) = input.registry_type {
            f.registry_type = kind.as_str().into();
        }
        if let Some(c) = &input.connection {
            f.registry_config = serde_json::to_string(c).map_err(|e| invalid(e.to_string()))?;
        }
        if let Some(url) = &input.registry_url {
            f.registry_url = url.trim_end_matches('/').to_owned();
        }
        let connection: RegistryConnection = serde_json::from_str(&f.registry_config).unwrap_or_default();
        if input.registry_url.is_some() || input.connection.is_some() {
            self.check_registry_url(&f.registry_url, connection.verify_tls)
                .await?;
        }
        if let Some(v) = &input.external_namespace {
            check_namespace(v)?;
            f.external_namespace = v.clone();
        }
        if let Some(v) = input.visibility {
            f.visibility = v.as_str().into();
        }
        if let Some(v) = input.sync_interval_s {
            if v < MIN_ORG_SYNC_INTERVAL_S {
                return Err(invalid(format!(
                    "sync_interval must be at least {MIN_ORG_SYNC_INTERVAL_S} seconds"
                )));
            }
            f.sync_interval_s = i64::try_from(v).map_err(|_| invalid("sync_interval is too large"))?;
        }
        if let Some(v) = input.sync_start_ms {
            f.sync_start_ms = Some(v);
        }
        if let Some(filters) = &input.repository_filters {
            check_filters(filters)?;
            f.repository_filters = serde_json::to_string(filters).map_err(|e| invalid(e.to_string()))?;
        }
        if let Some(t) = input.timeout_s {
            let (min, max, _) = ORG_TIMEOUT_S;
            if !(min..=max).contains(&t) {
                return Err(invalid(format!(
                    "skopeo_timeout must be between {min} and {max} seconds"
                )));
            }
            f.timeout_s = i64::try_from(t).map_err(|_| invalid("skopeo_timeout is too large"))?;
        }
        if let Some(filter) = &input.architecture_filter {
            f.architecture_filter = match filter {
                Some(archs) if !archs.is_empty() => {
                    if let Some(bad) = archs.iter().find(|a| !ARCHITECTURES.contains(&a.as_str())) {
                        return Err(invalid(format!(
                            "architecture_filter: {bad} is not one of {}",
                            ARCHITECTURES.join(", ")
                        )));
                    }
                    Some(serde_json::to_string(archs).map_err(|e| invalid(e.to_string()))?)
                }
                _ => None,
            };
        }
        if let Some(name) = &input.robot_username {
            f.robot_id = self
                .db
                .account_by_name(name)
                .await?
                .filter(|a| a.kind == "robot" && name.split_once('+').map(|(o, _)| o) == Some(ns.as_str()))
                .ok_or_else(|| {
                    invalid(format!(
                        "robot_username: {name} is not a robot of organization {ns}"
                    ))
                })?
                .id;
        }
        if input.password.as_ref().is_some_and(Option::is_some)
            && input.username.is_none()
            && f.username_sealed.is_none()
        {
            return Err(invalid(
                "external_registry_password needs external_registry_username",
            ));
        }
        if let Some(username) = &input.username {
            f.username_sealed = self.seal_org_credential(id, "username", username.as_deref())?;
        }
        if let Some(password) = &input.password {
            f.password_sealed = self.seal_org_credential(id, "password", password.as_deref())?;
        }
        Ok(f)
    }

    /// Refuse a registry URL that is not `http[s]://host[:port]`, is plain
    /// HTTP while TLS is verified, or that the outbound guard refuses.
    async fn check_registry_url(&self, url: &str, verify_tls: bool) -> Result<(), ClientError> {
        let guard = &self.config.notifications.ssrf;
        let parsed = guard
            .check_url(url)
            .map_err(|e| invalid(format!("external_registry_url: {e}")))?;
        if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "external_registry_url must be http[s]://host[:port], without a path",
            ));
        }
        if parsed.scheme() == "http" && verify_tls {
            return Err(invalid(
                "external_registry_url: plain http needs external_registry_config.verify_tls false",
            ));
        }
        let host = parsed.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.parse::<std::net::IpAddr>().is_err()
            && let Err(e @ crate::ssrf::SsrfError::Refused { .. }) = guard
                .resolve(host, parsed.port_or_known_default().unwrap_or(443))
                .await
        {
            return Err(invalid(format!("external_registry_url: {e}")));
        }
        Ok(())
    }

    fn seal_org_credential(
        &self,
        id: i64,
        field: &str,
        value: Option<&str>,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let secrets = self
            .config
            .notifications
            .secrets
            .as_ref()
            .ok_or_else(|| invalid("upstream credentials need DATABASE_SECRET_KEY to be configured"))?;
        secrets
            .seal(&secret_context(id, field), value)
            .map(Some)
            .map_err(|e| invalid(e.to_string()))
    }

    /// The opened credentials of an organization mirror; an error if they
    /// do not open (another key).
    fn org_credentials(&self, row: &OrgMirrorRow) -> Result<Option<Credentials>, String> {
        let open = |field: &str, sealed: Option<&[u8]>| -> Result<Option<String>, String> {
            let Some(sealed) = sealed else {
                return Ok(None);
            };
            self.config
                .notifications
                .secrets
                .as_ref()
                .and_then(|s| s.open(&secret_context(row.account_id, field), sealed))
                .map(Some)
                .ok_or_else(|| {
                    "the upstream credentials cannot be decrypted (DATABASE_SECRET_KEY changed?): set them again"
                        .to_owned()
                })
        };
        let username = open("username", row.username_sealed.as_deref())?;
        let password = open("password", row.password_sealed.as_deref())?;
        Ok(username.map(|username| Credentials {
            username,
            password: password.unwrap_or_default(),
        }))
    }

    /// The lister of an organization mirror's upstream namespace.
    fn org_lister(&self, row: &OrgMirrorRow) -> Result<NamespaceLister, String> {
        let kind = RegistryKind::parse(&row.registry_type)
            .ok_or_else(|| format!("unknown registry type {}", row.registry_type))?;
        let connection: RegistryConnection = serde_json::from_str(&row.registry_config).unwrap_or_default();
        NamespaceLister::new(
            self.config.notifications.ssrf.clone(),
            kind,
            &row.registry_url,
            &row.external_namespace,
            connection.verify_tls,
            self.org_credentials(row)?,
            Duration::from_secs(u64::try_from(row.timeout_s).unwrap_or(300)),
        )
        .map_err(|e| e.to_string())
    }

    /// Check that organization `ns`'s upstream answers and accepts the
    /// credentials: lists the upstream namespace. Returns how many
    /// repositories it holds.
    pub async fn verify_org_mirror(&self, caller: &Caller, ns: &Namespace) -> Result<usize, ClientError> {
        let id = self.mirrored_org(caller, ns).await?;
        let row = self.org_mirror_row(id, ns).await?;
        let lister = self.org_lister(&row).map_err(invalid)?;
        let names = lister.list().await.map_err(|e| {
            invalid(format!(
                "upstream namespace {} at {}: {e}",
                row.external_namespace, row.registry_url
            ))
        })?;
        Ok(names.len())
    }

    /// Ask for a discovery now and a sync of every mirrored repository.
    /// Logged as `org_mirror_sync_now_requested`.
    pub async fn org_mirror_sync_now(&self, caller: &Caller, ns: &Namespace) -> Result<(), ClientError> {
        let id = self.mirrored_org(caller, ns).await?;
        self.org_mirror_row(id, ns).await?;
        if !self.db.org_mirror_sync_now(id).await? {
            return Err(ClientError::NotFound(format!(
                "the mirror of organization {ns} is discovering already"
            )));
        }
        self.log(
            AuditEvent::by("org_mirror_sync_now_requested", caller)
                .namespace(ns.as_str())
                .metadata(serde_json::json!({ "namespace": ns.as_str() })),
        )
        .await?;
        self.mirror_wakeup.notify_one();
        Ok(())
    }

    /// Cancel a running or requested discovery and the syncs of its
    /// repositories. Logged as `org_mirror_sync_cancelled`.
    pub async fn org_mirror_sync_cancel(&self, caller: &Caller, ns: &Namespace) -> Result<(), ClientError> {
        let id = self.mirrored_org(caller, ns).await?;
        self.org_mirror_row(id, ns).await?;
        if !self.db.org_mirror_sync_cancel(id).await? {
            return Err(ClientError::NotFound(format!(
                "no sync of organization {ns} is running or requested"
            )));
        }
        self.log(
            AuditEvent::by("org_mirror_sync_cancelled", caller)
                .namespace(ns.as_str())
                .metadata(serde_json::json!({ "namespace": ns.as_str() })),
        )
        .await
    }

    /// The repositories organization `ns`'s mirror discovered, with their
    /// status.
    pub async fn org_mirror_repositories(
        &self,
        caller: &Caller,
        ns: &Namespace,
    ) -> Result<Vec<OrgMirrorRepository>, ClientError> {
        let id = self.mirrored_org(caller, ns).await?;
        self.org_mirror_row(id, ns).await?;
        Ok(self
            .db
            .org_mirror_repositories(id)
            .await?
            .into_iter()
            .map(|r| OrgMirrorRepository {
                status: match (&r.skip_reason, &r.sync_status) {
                    (None, Some(s)) => OrgRepositoryStatus::Sync(SyncStatus::stored(s)),
                    (None, None) => OrgRepositoryStatus::Sync(SyncStatus::NeverRun),
                    (Some(_), _) => OrgRepositoryStatus::Skip,
                },
                name: r.name,
                skip_reason: r.skip_reason,
                discovered_ms: r.discovered_ms,
                last_sync_ms: r.last_sync_ms,
                last_error: r.last_error,
            })
            .collect())
    }
}
