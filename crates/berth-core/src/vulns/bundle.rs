//! Bundles of the vulnerability database for air-gapped instances: every
//! feed's records and per-source validators (fingerprints) in one
//! zstd-compressed file of JSON lines. An import checks the whole file
//! before it writes anything, then replaces each feed under its claim (as
//! an update would, so it is safe while servers run and re-matches only
//! the images the changes touch); online updates later continue from the
//! imported validators with conditional requests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_store::Db;
use berth_store::metadata::{AdvisoryRow, SourceWrite};
use berth_vulns::matching::{self, Key, Report};
use berth_vulns::{Advisory, Feed};
use serde::{Deserialize, Serialize};

use super::{VulnError, from_row, rematch, to_row};
use crate::notify::Site;

/// The format name in a bundle's first line.
const FORMAT: &str = "berth-vulndb";
/// The format version this build writes and reads.
pub const BUNDLE_VERSION: u32 = 1;
/// How long an import holds a feed's claim.
const LEASE: Duration = Duration::from_secs(30 * 60);

/// Why a bundle could not be written, read or imported.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not a bundle this build can read.
    #[error("{path}: not a usable vulnerability bundle: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Another instance is updating a feed; nothing of it was imported.
    #[error("feed {0} is being updated by another instance; try again later")]
    Busy(String),
    /// Storage or matching failed.
    #[error(transparent)]
    Vuln(#[from] VulnError),
}

/// The first line; unknown fields are allowed so a later version's
/// header still reads far enough to name its version.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    created_ms: i64,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceLine {
    source: String,
    validators: serde_json::Value,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedLine {
    name: String,
    checked_ms: Option<i64>,
    changed_ms: Option<i64>,
    sources: Vec<SourceLine>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvisoryLine {
    feed: String,
    source: String,
    advisory: Advisory,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    feeds: usize,
    advisories: usize,
}

/// One line after the header.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Feed(FeedLine),
    // Boxed: a record is far larger than the other lines.
    Advisory(Box<AdvisoryLine>),
    End(End),
}

/// A feed as a bundle holds it.
#[derive(Clone)]
pub struct BundledFeed {
    feed: FeedLine,
    advisories: Vec<(String, Advisory)>,
}

impl BundledFeed {
    /// The feed's name.
    pub fn name(&self) -> &str {
        &self.feed.name
    }

    /// How many records it holds.
    pub fn records(&self) -> usize {
        self.advisories.len()
    }
}

/// A bundle read whole and checked.
pub struct Bundle {
    /// When it was written (ms since the epoch).
    pub created_ms: i64,
    /// Its feeds, by name.
    pub feeds: Vec<BundledFeed>,
}

/// What an export or import did, per feed: (name, records).
pub type FeedCounts = Vec<(String, usize)>;

/// Write every stored feed into `path` (zstd, JSON lines). Reads each feed
/// whole at one moment; the file appears only when complete.
pub async fn export(db: &Db, path: &Path) -> Result<FeedCounts, BundleError> {
    let mut feeds = Vec::new();
    for row in db.vuln_feeds().await.map_err(VulnError::from)? {
        let Some(feed) = db.vuln_export_feed(&row.name).await.map_err(VulnError::from)? else {
            continue;
        };
        let rows = db
            .vuln_export_advisories(&row.name)
            .await
            .map_err(VulnError::from)?;
        let mut advisories = Vec::with_capacity(rows.len());
        for r in rows {
            let advisory = from_row(AdvisoryRow {
                feed: row.name.clone(),
                namespace: r.advisory.namespace,
                package: r.advisory.package,
                id: r.advisory.id,
                aliases: r.advisory.aliases,
                severity: r.advisory.severity,
                affected: r.advisory.affected,
                links: r.advisory.links,
                description: r.advisory.description,
            })
            .map_err(VulnError::from)?;
            advisories.push((r.source, advisory));
        }
        let sources = feed
            .sources
            .into_iter()
            .map(|(source, validators)| SourceLine {
                source,
                // Unreadable stored validators only cost a full download.
                validators: serde_json::from_str(&validators).unwrap_or(serde_json::Value::Null),
            })
            .collect();
        feeds.push(BundledFeed {
            feed: FeedLine {
                name: feed.name,
                checked_ms: feed.checked_ms,
                changed_ms: feed.changed_ms,
                sources,
            },
            advisories,
        });
    }
    let counts = feeds
        .iter()
        .map(|f| (f.feed.name.clone(), f.advisories.len()))
        .collect();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || write_file(&path, &feeds))
        .await
        .map_err(|e| BundleError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(e),
        })??;
    Ok(counts)
}

fn write_file(path: &Path, feeds: &[BundledFeed]) -> Result<(), BundleError> {
    let io = |source| BundleError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("partial");
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut out = zstd::Encoder::new(std::io::BufWriter::new(file), 9).map_err(io)?;
    write_line(
        &mut out,
        &Header {
            format: FORMAT.into(),
            version: BUNDLE_VERSION,
            created_ms: berth_store::now_ms(),
        },
    )
    .map_err(io)?;
    let mut total = 0;
    for f in feeds {
        write_line(&mut out, &Line::Feed(f.feed.clone())).map_err(io)?;
        for (source, advisory) in &f.advisories {
            total += 1;
            let record = Line::Advisory(Box::new(AdvisoryLine {
                feed: f.feed.name.clone(),
                source: source.clone(),
                advisory: advisory.clone(),
            }));
            write_line(&mut out, &record).map_err(io)?;
        }
    }
    let end = Line::End(End {
        feeds: feeds.len(),
        advisories: total,
    });
    write_line(&mut out, &end).map_err(io)?;
    let inner = out.finish().map_err(io)?;
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

/// Write `value` as one JSON line.
fn write_line<T: Serialize>(out: &mut impl Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

impl Bundle {
    /// Read and check the bundle at `path` whole: its format and version,
    /// every line, that every record names a feed and source the bundle
    /// declares, and the closing counts (a truncated file fails).
    pub async fn read(path: &Path) -> Result<Bundle, BundleError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || read_file(&path))
            .await
            .map_err(|e| BundleError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e),
            })?
    }

    /// Every record by lookup key, for matching without a database.
    pub fn advisories(&self) -> HashMap<Key, Vec<Advisory>> {
        let mut out: HashMap<Key, Vec<Advisory>> = HashMap::new();
        for (_, a) in self.feeds.iter().flat_map(|f| &f.advisories) {
            out.entry(Key {
                namespace: a.namespace.clone(),
                package: a.package.clone(),
            })
            .or_default()
            .push(a.clone());
        }
        out
    }

    /// The report of `inventory` against this bundle's records.
    pub fn match_inventory(&self, inventory: &berth_scan::Inventory) -> Report {
        matching::match_inventory(inventory, &self.advisories())
    }

    /// Load every feed of the bundle into `db`: each feed under its claim,
    /// its sources' validators and records replaced (only changed rows
    /// written), then the images the changes touch matched again (with
    /// `site`, new findings record `vulnerability_found`). Feeds the bundle
    /// does not hold are left alone.
    pub async fn import(
        &self,
        db: &Db,
        site: Option<&Site>,
    ) -> Result<Vec<(String, usize, usize)>, BundleError> {
        let mut out = Vec::new();
        for f in &self.feeds {
            let token = uuid::Uuid::new_v4().to_string();
            let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
            let now = berth_store::now_ms();
            if !db
                .claim_vuln_feed(&f.feed.name, &token, lease, now)
                .await
                .map_err(VulnError::from)?
            {
                return Err(BundleError::Busy(f.feed.name.clone()));
            }
            let mut by_source: BTreeMap<&str, Vec<_>> = f
                .feed
                .sources
                .iter()
                .map(|s| (s.source.as_str(), Vec::new()))
                .collect();
            for (source, a) in &f.advisories {
                if let Some(list) = by_source.get_mut(source.as_str()) {
                    list.push(to_row(a).map_err(VulnError::from)?);
                }
            }
            let mut writes = Vec::with_capacity(by_source.len());
            for s in &f.feed.sources {
                writes.push(SourceWrite {
                    source: s.source.clone(),
                    validators: s.validators.to_string(),
                    advisories: Some(by_source.remove(s.source.as_str()).unwrap_or_default()),
                });
            }
            let Some(changed) = db
                .apply_vuln_update(&f.feed.name, &token, &writes)
                .await
                .map_err(VulnError::from)?
            else {
                return Err(BundleError::Busy(f.feed.name.clone()));
            };
            let rematched = if changed.is_empty() {
                0
            } else {
                rematch(db, &changed, site).await?
            };
            out.push((f.feed.name.clone(), f.advisories.len(), rematched));
        }
        Ok(out)
    }
}

fn read_file(path: &Path) -> Result<Bundle, BundleError> {
    let invalid = |why: String| BundleError::Invalid {
        path: path.to_owned(),
        why,
    };
    let file = std::fs::File::open(path).map_err(|source| BundleError::Io {
        path: path.to_owned(),
        source,
    })?;
    let decoder = zstd::Decoder::new(file).map_err(|e| invalid(format!("not zstd: {e}")))?;
    let mut lines = BufReader::new(decoder).lines();
    let mut next = |n: usize| -> Result<Option<String>, BundleError> {
        match lines.next() {
            None => Ok(None),
            Some(Ok(l)) => Ok(Some(l)),
            Some(Err(e)) => Err(invalid(format!("line {n}: {e}"))),
        }
    };
    let first = next(1)?.ok_or_else(|| invalid("empty".into()))?;
    let header: Header =
        serde_json::from_str(&first).map_err(|e| invalid(format!("line 1 is not a bundle header: {e}")))?;
    if header.format != FORMAT {
        return Err(invalid(format!(
            "format {:?}, expected {FORMAT:?}",
            header.format
        )));
    }
    if header.version != BUNDLE_VERSION {
        return Err(invalid(format!(
            "format version {}, this build reads version {BUNDLE_VERSION}",
            header.version
        )));
    }
    let mut feeds: Vec<BundledFeed> = Vec::new();
    let mut sources: BTreeSet<(String, String)> = BTreeSet::new();
    let mut n = 1;
    loop {
        n += 1;
        let Some(text) = next(n)? else {
            return Err(invalid("truncated: no closing line".into()));
        };
        let line: Line = serde_json::from_str(&text).map_err(|e| invalid(format!("line {n}: {e}")))?;
        match line {
            Line::Feed(f) => {
                if f.name.parse::<Feed>().is_err() {
                    return Err(invalid(format!("line {n}: unknown feed {:?}", f.name)));
                }
                if feeds.iter().any(|g| g.feed.name == f.name) {
                    return Err(invalid(format!("line {n}: feed {:?} twice", f.name)));
                }
                for s in &f.sources {
                    sources.insert((f.name.clone(), s.source.clone()));
                }
                feeds.push(BundledFeed {
                    feed: f,
                    advisories: Vec::new(),
                });
            }
            Line::Advisory(a) => {
                if !sources.contains(&(a.feed.clone(), a.source.clone())) {
                    return Err(invalid(format!(
                        "line {n}: record {} names source {:?} of feed {:?}, not declared before it",
                        a.advisory.id, a.source, a.feed
                    )));
                }
                if let Some(f) = feeds.iter_mut().find(|f| f.feed.name == a.feed) {
                    let a = *a;
                    f.advisories.push((a.source, a.advisory));
                }
            }
            Line::End(end) => {
                let records: usize = feeds.iter().map(|f| f.advisories.len()).sum();
                if end.feeds != feeds.len() || end.advisories != records {
                    return Err(invalid(format!(
                        "closing line counts {} feeds and {} records, the file holds {} and {records}",
                        end.feeds,
                        end.advisories,
                        feeds.len()
                    )));
                }
                if next(n + 1)?.is_some() {
                    return Err(invalid(format!("data after the closing line {n}")));
                }
                return Ok(Bundle {
                    created_ms: header.created_ms,
                    feeds,
                });
            }
        }
    }
}
