//! Usage-log entries as the repository and organization pages list them.

use berth_core::identity::usage_log::LogEntry;

use super::view::when;

/// Days of the log a page reads.
const RECENT_DAYS: i64 = 30;

/// One entry as a table row.
pub(crate) struct LogRow {
    /// When.
    pub when: String,
    /// Quay's log kind, e.g. `delete_tag`.
    pub kind: String,
    /// Who did it, or a dash (the expiry worker, anonymous pulls).
    pub performer: String,
    /// The repository, if any.
    pub repository: String,
    /// The details, as compact JSON without the repository and namespace
    /// repeated.
    pub details: String,
}

/// The range the pages read: the last [`RECENT_DAYS`] days, up to
/// tomorrow (entries are timed by the instance that wrote them).
pub(crate) fn recent() -> (i64, i64) {
    let now = berth_core::now_ms();
    const DAY_MS: i64 = 86_400_000;
    (now - RECENT_DAYS * DAY_MS, now + DAY_MS)
}

/// The rows of `entries`.
pub(crate) fn log_rows(entries: Vec<LogEntry>) -> Vec<LogRow> {
    entries
        .into_iter()
        .map(|e| {
            let mut metadata = e.metadata;
            if let Some(obj) = metadata.as_object_mut() {
                obj.remove("namespace");
                obj.remove("repo");
            }
            LogRow {
                when: when(e.created_ms),
                kind: e.kind,
                performer: e.performer.unwrap_or_else(|| "—".to_owned()),
                repository: match (e.namespace, e.repository) {
                    (Some(ns), Some(repo)) => format!("{ns}/{repo}"),
                    _ => String::new(),
                },
                details: metadata.to_string(),
            }
        })
        .collect()
}
