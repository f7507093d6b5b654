//! Repositories as identity sees them: creation (explicit or by a push),
//! visibility, and which ones a caller may see.

use berth_store::metadata::RepositoryRow;

use super::policy::{Action, namespace_of};
use super::principal::{Actor, Principal};
use super::{AuditEvent, Identity, IdentityError};
use crate::registry::Page;

/// A repository's name within its namespace, as Quay logs it.
fn short_name(full: &str) -> &str {
    let ns = namespace_of(full);
    full.strip_prefix(ns)
        .and_then(|n| n.strip_prefix('/'))
        .unwrap_or(full)
}

impl Identity {
    /// Create repository `name` for `principal`, who must be allowed to
    /// create in its namespace. A creator who does not administer the
    /// namespace is granted admin on the new repository, as in Quay.
    pub async fn create_repository(
        &self,
        principal: &Principal,
        name: &str,
        public: bool,
        description: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<i64, IdentityError> {
        berth_oci::validate_repository(name).map_err(|e| IdentityError::Invalid(e.to_string()))?;
        let ns = namespace_of(name);
        if !self.allowed(principal, Action::CreateRepository(ns)).await? {
            return Err(IdentityError::Denied(format!(
                "you may not create repositories in namespace {ns}"
            )));
        }
        let id = self.db.create_repository(name, public, description).await?;
        if let Some(account) = principal.account()
            && !self.allowed(principal, Action::AdministerNamespace(ns)).await?
        {
            self.db.set_account_permission(id, account.id, "admin").await?;
        }
        let visibility = if public { "public" } else { "private" };
        self.audit
            .record_now(
                AuditEvent::new("create_repo", principal, ip)
                    .repository(name)
                    .metadata(serde_json::json!({ "repo": short_name(name), "visibility": visibility })),
            )
            .await?;
        Ok(id)
    }

    /// Before a push: create the repository if it does not exist yet (the
    /// access gate has already checked the pusher may).
    pub async fn ensure_repository_for_push(
        &self,
        principal: &Principal,
        name: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), IdentityError> {
        if self.db.repository(name).await?.is_some() {
            return Ok(());
        }
        let public = !self.config.create_private_repo_on_push;
        match self.create_repository(principal, name, public, "", ip).await {
            Ok(_) | Err(IdentityError::Exists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The repository named `name`.
    pub async fn repository(&self, name: &str) -> Result<Option<RepositoryRow>, IdentityError> {
        Ok(self.db.repository(name).await?)
    }

    /// Make a repository public or private.
    pub async fn set_visibility(
        &self,
        principal: &Principal,
        name: &str,
        public: bool,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), IdentityError> {
        let repo = self
            .db
            .repository(name)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("repository {name} not found")))?;
        self.db.set_repository_visibility(repo.id, public).await?;
        let visibility = if public { "public" } else { "private" };
        self.audit
            .record_now(
                AuditEvent::new("change_repo_visibility", principal, ip)
                    .repository(name)
                    .metadata(serde_json::json!({ "repo": short_name(name), "visibility": visibility })),
            )
            .await?;
        Ok(())
    }

    /// Replace a repository's description.
    pub async fn set_description(
        &self,
        principal: &Principal,
        name: &str,
        description: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), IdentityError> {
        let repo = self
            .db
            .repository(name)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("repository {name} not found")))?;
        self.db.set_repository_description(repo.id, description).await?;
        self.audit
            .record_now(
                AuditEvent::new("set_repo_description", principal, ip)
                    .repository(name)
                    .metadata(serde_json::json!({ "repo": short_name(name), "description": description })),
            )
            .await?;
        Ok(())
    }

    /// One page of the repository names `principal` may see, after `last`.
    pub async fn visible_repositories(
        &self,
        principal: &Principal,
        last: &str,
        limit: usize,
    ) -> Result<Page, IdentityError> {
        let (rows, more) = self.visible_repositories_in(principal, None, last, limit).await?;
        Ok(Page {
            items: rows.into_iter().map(|r| r.name).collect(),
            more,
        })
    }

    /// Up to `limit` repositories `principal` may see after `last` (by
    /// name), only those in `namespace` if given, and whether more follow.
    pub async fn visible_repositories_in(
        &self,
        principal: &Principal,
        namespace: Option<&str>,
        last: &str,
        limit: usize,
    ) -> Result<(Vec<RepositoryRow>, bool), IdentityError> {
        let probe = limit.saturating_add(1).min(i64::MAX as usize) as i64;
        // Credentials without any repository scope see what anyone sees.
        let scoped = principal.max_repo_role().is_some();
        let full = matches!(&principal.actor, Actor::User(u) if u.super_user)
            && self.config.policy.superusers_full_access
            && scoped;
        let own = match &principal.actor {
            Actor::User(u) if scoped => Some(u.name.as_str()),
            _ => None,
        };
        let account = principal.account().filter(|_| scoped).map(|a| a.id);
        let mut rows = if full {
            self.db.all_repositories(namespace, last, probe).await?
        } else {
            self.db
                .visible_repositories(account, own, namespace, last, probe)
                .await?
        };
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }
}
