//! Vulnerability feeds and matching. Each feed module fetches its
//! production feed (conditional requests, bounded bodies) and parses it
//! into normalized [`Advisory`] records keyed by (namespace, package);
//! [`matching`] confirms candidate advisories against an image's packages
//! with each ecosystem's own version ordering. No storage: the caller keeps
//! records and fingerprints.

mod advisory;
pub mod feeds;
mod fetch;
pub mod matching;
mod severity;

pub use advisory::{Advisory, Affected, Cvss, Epss, Event, FixState, Range};
pub use feeds::{Feed, FeedError, FeedOutcome};
pub use fetch::{Fetcher, Validators};
pub use severity::Severity;
