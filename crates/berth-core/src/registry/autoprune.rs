//! Auto-prune policies, as Quay has them (`number_of_tags`, `creation_date`,
//! a tag pattern, several per namespace or repository, a registry-wide
//! default for namespaces without their own), plus `last_pulled` (tags not
//! pulled for a while) and a preview. `plan.rs` decides what a policy
//! prunes, one code path for the worker, the preview and the expiry
//! notices; `worker.rs` runs it under a claim per namespace.
//!
//! Pruning ends a tag like a delete: it stays restorable for the
//! namespace's time-machine window. Immutable tags and repositories that
//! are not `NORMAL` are never pruned.

mod plan;
mod worker;

use std::time::Duration;

use berth_store::metadata::{PolicyOwner, PrunePolicyFields, PrunePolicyRow};

use super::{ClientError, Registry, compile_tag_pattern};
use crate::Caller;
use crate::IdentityError;
use crate::duration::parse_quay_duration;
use crate::identity::{Actor, AuditEvent};
use crate::names::{Namespace, RepositoryName};

pub use plan::{ExpiringTag, ExpiryReason, ImageExpiry, PrunedTag};
pub use worker::{AUTOPRUNE_LOG_KIND, PrunePass};

/// How a policy chooses the tags it prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneMethod {
    /// Keep this many of the most recently set tags; prune the others.
    NumberOfTags(u64),
    /// Prune tags set longer ago than this.
    CreationDate(Duration),
    /// Prune tags neither pulled nor set for this long.
    LastPulled(Duration),
}

impl PruneMethod {
    /// Its API name.
    pub fn name(self) -> &'static str {
        match self {
            PruneMethod::NumberOfTags(_) => "number_of_tags",
            PruneMethod::CreationDate(_) => "creation_date",
            PruneMethod::LastPulled(_) => "last_pulled",
        }
    }
}

/// A policy's `value` as the API carries it: a count or a duration string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneValue {
    /// A number (`number_of_tags`).
    Count(i64),
    /// A duration such as `7d` (`creation_date`, `last_pulled`).
    Text(String),
}

/// A checked policy: what it prunes, and the value as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneSpec {
    /// The method with its parsed value.
    pub method: PruneMethod,
    /// The value as given (shown back unchanged).
    pub value: PruneValue,
    /// A regular expression (matched at the start of tag names) narrowing
    /// the tags the policy looks at.
    pub tag_pattern: Option<String>,
    /// Whether it looks at matching (true) or the other (false) tags.
    pub tag_pattern_matches: bool,
}

impl PruneSpec {
    /// Check a policy as the API or the configuration gives it; the error
    /// is Quay's message where Quay has one.
    pub fn parse(
        method: &str,
        value: &PruneValue,
        tag_pattern: Option<&str>,
        tag_pattern_matches: Option<bool>,
    ) -> Result<PruneSpec, String> {
        let invalid_value = || "Invalid value given for method type".to_owned();
        let duration = |value: &PruneValue| match value {
            PruneValue::Text(t) => parse_quay_duration(t)
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
                .ok_or_else(invalid_value),
            PruneValue::Count(_) => Err(invalid_value()),
        };
        let method = match method {
            "number_of_tags" => match value {
                PruneValue::Count(n) if *n > 0 => PruneMethod::NumberOfTags(n.unsigned_abs()),
                _ => return Err(invalid_value()),
            },
            "creation_date" => PruneMethod::CreationDate(duration(value)?),
            "last_pulled" => PruneMethod::LastPulled(duration(value)?),
            _ => return Err("Invalid method provided".into()),
        };
        let tag_pattern = match tag_pattern.map(str::trim) {
            None => None,
            Some("") => return Err("tag_pattern cannot be empty".into()),
            Some(p) => {
                compile_tag_pattern(p)?;
                Some(p.to_owned())
            }
        };
        Ok(PruneSpec {
            method,
            value: value.clone(),
            tag_pattern,
            tag_pattern_matches: tag_pattern_matches.unwrap_or(true),
        })
    }

    /// The spec of a stored row; `None` for one that no longer parses
    /// (it prunes nothing rather than failing every run).
    fn from_row(row: &PrunePolicyRow) -> Option<PruneSpec> {
        let value = match row.method.as_str() {
            "number_of_tags" => PruneValue::Count(row.value.parse().ok()?),
            _ => PruneValue::Text(row.value.clone()),
        };
        PruneSpec::parse(
            &row.method,
            &value,
            row.tag_pattern.as_deref(),
            Some(row.tag_pattern_matches),
        )
        .ok()
    }

    fn value_text(&self) -> String {
        match &self.value {
            PruneValue::Count(n) => n.to_string(),
            PruneValue::Text(t) => t.clone(),
        }
    }
}

/// An auto-prune policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunePolicy {
    /// Its id.
    pub uuid: String,
    /// What it prunes.
    pub spec: PruneSpec,
}

impl PrunePolicy {
    fn from_row(row: &PrunePolicyRow) -> Option<PrunePolicy> {
        Some(PrunePolicy {
            uuid: row.uuid.clone(),
            spec: PruneSpec::from_row(row)?,
        })
    }
}

/// Who a policy belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneScope {
    /// A namespace (organization or user): every repository in it.
    Namespace(Namespace),
    /// One repository.
    Repository(RepositoryName),
}

/// Auto-prune settings of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutopruneSettings {
    /// Applies to every namespace without a policy of its own
    /// (`DEFAULT_NAMESPACE_AUTOPRUNE_POLICY`).
    pub default_policy: Option<PruneSpec>,
    /// How often an instance looks for work (`AUTO_PRUNING_POLL_PERIOD`);
    /// a namespace is pruned at most once per period.
    pub poll_period: Duration,
}

impl Default for AutopruneSettings {
    fn default() -> Self {
        AutopruneSettings {
            default_policy: None,
            poll_period: Duration::from_secs(30),
        }
    }
}

impl PruneScope {
    /// The caller's own namespace (`/user/autoprunepolicy/`): only a
    /// signed-in user has one.
    pub fn own(caller: &Caller) -> Result<PruneScope, ClientError> {
        match &caller.principal.actor {
            Actor::User(user) => Namespace::new(&user.name)
                .map(PruneScope::Namespace)
                .map_err(|e| ClientError::Invalid(e.to_string())),
            Actor::Anonymous => Err(IdentityError::Unauthenticated("sign in first".into()).into()),
            Actor::Robot(_) => {
                Err(IdentityError::Denied("robots have no auto-prune policies of their own".into()).into())
            }
        }
    }
}

impl Registry {
    /// The store owner of `scope`, once the caller administers it (the
    /// namespace's or repository's administrators, superusers with full
    /// access).
    async fn prune_owner(&self, caller: &Caller, scope: &PruneScope) -> Result<PolicyOwner, ClientError> {
        match scope {
            PruneScope::Namespace(ns) => self
                .administered_namespace(caller, ns)
                .await?
                .map(|a| PolicyOwner::Namespace(a.id))
                .ok_or_else(|| ClientError::NotFound(format!("namespace {ns} not found"))),
            PruneScope::Repository(repo) => Ok(PolicyOwner::Repository(
                self.administered_repo(caller, repo).await?,
            )),
        }
    }

    /// The auto-prune policies of `scope`, oldest first.
    pub async fn prune_policies(
        &self,
        caller: &Caller,
        scope: &PruneScope,
    ) -> Result<Vec<PrunePolicy>, ClientError> {
        let owner = self.prune_owner(caller, scope).await?;
        Ok(self
            .db
            .prune_policies(owner)
            .await?
            .iter()
            .filter_map(PrunePolicy::from_row)
            .collect())
    }

    /// Policy `uuid` of `scope`.
    pub async fn prune_policy(
        &self,
        caller: &Caller,
        scope: &PruneScope,
        uuid: &str,
    ) -> Result<PrunePolicy, ClientError> {
        self.prune_policies(caller, scope)
            .await?
            .into_iter()
            .find(|p| p.uuid == uuid)
            .ok_or_else(|| no_policy(scope, uuid))
    }

    /// Create a policy of `scope`; logged as Quay does
    /// (`create_namespace_autoprune_policy`,
    /// `create_repository_autoprune_policy`). Returns its id.
    pub async fn create_prune_policy(
        &self,
        caller: &Caller,
        scope: &PruneScope,
        spec: &PruneSpec,
    ) -> Result<String, ClientError> {
        let owner = self.prune_owner(caller, scope).await?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let value = spec.value_text();
        self.db
            .insert_prune_policy(owner, &uuid, fields(spec, &value))
            .await?;
        self.log(policy_event(Change::Create, caller, scope, Some(spec), &uuid))
            .await?;
        Ok(uuid)
    }

    /// Change policy `uuid` of `scope`; logged as `update_..._policy`.
    pub async fn update_prune_policy(
        &self,
        caller: &Caller,
        scope: &PruneScope,
        uuid: &str,
        spec: &PruneSpec,
    ) -> Result<(), ClientError> {
        let owner = self.prune_owner(caller, scope).await?;
        let value = spec.value_text();
        if !self
            .db
            .update_prune_policy(owner, uuid, fields(spec, &value))
            .await?
        {
            return Err(no_policy(scope, uuid));
        }
        self.log(policy_event(Change::Update, caller, scope, Some(spec), uuid))
            .await
    }

    /// Delete policy `uuid` of `scope`; logged as `delete_..._policy`.
    pub async fn delete_prune_policy(
        &self,
        caller: &Caller,
        scope: &PruneScope,
        uuid: &str,
    ) -> Result<(), ClientError> {
        let owner = self.prune_owner(caller, scope).await?;
        if !self.db.delete_prune_policy(owner, uuid).await? {
            return Err(no_policy(scope, uuid));
        }
        self.log(policy_event(Change::Delete, caller, scope, None, uuid))
            .await
    }

    /// The tags policy `uuid` of `scope` would prune now: exactly those a
    /// run would end for it, computed by the same code.
    pub async fn preview_prune_policy(
        &self,
        caller: &Caller,
        scope: &PruneScope,
        uuid: &str,
    ) -> Result<Vec<PrunedTag>, ClientError> {
        let policy = self.prune_policy(caller, scope, uuid).await?;
        let rules = [plan::Rule::new(&policy.spec, Some(policy.uuid.clone()))?];
        let repos = match scope {
            PruneScope::Namespace(ns) => self.db.namespace_repositories(ns.as_str()).await?,
            PruneScope::Repository(repo) => self
                .db
                .namespace_repositories(repo.namespace())
                .await?
                .into_iter()
                .filter(|r| r.name == repo.as_str())
                .collect(),
        };
        let now = berth_store::now_ms();
        let mut tags = Vec::new();
        for repo in repos {
            for planned in self.plan_repository(&repo, &rules, now, now).await? {
                tags.push(planned.tag);
            }
        }
        Ok(tags)
    }
}

/// The stored fields of `spec`, whose value as text is `value`.
fn fields<'a>(spec: &'a PruneSpec, value: &'a str) -> PrunePolicyFields<'a> {
    PrunePolicyFields {
        method: spec.method.name(),
        value,
        tag_pattern: spec.tag_pattern.as_deref(),
        tag_pattern_matches: spec.tag_pattern_matches,
    }
}

fn no_policy(scope: &PruneScope, uuid: &str) -> ClientError {
    match scope {
        PruneScope::Namespace(ns) => {
            ClientError::NotFound(format!("Policy not found for namespace: {ns} with uuid: {uuid}"))
        }
        PruneScope::Repository(r) => {
            ClientError::NotFound(format!("Policy not found for repository: {r} with uuid: {uuid}"))
        }
    }
}

/// A change to a policy, for its usage-log entry.
#[derive(Debug, Clone, Copy)]
enum Change {
    Create,
    Update,
    Delete,
}

/// Quay's usage-log entry of a policy change, with the policy's fields.
fn policy_event(
    change: Change,
    caller: &Caller,
    scope: &PruneScope,
    spec: Option<&PruneSpec>,
    uuid: &str,
) -> AuditEvent {
    let kind = match (change, scope) {
        (Change::Create, PruneScope::Namespace(_)) => "create_namespace_autoprune_policy",
        (Change::Update, PruneScope::Namespace(_)) => "update_namespace_autoprune_policy",
        (Change::Delete, PruneScope::Namespace(_)) => "delete_namespace_autoprune_policy",
        (Change::Create, PruneScope::Repository(_)) => "create_repository_autoprune_policy",
        (Change::Update, PruneScope::Repository(_)) => "update_repository_autoprune_policy",
        (Change::Delete, PruneScope::Repository(_)) => "delete_repository_autoprune_policy",
    };
    let event = AuditEvent::by(kind, caller);
    let (event, mut metadata) = match scope {
        PruneScope::Namespace(ns) => (
            event.namespace(ns.as_str()),
            serde_json::json!({ "namespace": ns.as_str() }),
        ),
        PruneScope::Repository(r) => (
            event.repository(r.as_str()),
            serde_json::json!({ "namespace": r.namespace(), "repo": r.short() }),
        ),
    };
    metadata["policy_uuid"] = uuid.into();
    if let Some(spec) = spec {
        metadata["method"] = spec.method.name().into();
        metadata["value"] = match &spec.value {
            PruneValue::Count(n) => (*n).into(),
            PruneValue::Text(t) => t.as_str().into(),
        };
        metadata["tag_pattern"] = spec.tag_pattern.as_deref().into();
        metadata["tag_pattern_matches"] = spec.tag_pattern_matches.into();
    }
    event.metadata(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> PruneValue {
        PruneValue::Text(s.into())
    }

    #[test]
    fn policies_are_checked_like_quay() {
        let p = PruneSpec::parse("number_of_tags", &PruneValue::Count(3), None, None).unwrap();
        assert_eq!(p.method, PruneMethod::NumberOfTags(3));
        assert!(p.tag_pattern_matches);
        let p = PruneSpec::parse("creation_date", &text("2w"), Some("dev-.*"), Some(false)).unwrap();
        assert_eq!(
            p.method,
            PruneMethod::CreationDate(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(p.tag_pattern.as_deref(), Some("dev-.*"));
        assert!(!p.tag_pattern_matches);
        let p = PruneSpec::parse("last_pulled", &text("1d"), None, None).unwrap();
        assert_eq!(p.method, PruneMethod::LastPulled(Duration::from_secs(86_400)));
        for (method, value, pattern, message) in [
            ("size", PruneValue::Count(3), None, "Invalid method provided"),
            ("number_of_tags", PruneValue::Count(0), None, "Invalid value"),
            ("number_of_tags", text("3"), None, "Invalid value"),
            ("creation_date", text("soon"), None, "Invalid value"),
            ("creation_date", text("0d"), None, "Invalid value"),
            ("last_pulled", PruneValue::Count(3), None, "Invalid value"),
            ("creation_date", text("1d"), Some(" "), "cannot be empty"),
            ("creation_date", text("1d"), Some("v[0-9"), "Invalid regex"),
        ] {
            let e = PruneSpec::parse(method, &value, pattern, None).unwrap_err();
            assert!(e.contains(message), "{method} {value:?}: {e}");
        }
    }

    #[test]
    fn stored_rows_read_back() {
        let row = PrunePolicyRow {
            uuid: "u".into(),
            method: "number_of_tags".into(),
            value: "5".into(),
            tag_pattern: None,
            tag_pattern_matches: true,
        };
        let p = PrunePolicy::from_row(&row).unwrap();
        assert_eq!(p.spec.value, PruneValue::Count(5));
        assert_eq!(p.spec.value_text(), "5");
        let broken = PrunePolicyRow {
            value: "x".into(),
            ..row
        };
        assert!(PrunePolicy::from_row(&broken).is_none());
    }
}
