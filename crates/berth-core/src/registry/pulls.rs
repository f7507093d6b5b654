//! Pull statistics (`FEATURE_IMAGE_PULL_STATS`): counting pulls without
//! slowing them. A pull adds to an in-memory tally, per (repository, tag)
//! and per (repository, manifest), under one of several small locks held
//! only for a map update; a task writes the tallies every
//! [`FLUSH_INTERVAL`] as increments (and on [`Registry::flush_pull_stats`],
//! which `berth serve` calls when it stops). Increments, not totals, so
//! several instances on one database add up; a crash loses at most the
//! last interval's pulls of that instance.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use berth_store::Db;
use berth_store::metadata::{ManifestPulls, TagPulls};

mod statistics;

pub use statistics::{IdleTag, ManifestPullStatistics, TagPullCount, TagPullStatistics};

/// How often counted pulls are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Independent locks: pulls of different repositories rarely wait on
/// each other.
const SHARDS: usize = 16;

/// Pulls of one manifest or tag since the last write.
#[derive(Debug, Default)]
struct Tally {
    count: i64,
    last_ms: i64,
    /// For a tag: the manifest it resolved to at the latest pull.
    digest: String,
}

impl Tally {
    /// Count one pull at `now_ms`.
    fn add(&mut self, now_ms: i64, digest: Option<&str>) {
        self.count += 1;
        if now_ms >= self.last_ms {
            self.last_ms = now_ms;
            if let Some(d) = digest
                && d != self.digest
            {
                // Reuses the allocation: digests of one kind have one length.
                self.digest.clear();
                self.digest.push_str(d);
            }
        }
    }

    /// Merge `other` (counted over another span) into this one.
    fn merge(&mut self, other: Tally) {
        self.count += other.count;
        if other.last_ms >= self.last_ms {
            self.last_ms = other.last_ms;
            if !other.digest.is_empty() {
                self.digest = other.digest;
            }
        }
    }
}

/// One repository's pulls since the last write.
#[derive(Debug, Default)]
struct RepositoryPulls {
    tags: HashMap<String, Tally>,
    manifests: HashMap<String, Tally>,
}

type Shard = HashMap<String, RepositoryPulls>;

/// The in-memory tallies.
#[derive(Debug)]
pub(crate) struct PullCounter {
    shards: Box<[Mutex<Shard>]>,
    hasher: std::hash::RandomState,
}

impl PullCounter {
    pub(crate) fn new() -> PullCounter {
        PullCounter {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    fn shard(&self, repository: &str) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(repository) % SHARDS as u64) as usize;
        // A panic elsewhere while holding the lock leaves counts, not a
        // broken invariant: keep counting.
        self.shards[i].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count a pull of manifest `digest` of `repository` at `now_ms`, by
    /// `tag` if it was pulled by tag (it then counts for both). Allocates
    /// only for the first pull of a key since the last write.
    pub(crate) fn record(&self, repository: &str, tag: Option<&str>, digest: &str, now_ms: i64) {
        let mut shard = self.shard(repository);
        if !shard.contains_key(repository) {
            shard.insert(repository.to_owned(), RepositoryPulls::default());
        }
        let Some(pulls) = shard.get_mut(repository) else {
            return;
        };
        if let Some(tag) = tag {
            if !pulls.tags.contains_key(tag) {
                pulls.tags.insert(tag.to_owned(), Tally::default());
            }
            if let Some(t) = pulls.tags.get_mut(tag) {
                t.add(now_ms, Some(digest));
            }
        }
        if !pulls.manifests.contains_key(digest) {
            pulls.manifests.insert(digest.to_owned(), Tally::default());
        }
        if let Some(m) = pulls.manifests.get_mut(digest) {
            m.add(now_ms, None);
        }
    }

    /// Take every tally, leaving the counter empty.
    fn take(&self) -> (Vec<TagPulls>, Vec<ManifestPulls>) {
        let mut tags = Vec::new();
        let mut manifests = Vec::new();
        for i in 0..SHARDS {
            // Swapped out under the lock, converted outside it.
            let taken = std::mem::take(&mut *self.shards[i].lock().unwrap_or_else(PoisonError::into_inner));
            for (repository, pulls) in taken {
                for (tag, t) in pulls.tags {
                    tags.push(TagPulls {
                        repository: repository.clone(),
                        tag,
                        count: t.count,
                        last_ms: t.last_ms,
                        manifest_digest: t.digest,
                    });
                }
                for (digest, m) in pulls.manifests {
                    manifests.push(ManifestPulls {
                        repository: repository.clone(),
                        digest,
                        count: m.count,
                        last_ms: m.last_ms,
                    });
                }
            }
        }
        (tags, manifests)
    }

    /// Put back tallies that could not be written, to be written with the
    /// next ones.
    fn restore(&self, tags: Vec<TagPulls>, manifests: Vec<ManifestPulls>) {
        for t in tags {
            let mut shard = self.shard(&t.repository);
            let tally = Tally {
                count: t.count,
                last_ms: t.last_ms,
                digest: t.manifest_digest,
            };
            let pulls = shard.entry(t.repository).or_default();
            pulls.tags.entry(t.tag).or_default().merge(tally);
        }
        for m in manifests {
            let mut shard = self.shard(&m.repository);
            let tally = Tally {
                count: m.count,
                last_ms: m.last_ms,
                digest: String::new(),
            };
            let pulls = shard.entry(m.repository).or_default();
            pulls.manifests.entry(m.digest).or_default().merge(tally);
        }
    }
}

/// Counts pulls and writes them to the database.
#[derive(Debug)]
pub(crate) struct PullRecorder {
    pub(crate) counter: PullCounter,
    db: Db,
    /// One write at a time, so a final flush waits for one in progress.
    writing: tokio::sync::Mutex<()>,
}

impl PullRecorder {
    /// A recorder writing to `db`, and (inside a Tokio runtime) its task
    /// writing every [`FLUSH_INTERVAL`]; the task ends once the recorder
    /// is dropped.
    pub(crate) fn start(db: Db) -> Arc<PullRecorder> {
        let recorder = Arc::new(PullRecorder {
            counter: PullCounter::new(),
            db,
            writing: tokio::sync::Mutex::new(()),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&recorder);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(FLUSH_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(recorder) = weak.upgrade() else { break };
                    recorder.flush().await;
                }
            });
        }
        recorder
    }

    /// Write what was counted since the last write. A failed write is
    /// logged and kept for the next one.
    pub(crate) async fn flush(&self) {
        let _one = self.writing.lock().await;
        let (tags, manifests) = self.counter.take();
        if tags.is_empty() && manifests.is_empty() {
            return;
        }
        if let Err(e) = self.db.add_pulls(&tags, &manifests).await {
            tracing::warn!(%e, tags = tags.len(), manifests = manifests.len(),
                "writing pull statistics failed; they are kept for the next write");
            self.counter.restore(tags, manifests);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(counter: &PullCounter) -> (Vec<TagPulls>, Vec<ManifestPulls>) {
        let (mut tags, mut manifests) = counter.take();
        tags.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
        manifests.sort_by(|a, b| (&a.repository, &a.digest).cmp(&(&b.repository, &b.digest)));
        (tags, manifests)
    }

    #[test]
    fn a_pull_by_tag_counts_for_the_tag_and_its_manifest() {
        let c = PullCounter::new();
        c.record("a/b", Some("v1"), "sha256:1", 10);
        c.record("a/b", Some("v1"), "sha256:2", 30);
        c.record("a/b", Some("v1"), "sha256:1", 20);
        c.record("a/b", None, "sha256:1", 40);
        c.record("a/c", None, "sha256:1", 5);
        let (tags, manifests) = sorted(&c);
        assert_eq!(
            tags,
            vec![TagPulls {
                repository: "a/b".into(),
                tag: "v1".into(),
                count: 3,
                last_ms: 30,
                manifest_digest: "sha256:2".into(),
            }]
        );
        let m: Vec<_> = manifests
            .iter()
            .map(|m| (m.repository.as_str(), m.digest.as_str(), m.count, m.last_ms))
            .collect();
        assert_eq!(
            m,
            vec![
                ("a/b", "sha256:1", 3, 40),
                ("a/b", "sha256:2", 1, 30),
                ("a/c", "sha256:1", 1, 5)
            ]
        );
        // Taken means gone.
        assert_eq!(c.take(), (vec![], vec![]));
    }

    #[test]
    fn restored_tallies_merge_with_newer_ones() {
        let c = PullCounter::new();
        c.record("a/b", Some("v1"), "sha256:1", 10);
        let (tags, manifests) = c.take();
        c.record("a/b", Some("v1"), "sha256:2", 50);
        c.restore(tags, manifests);
        let (tags, manifests) = sorted(&c);
        assert_eq!(tags[0].count, 2);
        assert_eq!(tags[0].last_ms, 50);
        assert_eq!(tags[0].manifest_digest, "sha256:2");
        assert_eq!(manifests.len(), 2);
        assert_eq!(manifests.iter().map(|m| m.count).sum::<i64>(), 2);
    }
}
