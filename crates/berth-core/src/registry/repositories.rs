//! Repositories as API clients see them: the detailed view (newest tags,
//! time-machine window, what the caller may do) and the listing. Every
//! operation takes the caller and authorizes it through the identity
//! service's policy.

use berth_store::StoreError;
use berth_store::metadata::LiveTagRow;

use super::{Registry, RegistryError};
use crate::Caller;
use crate::identity::{Action, IdentityError, Repository};
use crate::names::{AccountKind, Namespace, RepositoryName};

/// Most tags a repository view includes, as Quay.
pub const VIEW_TAGS: usize = 500;

/// A failure of a registry operation a client asked for: refused by the
/// policy (or failed in the identity service), a registry failure, or
/// a refusal naming what is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Refused by the policy, or an identity failure.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A registry failure.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// No such thing (the message names it).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),
    /// It exists already (the message names it).
    #[error("{0}")]
    Conflict(String),
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        ClientError::Registry(e.into())
    }
}

/// A live tag as a repository view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTag {
    /// Tag name.
    pub name: String,
    /// The manifest it points to.
    pub manifest_digest: String,
    /// When it was set (ms since the epoch).
    pub start_ms: i64,
    /// When it will expire, if planned.
    pub expires_ms: Option<i64>,
    /// The manifest's size plus the blobs it references directly.
    pub size: i64,
}

impl From<LiveTagRow> for LiveTag {
    fn from(r: LiveTagRow) -> Self {
        LiveTag {
            name: r.name,
            manifest_digest: r.manifest_digest,
            start_ms: r.start_ms,
            expires_ms: r.expires_ms,
            size: r.size,
        }
    }
}

/// A repository with what its view shows about it and what the caller may
/// do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryDetails {
    /// The repository.
    pub repository: Repository,
    /// Whether its namespace is an organization.
    pub is_organization: bool,
    /// Its namespace's time-machine window, in seconds.
    pub tag_expiration_s: u64,
    /// Up to [`VIEW_TAGS`] live tags, most recently set first (none unless
    /// asked for).
    pub tags: Vec<LiveTag>,
    /// Its state (`NORMAL`, `READ_ONLY`, `MIRROR`).
    pub state: super::RepositoryState,
    /// Whether the caller may push to it (never unless `NORMAL`, as Quay).
    pub can_write: bool,
    /// Whether the caller administers it.
    pub can_admin: bool,
}

/// A repository of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySummary {
    /// The repository.
    pub repository: Repository,
    /// When it last changed (ms since the epoch), when asked for: `None`
    /// if not asked, `Some(None)` if it never had a tag.
    pub last_modified_ms: Option<Option<i64>>,
}

/// One page of a repository listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryPage {
    /// The repositories, by name.
    pub repositories: Vec<RepositorySummary>,
    /// Whether more follow the last one.
    pub more: bool,
}

impl Registry {
    /// Repository `repo` as its view shows it (those who may pull it may
    /// read it), with its newest tags if `with_tags`.
    pub async fn repository_details(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        with_tags: bool,
    ) -> Result<RepositoryDetails, ClientError> {
        let identity = &self.identity;
        identity
            .authorize(&caller.principal, Action::Pull(repo.as_str()))
            .await?;
        let repository = identity
            .repository(repo)
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("repository {repo} not found")))?;
        let tags = if with_tags {
            self.live_tags(repo, VIEW_TAGS)
                .await?
                .into_iter()
                .map(LiveTag::from)
                .collect()
        } else {
            Vec::new()
        };
        let tag_expiration_s = self.time_machine_window(repo.as_str()).await?.as_secs();
        let is_organization = self
            .db
            .account_by_name(repo.namespace())
            .await?
            .is_some_and(|a| AccountKind::parse(&a.kind) == Some(AccountKind::Organization));
        let state = repository.state;
        Ok(RepositoryDetails {
            repository,
            is_organization,
            tag_expiration_s,
            tags,
            state,
            can_write: state == super::RepositoryState::Normal
                && identity
                    .allowed(&caller.principal, Action::Push(repo.as_str()))
                    .await?,
            can_admin: identity
                .allowed(&caller.principal, Action::Administer(repo.as_str()))
                .await?,
        })
    }

    /// Up to `limit` repositories the caller may see after `after` (by
    /// name), only those of `namespace` and those whose full name starts
    /// with `prefix` if given, each with when it last changed if
    /// `with_last_modified`. The policy's visibility rule filters the
    /// listing, so no single action admits it.
    pub async fn repositories(
        &self,
        caller: &Caller,
        namespace: Option<&Namespace>,
        prefix: Option<&str>,
        after: &str,
        limit: usize,
        with_last_modified: bool,
    ) -> Result<RepositoryPage, ClientError> {
        let (repos, more) = self
            .identity
            .visible_repositories_in(caller, namespace.map(Namespace::as_str), prefix, after, limit)
            .await?;
        let mut repositories = Vec::with_capacity(repos.len());
        for repository in repos {
            let last_modified_ms = if with_last_modified {
                Some(self.repository_last_modified(repository.id).await?)
            } else {
                None
            };
            repositories.push(RepositorySummary {
                repository,
                last_modified_ms,
            });
        }
        Ok(RepositoryPage { repositories, more })
    }
}
