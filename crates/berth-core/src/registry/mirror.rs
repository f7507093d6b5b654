//! Repository mirroring, as Quay's: a repository in `MIRROR` state keeps an
//! exact copy of the tags of an upstream repository that match its globs,
//! written only by its robot. This module holds the configuration (the
//! API's operations); `mirror/sync.rs` the worker that syncs due mirrors.
//!
//! Upstream credentials are stored only sealed (AES-256-GCM under
//! `DATABASE_SECRET_KEY`, the repository and field as associated data) and
//! are never returned or logged.

mod model;
mod org;
mod sync;

use berth_store::metadata::{MirrorFields, MirrorRow};

use super::{ClientError, Registry};
use crate::Caller;
use crate::identity::{Action, AuditEvent, Role};
use crate::names::RepositoryName;
use crate::upstream::UpstreamRef;

pub use model::{
    ARCHITECTURES, MIN_TIMEOUT_S, Mirror, MirrorInput, MirrorProxy, RegistryConnection, SYNC_RETRIES,
    SyncStatus,
};
pub use org::{
    MIN_ORG_SYNC_INTERVAL_S, ORG_TIMEOUT_S, OrgMirror, OrgMirrorInput, OrgMirrorRepository,
    OrgRepositoryStatus,
};
pub use sync::MIRROR_POLL;

/// The associated data a mirror credential is sealed with.
fn secret_context(repository_id: i64, field: &str) -> String {
    format!("repository mirror {repository_id} {field}")
}

fn invalid(why: impl Into<String>) -> ClientError {
    ClientError::Invalid(why.into())
}

/// Check the globs: at least one, none empty.
fn check_globs(globs: &[String]) -> Result<(), ClientError> {
    if globs.is_empty() || globs.iter().any(|g| g.trim().is_empty()) {
        return Err(invalid(
            "root_rule.rule_value needs at least one non-empty tag pattern",
        ));
    }
    if globs.len() > 100 || globs.iter().any(|g| g.len() > 256) {
        return Err(invalid("too many or too long tag patterns"));
    }
    Ok(())
}

impl Registry {
    /// The mirror of `repo` (its administrators may see it).
    pub async fn mirror(&self, caller: &Caller, repo: &RepositoryName) -> Result<Mirror, ClientError> {
        let id = self.administered_repository(caller, repo).await?;
        let row = self.mirror_row(id, repo).await?;
        Ok(Mirror::from_row(&row))
    }

    async fn mirror_row(&self, id: i64, repo: &RepositoryName) -> Result<MirrorRow, ClientError> {
        self.db
            .mirror(id)
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("repository {repo} has no mirror configuration")))
    }

    /// The id of `repo` once `caller` administers it.
    async fn administered_repository(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
    ) -> Result<i64, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        self.existing_repo(repo)
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("repository {repo} not found")))
    }

    /// Configure `repo` as a mirror: the repository goes to `MIRROR`
    /// state and the robot gets `write` on it if it had less. Logged as
    /// `repo_mirror_enabled` (or `_disabled`).
    pub async fn create_mirror(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        input: MirrorInput,
    ) -> Result<Mirror, ClientError> {
        let id = self.administered_repository(caller, repo).await?;
        self.refuse_in_org_mirror(repo.namespace(), "a repository mirror")
            .await?;
        if self.db.mirror(id).await?.is_some() {
            return Err(ClientError::Conflict(format!(
                "repository {repo} already has a mirror configuration"
            )));
        }
        let required = |what: &str| invalid(format!("{what} is required"));
        let fields = MirrorFields {
            is_enabled: input.is_enabled.unwrap_or(true),
            external_reference: String::new(),
            username_sealed: None,
            password_sealed: None,
            robot_id: 0,
            sync_interval_s: 0,
            sync_start_ms: None,
            tag_globs: String::new(),
            registry_config: String::new(),
            timeout_s: 0,
            architecture_filter: None,
        };
        let input = MirrorInput {
            external_reference: Some(
                input
                    .external_reference
                    .clone()
                    .ok_or_else(|| required("external_reference"))?,
            ),
            sync_interval_s: Some(input.sync_interval_s.ok_or_else(|| required("sync_interval"))?),
            sync_start_ms: Some(input.sync_start_ms.ok_or_else(|| required("sync_start_date"))?),
            robot_username: Some(
                input
                    .robot_username
                    .clone()
                    .ok_or_else(|| required("robot_username"))?,
            ),
            tag_globs: Some(input.tag_globs.clone().ok_or_else(|| required("root_rule"))?),
            connection: Some(input.connection.clone().unwrap_or_default()),
            timeout_s: Some(input.timeout_s.unwrap_or(MIN_TIMEOUT_S)),
            ..input
        };
        let fields = self.apply_input(caller, repo, id, fields, &input).await?;
        if !self.db.create_mirror(id, &fields).await? {
            return Err(ClientError::Conflict(format!(
                "repository {repo} already has a mirror configuration"
            )));
        }
        let kind = if fields.is_enabled {
            "repo_mirror_enabled"
        } else {
            "repo_mirror_disabled"
        };
        self.log(
            AuditEvent::by(kind, caller)
                .repository(repo.as_str())
                .metadata(serde_json::json!({
                    "namespace": repo.namespace(),
                    "repo": repo.short(),
                    "external_reference": fields.external_reference,
                })),
        )
        .await?;
        self.mirror_wakeup.notify_one();
        self.mirror(caller, repo).await
    }

    /// Change the fields of `repo`'s mirror that `input` sets. Logged as
    /// `repo_mirror_config_changed` per field (credentials by name only),
    /// `repo_mirror_enabled`/`_disabled` when that changes.
    pub async fn change_mirror(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        input: MirrorInput,
    ) -> Result<Mirror, ClientError> {
        let id = self.administered_repository(caller, repo).await?;
        let row = self.mirror_row(id, repo).await?;
        let before = MirrorFields {
            is_enabled: row.is_enabled,
            external_reference: row.external_reference.clone(),
            username_sealed: row.username_sealed.clone(),
            password_sealed: row.password_sealed.clone(),
            robot_id: row.robot_id,
            sync_interval_s: row.sync_interval_s,
            sync_start_ms: row.sync_start_ms,
            tag_globs: row.tag_globs.clone(),
            registry_config: row.registry_config.clone(),
            timeout_s: row.timeout_s,
            architecture_filter: row.architecture_filter.clone(),
        };
        let was_enabled = before.is_enabled;
        let fields = self.apply_input(caller, repo, id, before, &input).await?;
        if !self.db.update_mirror(id, &fields).await? {
            return Err(ClientError::NotFound(format!(
                "repository {repo} has no mirror configuration"
            )));
        }
        let mut changed: Vec<(&str, serde_json::Value)> = Vec::new();
        if let Some(v) = &input.external_reference {
            changed.push(("external_reference", v.clone().into()));
        }
        if input.username.is_some() {
            changed.push(("external_registry_username", "(changed)".into()));
        }
        if input.password.is_some() {
            changed.push(("external_registry_password", "(changed)".into()));
        }
        if let Some(v) = input.sync_interval_s {
            changed.push(("sync_interval", v.into()));
        }
        if input.sync_start_ms.is_some() {
            changed.push(("sync_start_date", fields.sync_start_ms.into()));
        }
        if let Some(v) = &input.robot_username {
            changed.push(("robot_username", v.clone().into()));
        }
        if let Some(v) = &input.tag_globs {
            changed.push(("root_rule", v.join(",").into()));
        }
        if input.connection.is_some() {
            changed.push(("external_registry_config", fields.registry_config.clone().into()));
        }
        if let Some(v) = input.timeout_s {
            changed.push(("skopeo_timeout_interval", v.into()));
        }
        if input.architecture_filter.is_some() {
            changed.push(("architecture_filter", fields.architecture_filter.clone().into()));
        }
        for (field, to) in changed {
            self.log(
                AuditEvent::by("repo_mirror_config_changed", caller)
                    .repository(repo.as_str())
                    .metadata(serde_json::json!({
                        "namespace": repo.namespace(), "repo": repo.short(), "changed": field, "to": to,
                    })),
            )
            .await?;
        }
        if fields.is_enabled != was_enabled {
            let kind = if fields.is_enabled {
                "repo_mirror_enabled"
            } else {
                "repo_mirror_disabled"
            };
            self.log(
                AuditEvent::by(kind, caller)
                    .repository(repo.as_str())
                    .metadata(serde_json::json!({
                        "namespace": repo.namespace(), "repo": repo.short(),
                    })),
            )
            .await?;
        }
        self.mirror_wakeup.notify_one();
        self.mirror(caller, repo).await
    }

    /// Validate `input` and lay it over `f`: the upstream passes the
    /// outbound guard, the robot belongs to the namespace (and is given
    /// `write`), credentials are sealed.
    async fn apply_input(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        id: i64,
        mut f: MirrorFields,
        input: &MirrorInput,
    ) -> Result<MirrorFields, ClientError> {
        if let Some(v) = input.is_enabled {
            f.is_enabled = v;
        }
        if let Some(reference) = &input.external_reference {
            let target = UpstreamRef::parse(reference).map_err(|e| invalid(e.to_string()))?;
            self.check_upstream(&target).await?;
            f.external_reference = target.to_string();
        }
        if let Some(v) = input.sync_interval_s {
            f.sync_interval_s = i64::try_from(v).map_err(|_| invalid("sync_interval is too large"))?;
        }
        if let Some(v) = input.sync_start_ms {
            f.sync_start_ms = Some(v);
        }
        if let Some(globs) = &input.tag_globs {
            check_globs(globs)?;
            f.tag_globs = serde_json::to_string(globs).map_err(|e| invalid(e.to_string()))?;
        }
        if let Some(c) = &input.connection {
            f.registry_config = serde_json::to_string(c).map_err(|e| invalid(e.to_string()))?;
        }
        if let Some(t) = input.timeout_s {
            if t < MIN_TIMEOUT_S {
                return Err(invalid(format!(
                    "skopeo_timeout_interval must be at least {MIN_TIMEOUT_S} seconds"
                )));
            }
            f.timeout_s = i64::try_from(t).map_err(|_| invalid("skopeo_timeout_interval is too large"))?;
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
                    // A filtered index is stored sparse.
                    if !self.config.sparse_index.enabled {
                        return Err(invalid(
                            "architecture_filter needs sparse indexes: set FEATURE_SPARSE_INDEX: true in the registry's configuration",
                        ));
                    }
                    Some(serde_json::to_string(archs).map_err(|e| invalid(e.to_string()))?)
                }
                _ => None,
            };
        }
        if let Some(robot) = &input.robot_username {
            f.robot_id = self.mirror_robot_for(caller, repo, id, robot).await?;
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
            f.username_sealed = self.seal_credential(id, "username", username.as_deref())?;
        }
        if let Some(password) = &input.password {
            f.password_sealed = self.seal_credential(id, "password", password.as_deref())?;
        }
        Ok(f)
    }

    /// Refuse an upstream the outbound guard refuses: IP literals now,
    /// names by what they resolve to (if they resolve at all now).
    async fn check_upstream(&self, target: &UpstreamRef) -> Result<(), ClientError> {
        let guard = &self.config.notifications.ssrf;
        guard
            .check_url(&format!("https://{}/", target.host))
            .map_err(|e| invalid(format!("external_reference: {e}")))?;
        let host = target
            .host
            .rsplit_once(':')
            .map_or(target.host.as_str(), |(h, p)| {
                if p.parse::<u16>().is_ok() {
                    h
                } else {
                    target.host.as_str()
                }
            });
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.parse::<std::net::IpAddr>().is_err()
            && let Err(e @ crate::ssrf::SsrfError::Refused { .. }) = guard.resolve(host, 443).await
        {
            return Err(invalid(format!("external_reference: {e}")));
        }
        Ok(())
    }

    /// The id of robot `name` of `repo`'s namespace, given `write` on the
    /// repository unless it has `write` or `admin` already.
    async fn mirror_robot_for(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        id: i64,
        name: &str,
    ) -> Result<i64, ClientError> {
        let account = self
            .db
            .account_by_name(name)
            .await?
            .filter(|a| a.kind == "robot" && name.split_once('+').map(|(ns, _)| ns) == Some(repo.namespace()))
            .ok_or_else(|| {
                invalid(format!(
                    "robot_username: {name} is not a robot of namespace {}",
                    repo.namespace()
                ))
            })?;
        let has_write = self
            .db
            .repository_permissions(id)
            .await?
            .iter()
            .any(|g| g.account.as_deref() == Some(name) && matches!(g.role.as_str(), "write" | "admin"));
        if !has_write {
            self.identity
                .grant_to_account(caller, repo, name, Role::Write)
                .await?;
        }
        Ok(account.id)
    }

    /// Seal one credential field; clearing needs no key.
    fn seal_credential(
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

    /// Open a sealed credential; `None` if it does not open (another key).
    fn open_credential(&self, id: i64, field: &str, sealed: Option<&[u8]>) -> Option<String> {
        let sealed = sealed?;
        self.config
            .notifications
            .secrets
            .as_ref()?
            .open(&secret_context(id, field), sealed)
    }

    /// Ask for a sync of `repo`'s mirror now (unless one is running).
    /// Logged as `repo_mirror_sync_now_requested`.
    pub async fn mirror_sync_now(&self, caller: &Caller, repo: &RepositoryName) -> Result<(), ClientError> {
        let id = self.administered_repository(caller, repo).await?;
        self.mirror_row(id, repo).await?;
        if !self.db.mirror_sync_now(id).await? {
            return Err(ClientError::NotFound(format!(
                "the mirror of {repo} is syncing already"
            )));
        }
        self.log(
            AuditEvent::by("repo_mirror_sync_now_requested", caller)
                .repository(repo.as_str())
                .metadata(serde_json::json!({ "namespace": repo.namespace(), "repo": repo.short() })),
        )
        .await?;
        self.mirror_wakeup.notify_one();
        Ok(())
    }

    /// Cancel a running or requested sync of `repo`'s mirror; the worker
    /// stops after the tag it is copying.
    pub async fn mirror_sync_cancel(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
    ) -> Result<(), ClientError> {
        let id = self.administered_repository(caller, repo).await?;
        self.mirror_row(id, repo).await?;
        if !self.db.mirror_sync_cancel(id).await? {
            return Err(ClientError::NotFound(format!(
                "no sync of {repo} is running or requested"
            )));
        }
        self.log(
            AuditEvent::by("repo_mirror_sync_cancelled", caller)
                .repository(repo.as_str())
                .metadata(serde_json::json!({ "namespace": repo.namespace(), "repo": repo.short() })),
        )
        .await
    }
}

/// When a mirror started at `start_ms` every `interval_s` syncs next after
/// `now` (ms); `None` for an interval of 0 (syncs only when asked).
pub fn next_start(start_ms: Option<i64>, interval_s: i64, now: i64) -> Option<i64> {
    if interval_s <= 0 {
        return None;
    }
    let interval = interval_s.saturating_mul(1000);
    let start = start_ms.unwrap_or(now);
    if start > now {
        return Some(start);
    }
    let periods = (now - start) / interval + 1;
    Some(start.saturating_add(periods.saturating_mul(interval)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_start_is_the_next_interval_point_after_now() {
        assert_eq!(next_start(Some(1_000), 10, 5_000), Some(11_000));
        assert_eq!(next_start(Some(1_000), 10, 11_000), Some(21_000));
        assert_eq!(next_start(Some(50_000), 10, 5_000), Some(50_000));
        assert_eq!(next_start(Some(1_000), 0, 5_000), None);
    }

    #[test]
    fn statuses_have_quays_names() {
        for s in ["NEVER_RUN", "SYNC_NOW", "SYNCING", "SUCCESS", "FAIL", "CANCEL"] {
            assert_eq!(SyncStatus::stored(s).as_str(), s);
        }
    }
}
