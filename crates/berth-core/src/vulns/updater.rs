//! The feed updater: every `interval`, each configured feed is claimed in
//! the database (one instance at a time), fetched conditionally, stored
//! per source, and the stored images the changed advisories can touch
//! are matched again. A failed update keeps the previous records.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_store::Db;
use berth_store::metadata::SourceWrite;
use berth_vulns::feeds::{self, FeedSettings};
use berth_vulns::{Feed, Fetcher, Validators};

use super::{VulnError, rematch, to_row};
use crate::notify::Site;

/// How long a feed's claim lasts (an update that outlives it is discarded).
const LEASE: Duration = Duration::from_secs(30 * 60);
/// How often the loop looks for due feeds.
const POLL: Duration = Duration::from_secs(60);

/// What the updater fetches and how often.
#[derive(Debug, Clone)]
pub struct UpdaterConfig {
    /// The feeds to run and their settings.
    pub feeds: BTreeMap<Feed, FeedSettings>,
    /// Time between updates of a feed.
    pub interval: Duration,
    /// Largest body accepted from a feed server.
    pub max_body: u64,
    /// Where the registry is reached, for the payloads of the
    /// `vulnerability_found` events an update records; `None` records none.
    pub site: Option<Site>,
}

impl Default for UpdaterConfig {
    fn default() -> Self {
        UpdaterConfig {
            feeds: Feed::DEFAULT
                .into_iter()
                .map(|f| (f, FeedSettings::default()))
                .collect(),
            interval: Duration::from_secs(6 * 3600),
            max_body: 1 << 30,
            site: None,
        }
    }
}

/// How one feed's update went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStatus {
    /// Another instance holds it, or it is not due.
    Skipped,
    /// Updated: how many (namespace, package) keys changed and how many
    /// stored images were matched again.
    Updated {
        /// Keys whose advisories changed.
        changed_keys: usize,
        /// Images matched again.
        rematched: usize,
    },
    /// Failed; the previous records stand.
    Failed(String),
}

/// The updater of the configured feeds.
pub struct VulnUpdater {
    db: Db,
    config: UpdaterConfig,
    fetcher: Fetcher,
}

impl VulnUpdater {
    /// An updater writing into `db`.
    pub fn new(db: Db, config: UpdaterConfig) -> Result<VulnUpdater, VulnError> {
        let fetcher = Fetcher::new(config.max_body)?;
        Ok(VulnUpdater { db, config, fetcher })
    }

    /// Update due feeds until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = self.update(false) => {}
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(POLL.min(self.config.interval)) => {}
            }
        }
    }

    /// Update every configured feed that is due (all of them with
    /// `force`), unless another instance holds it.
    pub async fn update(&self, force: bool) -> Vec<(Feed, FeedStatus)> {
        let mut out = Vec::new();
        for (feed, settings) in &self.config.feeds {
            let status = match self.update_feed(*feed, settings, force).await {
                Ok(s) => s,
                Err(e) => FeedStatus::Failed(e.to_string()),
            };
            match &status {
                FeedStatus::Failed(e) => {
                    tracing::warn!(feed = feed.name(), error = %e, "feed update failed; its previous records stand")
                }
                FeedStatus::Updated {
                    changed_keys,
                    rematched,
                } => {
                    tracing::info!(feed = feed.name(), changed_keys, rematched, "feed updated");
                }
                FeedStatus::Skipped => {}
            }
            out.push((*feed, status));
        }
        out
    }

    async fn update_feed(
        &self,
        feed: Feed,
        settings: &FeedSettings,
        force: bool,
    ) -> Result<FeedStatus, VulnError> {
        let now = berth_store::now_ms();
        let interval = i64::try_from(self.config.interval.as_millis()).unwrap_or(i64::MAX);
        let due_before = if force { now } else { now.saturating_sub(interval) };
        let token = uuid::Uuid::new_v4().to_string();
        let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        if !self
            .db
            .claim_vuln_feed(feed.name(), &token, lease, due_before)
            .await?
        {
            return Ok(FeedStatus::Skipped);
        }
        let previous: BTreeMap<String, Validators> = self
            .db
            .vuln_sources(feed.name())
            .await?
            .into_iter()
            // An unreadable stored value only costs a full download.
            .filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|v| (k, v)))
            .collect();
        let outcome = match feeds::update(feed, settings, &self.fetcher, &previous).await {
            Ok(o) => o,
            Err(e) => {
                self.db
                    .fail_vuln_update(feed.name(), &token, &e.to_string())
                    .await?;
                return Ok(FeedStatus::Failed(e.to_string()));
            }
        };
        let mut writes = Vec::with_capacity(outcome.sources.len());
        for s in outcome.sources {
            let advisories = match s.advisories {
                // Each record is dropped once it is a row, so a large feed is not
                // held twice.
                Some(list) => Some(
                    list.into_iter()
                        .map(|a| to_row(&a))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                None => None,
            };
            writes.push(SourceWrite {
                source: s.source,
                validators: serde_json::to_string(&s.validators)?,
                advisories,
            });
        }
        let Some(changed) = self.db.apply_vuln_update(feed.name(), &token, &writes).await? else {
            return Ok(FeedStatus::Failed(
                "the feed's claim lapsed during the update".into(),
            ));
        };
        let rematched = if changed.is_empty() {
            0
        } else {
            rematch(&self.db, &changed, self.config.site.as_ref()).await?
        };
        Ok(FeedStatus::Updated {
            changed_keys: changed.len(),
            rematched,
        })
    }
}
