//! Reading pull statistics: per tag and per manifest for the API (those who
//! may pull a repository may read them), and the tags not pulled since a
//! time, for lifecycle policies.

use berth_oci::Digest;
use berth_store::metadata::{TagHistoryQuery, TagPullRow};
use berth_store::now_ms;

use super::super::{ClientError, Registry, RegistryError};
use crate::Caller;
use crate::identity::Action;
use crate::names::{RepositoryName, TagName};

/// A tag's pull statistics (Quay's `TagPullStatistics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPullStatistics {
    /// Tag name.
    pub tag_name: String,
    /// Pulls by this tag.
    pub tag_pull_count: i64,
    /// The latest pull by this tag (ms since the epoch).
    pub last_tag_pull_ms: Option<i64>,
    /// The manifest the tag resolved to at its latest pull; if it was never
    /// pulled, the one it resolves to now.
    pub current_manifest_digest: Option<String>,
    /// Pulls of that manifest, by any tag or by digest.
    pub manifest_pull_count: i64,
    /// The latest of them (ms since the epoch).
    pub last_manifest_pull_ms: Option<i64>,
}

/// A manifest's pull statistics (Quay's `ManifestPullStatistics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPullStatistics {
    /// The manifest's digest.
    pub manifest_digest: String,
    /// Pulls of it, by any tag or by digest.
    pub manifest_pull_count: i64,
    /// The latest (ms since the epoch).
    pub last_manifest_pull_ms: Option<i64>,
}

/// A tag that resolves now and has not been pulled since some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleTag {
    /// Tag name.
    pub name: String,
    /// When it was set (pushed, moved or restored), ms since the epoch.
    pub start_ms: i64,
    /// Its latest pull, if it was ever pulled.
    pub last_pull_ms: Option<i64>,
}

/// Pulls of one tag, as tag listings show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TagPullCount {
    /// Pulls by this tag name.
    pub count: i64,
    /// The latest (ms since the epoch).
    pub last_ms: Option<i64>,
}

impl From<&TagPullRow> for TagPullCount {
    fn from(r: &TagPullRow) -> Self {
        TagPullCount {
            count: r.pull_count,
            last_ms: Some(r.last_pull_ms),
        }
    }
}

impl Registry {
    /// Whether pulls are counted (`FEATURE_IMAGE_PULL_STATS`).
    pub fn pull_stats_enabled(&self) -> bool {
        self.pulls.is_some()
    }

    /// Write the pulls counted in memory now (as `berth serve` does when
    /// it stops); they are otherwise written every second.
    pub async fn flush_pull_stats(&self) {
        if let Some(p) = &self.pulls {
            p.flush().await;
        }
    }

    /// The caller may pull `repo` and statistics are kept: its id.
    async fn pull_stats_repo(&self, caller: &Caller, repo: &RepositoryName) -> Result<i64, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Pull(repo.as_str()))
            .await?;
        if self.pulls.is_none() {
            // As Quay, whose endpoints do not exist with the feature off.
            return Err(ClientError::NotFound(
                "pull statistics are not enabled (FEATURE_IMAGE_PULL_STATS)".into(),
            ));
        }
        Ok(self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?)
    }

    /// The pull statistics of tag `tag` of `repo`: known while any row of
    /// the tag exists (live, or within the time-machine window).
    pub async fn tag_pull_statistics(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        tag: &TagName,
    ) -> Result<TagPullStatistics, ClientError> {
        let repo_id = self.pull_stats_repo(caller, repo).await?;
        let (count, last, digest) = match self.db.tag_pulls(repo_id, tag.as_str()).await? {
            Some(row) => (row.pull_count, Some(row.last_pull_ms), Some(row.manifest_digest)),
            None => {
                let newest = self
                    .db
                    .tag_history(
                        repo_id,
                        &TagHistoryQuery {
                            name: Some(tag.as_str()),
                            limit: 1,
                            ..TagHistoryQuery::default()
                        },
                    )
                    .await?;
                let Some(row) = newest.into_iter().next() else {
                    return Err(ClientError::NotFound(format!("No such tag: {}", tag.as_str())));
                };
                let resolves = row.end_ms.is_none() && row.expires_ms.is_none_or(|e| e > now_ms());
                (0, None, resolves.then_some(row.manifest_digest))
            }
        };
        let manifest = match &digest {
            Some(d) => self.db.manifest_pulls(repo_id, d).await?,
            None => None,
        };
        Ok(TagPullStatistics {
            tag_name: tag.as_str().to_owned(),
            tag_pull_count: count,
            last_tag_pull_ms: last,
            current_manifest_digest: digest,
            manifest_pull_count: manifest.map_or(0, |m| m.0),
            last_manifest_pull_ms: manifest.map(|m| m.1),
        })
    }

    /// The pull statistics of manifest `digest` of `repo`.
    pub async fn manifest_pull_statistics(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<ManifestPullStatistics, ClientError> {
        let repo_id = self.pull_stats_repo(caller, repo).await?;
        let digest = digest.to_string();
        if self
            .db
            .manifest_by_digest(repo.as_str(), &digest)
            .await?
            .is_none()
        {
            return Err(ClientError::NotFound(format!("No such manifest: {digest}")));
        }
        let pulls = self.db.manifest_pulls(repo_id, &digest).await?;
        Ok(ManifestPullStatistics {
            manifest_digest: digest,
            manifest_pull_count: pulls.map_or(0, |m| m.0),
            last_manifest_pull_ms: pulls.map(|m| m.1),
        })
    }

    /// Pulls of the tags named `names` of repository `repo_id`, in the
    /// order of `names` (zero for tags never pulled, or with statistics
    /// off).
    pub(crate) async fn tags_pulls(
        &self,
        repo_id: i64,
        names: &[&str],
    ) -> Result<Vec<TagPullCount>, RegistryError> {
        if self.pulls.is_none() {
            return Ok(vec![TagPullCount::default(); names.len()]);
        }
        let mut unique = names.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let rows = self.db.tags_pulls(repo_id, &unique).await?;
        Ok(names
            .iter()
            .map(|n| {
                rows.iter()
                    .find(|r| r.tag_name == *n)
                    .map(TagPullCount::from)
                    .unwrap_or_default()
            })
            .collect())
    }

    /// Tags of `repo` that resolve now, were set before `since_ms` and have
    /// not been pulled since (never, or only before it), by name. For
    /// lifecycle policies run by the registry itself, so no caller: pulls
    /// counted in the last second may not be written yet.
    pub async fn tags_not_pulled_since(
        &self,
        repo: &RepositoryName,
        since_ms: i64,
    ) -> Result<Vec<IdleTag>, RegistryError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        Ok(self
            .db
            .tags_not_pulled_since(repo_id, since_ms)
            .await?
            .into_iter()
            .map(|t| IdleTag {
                name: t.name,
                start_ms: t.start_ms,
                last_pull_ms: t.last_pull_ms,
            })
            .collect())
    }
}
