//! Quota management as clients ask for it: reading a namespace's quota
//! with its usage, and changing quotas and their thresholds. Every
//! operation takes the caller, authorizes it through the identity
//! service's policy (which rule depends on whose quota it is, see
//! [`QuotaOwner`]) and logs each change with Quay's `org_*_quota*` kinds.

use berth_store::StoreError;

use super::{LimitKind, Quota, QuotaError, QuotaLimit};
use crate::identity::{Action, Actor, AuditEvent, IdentityError};
use crate::names::{AccountKind, Namespace};
use crate::{Caller, Registry};

/// Whose quota an operation is about, which decides who may read and
/// change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaOwner {
    /// An organization, through its own endpoints: its members read the
    /// quota, superusers with full access change it.
    Organization(Namespace),
    /// The calling user's own namespace: read only.
    CallingUser,
    /// Any user or organization, through the superuser panel: any
    /// superuser reads and changes it.
    Panel(Namespace),
}

/// A namespace's quota (or the system default) with its usage, as Quay's
/// QuotaView shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaStatus {
    /// The quota's id; `None` for the system default.
    pub id: Option<i64>,
    /// Allowed bytes.
    pub limit_bytes: i64,
    /// Thresholds, lowest first.
    pub limits: Vec<QuotaLimit>,
    /// Whether this is the system default rather than the namespace's own.
    pub default_config: bool,
    /// Whether a system default reject limit is configured.
    pub default_config_exists: bool,
    /// Bytes the namespace uses now.
    pub usage_bytes: u64,
}

fn check_percent(percent: i64) -> Result<i32, QuotaError> {
    match i32::try_from(percent) {
        Ok(p @ 1..=100) => Ok(p),
        _ => Err(QuotaError::Invalid(format!(
            "threshold_percent must be between 1 and 100, not {percent}"
        ))),
    }
}

fn check_kind(kind: &str) -> Result<LimitKind, QuotaError> {
    LimitKind::parse(kind).ok_or_else(|| {
        QuotaError::Invalid(format!(
            "invalid quota limit type {kind:?}: use Warning or Reject"
        ))
    })
}

fn check_bytes(limit_bytes: i64) -> Result<i64, QuotaError> {
    if limit_bytes > 0 {
        Ok(limit_bytes)
    } else {
        Err(QuotaError::Invalid(format!(
            "Invalid quota size limit value: '{limit_bytes}'"
        )))
    }
}

fn limit_exists(e: StoreError) -> QuotaError {
    match e {
        StoreError::Exists(_) => QuotaError::Invalid("Quota limit already exists".into()),
        e => e.into(),
    }
}

/// Limit `limit_id` of `quota`, or `NotFound`.
fn find_limit(quota: &Quota, limit_id: i64) -> Result<QuotaLimit, QuotaError> {
    quota
        .limits
        .iter()
        .find(|l| l.id == limit_id)
        .cloned()
        .ok_or_else(|| QuotaError::NotFound(format!("no limit {limit_id} in quota {}", quota.id)))
}

impl Registry {
    /// The namespace `owner` names, once the caller is admitted: to read
    /// it, or with `change` to change it.
    async fn quota_namespace(
        &self,
        caller: &Caller,
        owner: &QuotaOwner,
        change: bool,
    ) -> Result<String, QuotaError> {
        // Quay does not register these endpoints without quota management,
        // so nobody learns more than that they do not exist.
        if !self.config.quota.enabled {
            return Err(QuotaError::NotFound("no such API endpoint".into()));
        }
        let authorize = |action| self.identity.authorize(&caller.principal, action);
        match owner {
            QuotaOwner::Organization(ns) => {
                authorize(if change {
                    Action::SuperUserFullAccess
                } else {
                    Action::ViewNamespace(ns.as_str())
                })
                .await?;
                match self.db.account_by_name(ns.as_str()).await? {
                    Some(a) if AccountKind::parse(&a.kind) == Some(AccountKind::Organization) => {
                        Ok(ns.as_str().to_owned())
                    }
                    _ => Err(QuotaError::NotFound(format!("organization {ns} not found"))),
                }
            }
            QuotaOwner::CallingUser => {
                authorize(Action::AdministerUser).await?;
                match (&caller.principal.actor, change) {
                    (Actor::User(u), false) => Ok(u.name.clone()),
                    (Actor::User(_), true) => Err(IdentityError::Denied(
                        "a user's own quota is changed through the superuser panel".into(),
                    )
                    .into()),
                    _ => Err(IdentityError::Unauthenticated("Requires authentication".into()).into()),
                }
            }
            QuotaOwner::Panel(ns) => {
                authorize(Action::SuperUser).await?;
                match self.db.account_by_name(ns.as_str()).await? {
                    Some(a) if AccountKind::parse(&a.kind).is_some_and(AccountKind::is_namespace) => {
                        Ok(ns.as_str().to_owned())
                    }
                    _ => Err(QuotaError::NotFound(format!("namespace {ns} not found"))),
                }
            }
        }
    }

    /// The quota of namespace `ns`, if it has one.
    async fn namespace_quota(&self, ns: &str) -> Result<Option<Quota>, QuotaError> {
        Ok(self
            .db
            .namespace_quota(ns)
            .await?
            .map(|(q, l)| Quota::from_rows(q, l)))
    }

    /// Quota `id` of namespace `ns`, or `NotFound`.
    async fn quota_by_id(&self, ns: &str, id: i64) -> Result<Quota, QuotaError> {
        self.namespace_quota(ns)
            .await?
            .filter(|q| q.id == id)
            .ok_or_else(|| QuotaError::NotFound(format!("no quota {id} in namespace {ns}")))
    }

    /// `quota` of `ns` with the namespace's usage now.
    async fn status(&self, ns: &str, quota: Quota) -> Result<QuotaStatus, QuotaError> {
        Ok(QuotaStatus {
            id: Some(quota.id),
            limit_bytes: quota.limit_bytes,
            limits: quota.limits,
            default_config: false,
            default_config_exists: self.config.quota.default_reject_bytes > 0,
            usage_bytes: u64::try_from(self.db.namespace_usage(ns).await?).unwrap_or(0),
        })
    }

    /// Write a change's usage-log entry in namespace `ns` before it is
    /// answered.
    async fn log_quota(
        &self,
        caller: &Caller,
        kind: &'static str,
        ns: &str,
        metadata: serde_json::Value,
    ) -> Result<(), QuotaError> {
        let event = AuditEvent::by(kind, caller).namespace(ns).metadata(metadata);
        Ok(self.identity.audit().record_now(event).await?)
    }

    /// The quota of `owner` as a list; without one, for organizations, the
    /// system default (`default_config: true`) if one is configured.
    pub async fn quotas(&self, caller: &Caller, owner: &QuotaOwner) -> Result<Vec<QuotaStatus>, QuotaError> {
        let ns = self.quota_namespace(caller, owner, false).await?;
        if let Some(quota) = self.namespace_quota(&ns).await? {
            return Ok(vec![self.status(&ns, quota).await?]);
        }
        let default = self.config.quota.default_reject_bytes;
        if !matches!(owner, QuotaOwner::Organization(_)) || default == 0 {
            return Ok(Vec::new());
        }
        let default = i64::try_from(default).unwrap_or(i64::MAX);
        Ok(vec![QuotaStatus {
            id: None,
            limit_bytes: default,
            limits: Vec::new(),
            default_config: true,
            default_config_exists: true,
            usage_bytes: u64::try_from(self.db.namespace_usage(&ns).await?).unwrap_or(0),
        }])
    }

    /// Quota `id` of `owner` with its usage.
    pub async fn quota(
        &self,
        caller: &Caller,
        owner: &QuotaOwner,
        id: i64,
    ) -> Result<QuotaStatus, QuotaError> {
        let ns = self.quota_namespace(caller, owner, false).await?;
        let quota = self.quota_by_id(&ns, id).await?;
        self.status(&ns, quota).await
    }

    /// Limit `limit_id` of quota `id` of `owner`.
    pub async fn quota_limit(
        &self,
        caller: &Caller,
        owner: &QuotaOwner,
        id: i64,
        limit_id: i64,
    ) -> Result<QuotaLimit, QuotaError> {
        let ns = self.quota_namespace(caller, owner, false).await?;
        find_limit(&self.quota_by_id(&ns, id).await?, limit_id)
    }

    /// Give `owner` a quota of `limit_bytes` (a namespace has at most one);
    /// returns its id. Logged as `org_create_quota`.
    pub async fn create_quota(
        &self,
        caller: &Caller,
        owner: &QuotaOwner,
        limit_bytes: i64,
    ) -> Result<i64, QuotaError> {
        let ns = self.quota_namespace(caller, owner, true).await?;
        let limit_bytes = check_bytes(limit_bytes)?;
        let account = self
            .db
            .account_by_name(&ns)
            .await?
            .ok_or_else(|| QuotaError::NotFound(format!("namespace {ns} not found")))?;
        let quota_id = match self.db.create_quota(account.id, limit_bytes).await {
            Ok(id) => id,
            Err(StoreError::Exists(_)) => {
                return Err(QuotaError::Invalid(format!(
                    "Organization quota for '{ns}' already exists"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.log_quota(
            caller,
            "org_create_quota",
            &ns,
            serde_json::json!({ "quota_id": quota_id, "limit_bytes": limit_bytes }),
        )
        .await?;
        Ok(quota_id)
    }

    /// Change the bytes of quota `id` of `owner` (`None` changes nothing);
    /// returns it as it is now. Logged as `org_change_quota`.
    pub async fn change_quota(
        &self,
        caller: &Caller,
        owner: &QuotaOwner,
        id: i64,
        limit_bytes: Option<i64>,
    ) -> Result<QuotaStatus, QuotaError> {
        let ns = self.quota_namespace(caller, owner, true).await?;
        let mut quota = self.quota_by_id(&ns, id).await?;
        if let Some(bytes) = limit_bytes {
            let bytes = check_bytes(bytes)?;
            self.db.set_quota_bytes(quota.id, bytes).await?;
            quota.limit_bytes = bytes;
            self.log_quota(
                caller,
                "org_change_quota",
                &ns,
                serde_json::json!({ "quota_id": id, "limit_bytes": bytes }),
            )
            .await?;
        }
        self.status(&ns, quota).await
    }

    /// Delete quota `id` of `owner` with its limits. Logged as
    /// `org_delete_quota`.
    pub async fn delete_quota(&self, caller: &Caller, owner: &QuotaOwner, id: i64) -> Result<(), QuotaError> {
        let ns = self.quota_namespace(caller, owner, true).await?;
        let quota = self.quota_by_id(&ns, id).await?;
        self.db.delete_quota(quota.id).await?;
        self.log_quota(
            caller,
            "org_delete_quota",
            &ns,
            serde_json::json!({ "quota_id": id }),
        )
        .await
    }

    /// Add a `kind` threshold at `percent` to quota `id` of `owner`;
    /// returns the limit's id. Logged as `org_create_quota_limit`.
    pub async fn create_quota_limit(
        &self,
        caller: &Caller,
        owner: &QuotaOwner,
        id: i64,
        kind: &str,
        percent: i64,
    ) -> Result<i64, QuotaError> {
        let ns = self.quota_namespace(caller, owner, true).await?;
        let checked_kind = check_kind(kind)?;
        let checked_percent = check_percent(percent)?;
        let quota = self.quota_by_id(&ns, id).await?;
        let limit_id = self
            .db
            .create_quota_limit(quota.id, checked_kind.as_str(), checked_percent)
            .await
            .map_err(limit_exists)?;
        self.log_quota(
            caller,
            "org_create_quota_limit",
            &ns,
            serde_json::json!({
                "quota_id": id, "limit_id": limit_id, "type": kind, "threshold_percent": percent,
            }),
        )
        .await?;
        Ok(limit_id)
    }

    /// Change the kind and/or threshold of limit `limit_id` of quota `id`
    /// of `owner`; returns the quota as it is now. Logged as
    /// `org_change_quota_limit`.
    pub async fn change_quota_limit(
        &self,
        caller: &Caller,
        owner: &QuotaOwner,
        (id, limit_id): (i64, i64),
        kind: Option<&str>,
        percent: Option<i64>,
    ) -> Result<QuotaStatus, QuotaError> {
        let ns = self.quota_namespace(caller, owner, true).await?;
        let checked_kind = kind.map(check_kind).transpose()?;
        let checked_percent = percent.map(check_percent).transpose()?;
        let quota = self.quota_by_id(&ns, id).await?;
        let limit = find_limit(&quota, limit_id)?;
        let new_kind = checked_kind.unwrap_or(limit.kind);
        let new_percent = checked_percent.unwrap_or(limit.threshold_percent);
        if !self
            .db
            .update_quota_limit(quota.id, limit_id, new_kind.as_str(), new_percent)
            .await
            .map_err(limit_exists)?
        {
            return Err(QuotaError::NotFound(format!("no limit {limit_id} in quota {id}")));
        }
        self.log_quota(
            caller,
            "org_change_quota_limit",
            &ns,
            serde_json::json!({
                "quota_id": id, "limit_id": limit_id, "type": kind, "threshold_percent": percent,
            }),
        )
        .await?;
        let quota = self.quota_by_id(&ns, id).await?;
        self.status(&ns, quota).await
    }

    /// Delete limit `limit_id` of quota `id` of `owner`. Logged as
    /// `org_delete_quota_limit`.
    pub async fn delete_quota_limit(
        &self,
        caller: &Caller,
        owner: &QuotaOwner,
        id: i64,
        limit_id: i64,
    ) -> Result<(), QuotaError> {
        let ns = self.quota_namespace(caller, owner, true).await?;
        let quota = self.quota_by_id(&ns, id).await?;
        if !self.db.delete_quota_limit(quota.id, limit_id).await? {
            return Err(QuotaError::NotFound(format!("no limit {limit_id} in quota {id}")));
        }
        self.log_quota(
            caller,
            "org_delete_quota_limit",
            &ns,
            serde_json::json!({ "quota_id": id, "limit_id": limit_id }),
        )
        .await
    }
}
