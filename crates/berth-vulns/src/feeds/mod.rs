//! The feeds, one module each. A feed is a set of sources (files at the
//! feed's base URL); an update fetches each source conditionally and
//! parses only the ones that changed, so records are replaced per source.

pub mod alpine;
pub mod debian;
pub mod epss;
pub mod nvd;
pub mod osv;
pub mod rhel_vex;
pub mod ubuntu;

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Advisory;
use crate::fetch::{Fetched, Fetcher, Validators};

/// Longest text kept from a feed field (descriptions, links).
pub(crate) const MAX_TEXT: usize = 64 * 1024;
/// Longest id or name kept; longer ones are refused as hostile.
pub(crate) const MAX_NAME: usize = 512;

/// Why a feed could not be updated; the previous records stand.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The request failed or the server answered with an error.
    #[error("fetching: {0}")]
    Http(String),
    /// A body exceeded the size cap.
    #[error("{0}: body larger than {1} bytes")]
    TooLarge(String, u64),
    /// A file is not what the feed's format says.
    #[error("{source_name}: {message}")]
    Format {
        /// The source (file) at fault.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A required file is missing.
    #[error("{0}: not found")]
    Missing(String),
    /// Unknown feed name.
    #[error("unknown feed {0:?} (known: debian, ubuntu, alpine, rhel-vex, osv, nvd, epss)")]
    Unknown(String),
}

pub(crate) fn format_error(source: &str, message: impl std::fmt::Display) -> FeedError {
    FeedError::Format {
        source_name: source.to_owned(),
        message: message.to_string(),
    }
}

/// A feed Berth can update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feed {
    /// The Debian security tracker's JSON.
    Debian,
    /// Canonical's OSV records of the Ubuntu releases.
    Ubuntu,
    /// Alpine's secdb.
    Alpine,
    /// Red Hat's CSAF VEX documents.
    RhelVex,
    /// OSV's per-ecosystem archives (language packages).
    Osv,
    /// NVD's yearly CVE feeds: CVSS scores enriching findings.
    Nvd,
    /// FIRST's EPSS scores enriching findings (only when configured).
    Epss,
}

impl Feed {
    /// Every feed.
    pub const ALL: [Feed; 7] = [
        Feed::Debian,
        Feed::Ubuntu,
        Feed::Alpine,
        Feed::RhelVex,
        Feed::Osv,
        Feed::Nvd,
        Feed::Epss,
    ];

    /// The feeds run when none are configured (EPSS, as in Clair, only
    /// when asked for).
    pub const DEFAULT: [Feed; 6] = [
        Feed::Debian,
        Feed::Ubuntu,
        Feed::Alpine,
        Feed::RhelVex,
        Feed::Osv,
        Feed::Nvd,
    ];

    /// The name used in configuration and the database.
    pub fn name(self) -> &'static str {
        match self {
            Feed::Debian => "debian",
            Feed::Ubuntu => "ubuntu",
            Feed::Alpine => "alpine",
            Feed::RhelVex => "rhel-vex",
            Feed::Osv => "osv",
            Feed::Nvd => "nvd",
            Feed::Epss => "epss",
        }
    }

    /// The production URL.
    pub fn default_url(self) -> &'static str {
        match self {
            Feed::Debian => "https://security-tracker.debian.org/tracker/data/json",
            Feed::Ubuntu => "https://osv-vulnerabilities.storage.googleapis.com/",
            Feed::Alpine => "https://secdb.alpinelinux.org/",
            Feed::RhelVex => "https://security.access.redhat.com/data/csaf/v2/vex/",
            Feed::Osv => "https://osv-vulnerabilities.storage.googleapis.com/",
            Feed::Nvd => "https://nvd.nist.gov/feeds/json/cve/2.0/",
            Feed::Epss => "https://epss.cyentia.com/epss_scores-current.csv.gz",
        }
    }
}

impl FromStr for Feed {
    type Err = FeedError;
    fn from_str(s: &str) -> Result<Feed, FeedError> {
        Feed::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| FeedError::Unknown(s.chars().take(64).collect()))
    }
}

/// Where and what a feed fetches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSettings {
    /// Base URL (Debian: the JSON's URL; Ubuntu: the OSV bucket's root;
    /// EPSS: the CSV's URL); the production one if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Alpine: releases to fetch (`v3.20`) instead of the index listing's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases: Option<Vec<String>>,
    /// OSV: ecosystems to fetch instead of the default six.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystems: Option<Vec<String>>,
    /// NVD: years to fetch instead of 2002 to this year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<Vec<u16>>,
}

/// One source's result.
#[derive(Debug)]
pub struct SourceUpdate {
    /// The source's name within the feed (`v3.20/main.json`).
    pub source: String,
    /// The validators to keep.
    pub validators: Validators,
    /// The source's records, or `None` when it did not change.
    pub advisories: Option<Vec<Advisory>>,
}

/// The result of one update of a feed.
#[derive(Debug, Default)]
pub struct FeedOutcome {
    /// Every source the feed has now (sources stored earlier and not named
    /// here are gone from the feed).
    pub sources: Vec<SourceUpdate>,
}

impl FeedOutcome {
    /// Whether any source changed.
    pub fn changed(&self) -> bool {
        self.sources.iter().any(|s| s.advisories.is_some())
    }
}

/// Fetch and parse `feed` from `settings`, conditional on the validators
/// stored per source from the previous update.
pub async fn update(
    feed: Feed,
    settings: &FeedSettings,
    fetcher: &Fetcher,
    previous: &BTreeMap<String, Validators>,
) -> Result<FeedOutcome, FeedError> {
    let base = settings.url.as_deref().unwrap_or(feed.default_url());
    match feed {
        Feed::Debian => debian::update(base, fetcher, previous).await,
        Feed::Ubuntu => ubuntu::update(base, fetcher, previous).await,
        Feed::Alpine => alpine::update(base, settings.releases.as_deref(), fetcher, previous).await,
        Feed::RhelVex => rhel_vex::update(base, fetcher, previous).await,
        Feed::Osv => osv::update(base, settings.ecosystems.as_deref(), fetcher, previous).await,
        Feed::Nvd => nvd::update(base, settings.years.as_deref(), fetcher, previous).await,
        Feed::Epss => epss::update(base, fetcher, previous).await,
    }
}

/// Fetch one source conditionally: `Ok(None)` if unchanged (or missing
/// when `optional`).
pub(crate) async fn fetch_source(
    fetcher: &Fetcher,
    url: &str,
    source: &str,
    previous: &BTreeMap<String, Validators>,
) -> Result<Option<(Vec<u8>, Validators)>, FeedError> {
    match fetcher.get(url, previous.get(source)).await? {
        Fetched::NotModified => Ok(None),
        Fetched::Missing => Err(FeedError::Missing(url.to_owned())),
        Fetched::Body { bytes, validators } => Ok(Some((bytes, validators))),
    }
}

/// `base` joined with `path` (exactly one `/` between).
pub(crate) fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// A bounded copy of feed text.
pub(crate) fn text(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A name or id, refused when empty or longer than [`MAX_NAME`].
pub(crate) fn name(source: &str, what: &str, s: &str) -> Result<String, FeedError> {
    if s.is_empty() || s.len() > MAX_NAME {
        return Err(format_error(
            source,
            format!("{what} is empty or longer than {MAX_NAME} bytes"),
        ));
    }
    Ok(s.to_owned())
}
