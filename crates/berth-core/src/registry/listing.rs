//! Paginated listings: tags, the catalog, referrers.

use crate::RepositoryName;
use berth_oci::Digest;
use berth_store::metadata::ReferrerRow;

use super::{Registry, RegistryError};

/// One page of names and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The names, in lexical order.
    pub items: Vec<String>,
    /// Whether another page follows the last item.
    pub more: bool,
}

impl Page {
    /// The name a request for the next page starts after, when one follows.
    pub fn next_after(&self) -> Option<&str> {
        self.items.last().filter(|_| self.more).map(String::as_str)
    }

    pub(crate) fn from_probe(mut items: Vec<String>, limit: usize) -> Page {
        let more = items.len() > limit;
        items.truncate(limit);
        Page { items, more }
    }
}

/// One page of a repository's tag names, kept as the JSON array the
/// database built: a full listing goes out without a value per tag.
#[derive(Debug)]
pub struct TagPage {
    /// The names in order, a JSON array of strings.
    pub names: Box<serde_json::value::RawValue>,
    /// The page's last name when more tags follow it.
    pub next_after: Option<String>,
}

impl Registry {
    /// Up to `limit` live tags of a repository with their manifests and
    /// sizes, most recently set first.
    pub async fn live_tags(
        &self,
        repo: &RepositoryName,
        limit: usize,
    ) -> Result<Vec<berth_store::metadata::LiveTagRow>, RegistryError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        Ok(self
            .db
            .live_tags(repo_id, limit.min(i64::MAX as usize) as i64)
            .await?)
    }

    /// Live tags of a repository after `last`, at most `limit`, as a JSON
    /// array ready to send.
    pub async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: &str,
        limit: usize,
    ) -> Result<TagPage, RegistryError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        let page = self.db.list_tags(repo_id, last, limit).await?;
        Ok(TagPage {
            names: page.names,
            next_after: page.last.filter(|_| page.more),
        })
    }

    /// Repository names after `last`, at most `limit`.
    pub async fn catalog(&self, last: &str, limit: usize) -> Result<Page, RegistryError> {
        let items = self.db.list_repositories(last, limit as i64 + 1).await?;
        Ok(Page::from_probe(items, limit))
    }

    /// Manifests of the repository whose subject is `subject`.
    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerRow>, RegistryError> {
        match self.existing_repo(repo).await? {
            Some(repo_id) => Ok(self
                .db
                .referrers(repo_id, &subject.to_string(), artifact_type)
                .await?),
            None => Ok(Vec::new()),
        }
    }
}
