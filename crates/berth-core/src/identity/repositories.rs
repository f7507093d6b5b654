//! Repositories as identity sees them: creation (explicit or by a push),
//! visibility, description, and which ones a caller may see.

use crate::registry::RepositoryState;
use berth_store::metadata::RepositoryRow;

use super::policy::{Action, namespace_of};
use super::principal::{Actor, Principal};
use super::{AuditEvent, Identity, IdentityError};
use crate::Caller;
use crate::names::{RepositoryName, Visibility};
use crate::registry::Page;

/// A repository as it leaves the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// Row id.
    pub id: i64,
    /// Full name, `namespace/name`.
    pub name: RepositoryName,
    /// Who may pull it.
    pub visibility: Visibility,
    /// Markdown text.
    pub description: String,
    /// Which writes it takes.
    pub state: RepositoryState,
}

impl TryFrom<RepositoryRow> for Repository {
    type Error = IdentityError;

    fn try_from(row: RepositoryRow) -> Result<Repository, IdentityError> {
        // Stored names were validated when the repository was created.
        let name = RepositoryName::new(row.name)
            .map_err(|e| IdentityError::Internal(format!("repository {} has a bad name: {e}", row.id)))?;
        Ok(Repository {
            id: row.id,
            name,
            visibility: Visibility::from_public(row.is_public),
            description: row.description,
            state: RepositoryState::stored(&row.state),
        })
    }
}

/// A repository's name within its namespace, as Quay logs it.
fn short_name(full: &str) -> &str {
    let ns = namespace_of(full);
    full.strip_prefix(ns)
        .and_then(|n| n.strip_prefix('/'))
        .unwrap_or(full)
}

impl Identity {
    /// Create repository `name` for the caller, who must be allowed to
    /// create in its namespace; an existing one is `Exists`. A creator who
    /// does not administer the namespace is granted admin on it, as in
    /// Quay.
    pub async fn create_repo(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        visibility: Visibility,
        description: &str,
    ) -> Result<Repository, IdentityError> {
        self.authorize(&caller.principal, Action::CreateRepository(name.namespace()))
            .await?;
        if self.db.repository(name.as_str()).await?.is_some() {
            return Err(IdentityError::Invalid("Repository already exists".into()));
        }
        self.create_repository(
            &caller.principal,
            name.as_str(),
            visibility.is_public(),
            description,
            caller.ip,
        )
        .await?;
        self.repository(name)
            .await?
            .ok_or_else(|| IdentityError::Internal("created repository vanished".into()))
    }

    /// Create repository `name` for `principal` (a push, or a caller
    /// already authorized), who must be allowed to create in its
    /// namespace. A creator who does not administer the namespace is
    /// granted admin on the new repository, as in Quay.
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
        if self.db.is_org_mirror_namespace(ns).await? {
            return Err(IdentityError::Denied(format!(
                "organization {ns} is an organization mirror: its repositories are created by the mirror"
            )));
        }
        let id = self.db.create_repository(name, public, description).await?;
        if let Some(account) = principal.account()
            && !self.allowed(principal, Action::AdministerNamespace(ns)).await?
        {
            self.db.set_account_permission(id, account.id, "admin").await?;
        }
        let visibility = Visibility::from_public(public).as_str();
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
    pub async fn repository(&self, name: &RepositoryName) -> Result<Option<Repository>, IdentityError> {
        self.db
            .repository(name.as_str())
            .await?
            .map(Repository::try_from)
            .transpose()
    }

    /// Repository `name`, or `NotFound`.
    async fn existing(&self, name: &RepositoryName) -> Result<Repository, IdentityError> {
        self.repository(name)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("repository {name} not found")))
    }

    /// Make a repository public or private (its administrators may).
    pub async fn set_visibility(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        visibility: Visibility,
    ) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::Administer(name.as_str()))
            .await?;
        let repo = self.existing(name).await?;
        self.db
            .set_repository_visibility(repo.id, visibility.is_public())
            .await?;
        self.audit
            .record_now(
                AuditEvent::by("change_repo_visibility", caller)
                    .repository(name.as_str())
                    .metadata(serde_json::json!({ "repo": name.short(), "visibility": visibility.as_str() })),
            )
            .await?;
        Ok(())
    }

    /// Replace a repository's description (its writers may).
    pub async fn set_description(
        &self,
        caller: &Caller,
        name: &RepositoryName,
        description: &str,
    ) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::Push(name.as_str()))
            .await?;
        let repo = self.existing(name).await?;
        self.db.set_repository_description(repo.id, description).await?;
        self.audit
            .record_now(
                AuditEvent::by("set_repo_description", caller)
                    .repository(name.as_str())
                    .metadata(serde_json::json!({ "repo": name.short(), "description": description })),
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
        let (rows, more) = self
            .visible_repository_rows(principal, None, None, last, limit)
            .await?;
        Ok(Page {
            items: rows.into_iter().map(|r| r.name).collect(),
            more,
        })
    }

    /// Up to `limit` repositories the caller may see after `last` (by
    /// name), only those in `namespace` and those whose full name starts
    /// with `prefix` if given, and whether more follow. No single action
    /// admits a listing: the policy's visibility rule filters it, so anyone
    /// may ask and sees public repositories at least.
    pub async fn visible_repositories_in(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        prefix: Option<&str>,
        last: &str,
        limit: usize,
    ) -> Result<(Vec<Repository>, bool), IdentityError> {
        let (rows, more) = self
            .visible_repository_rows(&caller.principal, namespace, prefix, last, limit)
            .await?;
        let repos = rows
            .into_iter()
            .map(Repository::try_from)
            .collect::<Result<_, _>>()?;
        Ok((repos, more))
    }

    /// The rows behind [`Identity::visible_repositories_in`].
    async fn visible_repository_rows(
        &self,
        principal: &Principal,
        namespace: Option<&str>,
        prefix: Option<&str>,
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
            self.db.all_repositories(namespace, prefix, last, probe).await?
        } else {
            self.db
                .visible_repositories(account, own, namespace, prefix, last, probe)
                .await?
        };
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }
}
