//! Reading the usage log: the entries of a repository, a namespace or the
//! whole registry, newest first a page at a time, counted per kind and day,
//! or exported in full, oldest first. The writer is in `audit.rs`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_store::Db;
use berth_store::metadata::{AuditQuery, AuditRow};

/// A position in the log's order: (`created_ms`, `id`).
type Cursor = (i64, i64);
use serde::{Deserialize, Serialize};

use super::policy::Action;
use super::{AuditEvent, AuditLog, Identity, IdentityError};
use crate::Caller;
use crate::names::{AccountKind, Namespace, RepositoryName};

/// Entries per page of a listing (and per database read of an export).
pub const LOG_PAGE_SIZE: usize = 100;

/// Whose entries to read, which decides who may read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogScope {
    /// One repository: its administrators.
    Repository(RepositoryName),
    /// One organization, its repositories included: its administrators.
    Organization(Namespace),
    /// The calling user's namespace, its repositories included.
    CallingUser,
    /// Every entry: superusers.
    All,
}

/// Which entries to read.
#[derive(Debug, Clone)]
pub struct LogFilter {
    /// Whose.
    pub scope: LogScope,
    /// Only those done by this account.
    pub performer: Option<String>,
    /// From this time, in ms since the epoch (inclusive).
    pub start_ms: i64,
    /// Until this time, in ms since the epoch (exclusive).
    pub end_ms: i64,
}

/// Whose entries, once the caller is admitted and names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// One repository, by full name `namespace/name`.
    Repository(String),
    /// One namespace (user or organization), its repositories included.
    Namespace(String),
    /// Every entry.
    All,
}

/// The entries one listing reads.
#[derive(Debug, Clone)]
struct Selection {
    target: Target,
    performer: Option<String>,
    start_ms: i64,
    end_ms: i64,
}

impl Selection {
    fn query(&self) -> AuditQuery {
        let (namespace, repository) = match &self.target {
            Target::Repository(full) => {
                let ns = super::policy::namespace_of(full);
                let name = full
                    .strip_prefix(ns)
                    .and_then(|n| n.strip_prefix('/'))
                    .unwrap_or(full);
                (Some(ns.to_owned()), Some(name.to_owned()))
            }
            Target::Namespace(ns) => (Some(ns.clone()), None),
            Target::All => (None, None),
        };
        AuditQuery {
            namespace,
            repository,
            performer: self.performer.clone(),
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            max_id: None,
        }
    }

    /// What a page token is bound to: the target and the performer, so a
    /// token is not silently reused for another listing.
    fn fingerprint(&self) -> String {
        let scope = match &self.target {
            Target::Repository(r) => format!("repo:{r}"),
            Target::Namespace(n) => format!("ns:{n}"),
            Target::All => "all".to_owned(),
        };
        let performer = self.performer.as_deref().unwrap_or("");
        let digest = crate::crypto::sha256(&[format!("{scope}\n{performer}").as_bytes()]);
        hex::encode(&digest[..8])
    }
}

/// Quay's date format (RFC 2822), as the export's log entry records its
/// range.
fn quay_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S -0000").to_string())
        .unwrap_or_default()
}

/// One usage-log entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Row id; larger is newer.
    pub id: i64,
    /// What happened (Quay's log kind).
    pub kind: String,
    /// Who did it.
    pub performer: Option<String>,
    /// Whether the performer is a robot.
    pub performer_is_robot: bool,
    /// The namespace it happened in.
    pub namespace: Option<String>,
    /// User or organization, if the namespace still exists.
    pub namespace_kind: Option<AccountKind>,
    /// The repository within the namespace.
    pub repository: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// Details; on repository events they include `namespace` and `repo`,
    /// as Quay's do.
    pub metadata: serde_json::Value,
    /// When, in ms since the epoch.
    pub created_ms: i64,
}

impl From<AuditRow> for LogEntry {
    fn from(row: AuditRow) -> Self {
        let mut metadata = match serde_json::from_str::<serde_json::Value>(&row.metadata) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => serde_json::json!({}),
        };
        if let (Some(ns), Some(repo), Some(obj)) = (&row.namespace, &row.repository, metadata.as_object_mut())
        {
            obj.entry("namespace").or_insert_with(|| ns.clone().into());
            obj.entry("repo").or_insert_with(|| repo.clone().into());
        }
        LogEntry {
            id: row.id,
            kind: row.kind,
            performer_is_robot: row.performer_kind.as_deref() == Some("robot"),
            performer: row.performer,
            namespace: row.namespace,
            namespace_kind: row
                .namespace_kind
                .as_deref()
                .and_then(AccountKind::parse)
                .filter(|k| k.is_namespace()),
            repository: row.repository,
            ip: row.ip,
            metadata,
            created_ms: row.created_ms,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct LogPage {
    /// Up to [`LOG_PAGE_SIZE`] entries, newest first.
    pub entries: Vec<LogEntry>,
    /// The token for the next page, if there is one.
    pub next_page: Option<String>,
    /// The range listed (a page token carries its listing's range).
    pub start_ms: i64,
    /// End of the range (exclusive).
    pub end_ms: i64,
}

/// How many entries of one kind were made on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCount {
    /// The log kind.
    pub kind: String,
    /// The UTC day's first millisecond.
    pub day_ms: i64,
    /// How many.
    pub count: i64,
}

/// Where the next page of a listing starts; handed to clients opaquely as
/// base64url JSON. It pins the listing to the entries that existed when
/// its first page was read, so pages neither repeat nor skip entries.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageToken {
    /// Continue after this entry (time, id) in newest-first order.
    t: i64,
    i: i64,
    /// The newest id when the listing started.
    m: i64,
    /// The listing's range.
    s: i64,
    e: i64,
    /// The listing's [`Selection::fingerprint`].
    f: String,
}

impl PageToken {
    fn encode(&self) -> Result<String, IdentityError> {
        let json = serde_json::to_vec(self).map_err(|e| IdentityError::Internal(e.to_string()))?;
        Ok(URL_SAFE_NO_PAD.encode(json))
    }

    fn decode(token: &str, filter: &Selection) -> Result<PageToken, IdentityError> {
        let invalid = || IdentityError::Invalid("invalid next_page token".into());
        let json = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| invalid())?;
        let t: PageToken = serde_json::from_slice(&json).map_err(|_| invalid())?;
        let sane = t.i > 0 && t.i <= t.m && t.s <= t.t && t.t < t.e;
        if !sane || t.f != filter.fingerprint() {
            return Err(invalid());
        }
        Ok(t)
    }
}

impl Identity {
    /// Admit the caller to `filter`'s entries and resolve whose they are.
    async fn select(&self, caller: &Caller, filter: &LogFilter) -> Result<Selection, IdentityError> {
        let target = match &filter.scope {
            LogScope::Repository(repo) => {
                self.authorize(&caller.principal, Action::Administer(repo.as_str()))
                    .await?;
                Target::Repository(repo.as_str().to_owned())
            }
            LogScope::Organization(org) => {
                self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
                    .await?;
                match self.db.account_by_name(org.as_str()).await? {
                    Some(a) if AccountKind::parse(&a.kind) == Some(AccountKind::Organization) => {}
                    _ => return Err(IdentityError::NotFound(format!("organization {org} not found"))),
                }
                Target::Namespace(org.as_str().to_owned())
            }
            LogScope::CallingUser => {
                self.authorize(&caller.principal, Action::AdministerUser).await?;
                let name = caller
                    .name()
                    .ok_or_else(|| IdentityError::Unauthenticated("Requires authentication".into()))?;
                Target::Namespace(name.to_owned())
            }
            LogScope::All => {
                self.authorize(&caller.principal, Action::SuperUser).await?;
                Target::All
            }
        };
        Ok(Selection {
            target,
            performer: filter.performer.clone(),
            start_ms: filter.start_ms,
            end_ms: filter.end_ms,
        })
    }

    /// One page of the entries matching `filter` (see [`LogScope`] for
    /// who may read them), newest first; with a `next_page` token from the
    /// previous page, the page after it (over the token's range). Entries
    /// queued so far are written first, so a caller sees what they just
    /// did.
    pub async fn usage_logs(
        &self,
        caller: &Caller,
        filter: &LogFilter,
        next_page: Option<&str>,
    ) -> Result<LogPage, IdentityError> {
        let mut filter = self.select(caller, filter).await?;
        let mut q = filter.query();
        let mut cursor: Option<Cursor> = None;
        if let Some(token) = next_page {
            let t = PageToken::decode(token, &filter)?;
            (filter.start_ms, filter.end_ms) = (t.s, t.e);
            (q.start_ms, q.end_ms, q.max_id) = (t.s, t.e, Some(t.m));
            cursor = Some((t.t, t.i));
        } else {
            self.audit.flush().await;
            q.max_id = Some(self.db.audit_max_id().await?);
        }
        let mut rows = self
            .db
            .audit_entries(&q, cursor, LOG_PAGE_SIZE as i64 + 1)
            .await?;
        let next_page = if rows.len() > LOG_PAGE_SIZE {
            rows.truncate(LOG_PAGE_SIZE);
            let (t, i) = rows.last().map(|r| (r.created_ms, r.id)).unwrap_or_default();
            let token = PageToken {
                t,
                i,
                m: q.max_id.unwrap_or_default(),
                s: filter.start_ms,
                e: filter.end_ms,
                f: filter.fingerprint(),
            };
            Some(token.encode()?)
        } else {
            None
        };
        Ok(LogPage {
            entries: rows.into_iter().map(LogEntry::from).collect(),
            next_page,
            start_ms: filter.start_ms,
            end_ms: filter.end_ms,
        })
    }

    /// How many entries matching `filter` there are per kind and UTC day,
    /// oldest day first.
    pub async fn usage_log_counts(
        &self,
        caller: &Caller,
        filter: &LogFilter,
    ) -> Result<Vec<LogCount>, IdentityError> {
        let filter = self.select(caller, filter).await?;
        self.audit.flush().await;
        let counts = self.db.audit_counts(&filter.query()).await?;
        Ok(counts
            .into_iter()
            .map(|(kind, day_ms, count)| LogCount { kind, day_ms, count })
            .collect())
    }

    /// Start exporting every entry matching `filter`, oldest first, as
    /// the log stands now (entries written later are not included). The
    /// export is logged when it completes, as `export_logs_success` with
    /// its range and the count of entries exported, or as
    /// `export_logs_failure` if reading fails.
    pub async fn export_usage_logs(
        &self,
        caller: &Caller,
        filter: &LogFilter,
    ) -> Result<LogExport, IdentityError> {
        let filter = self.select(caller, filter).await?;
        let done = match &filter.target {
            Target::Repository(repo) => AuditEvent::by("export_logs_success", caller).repository(repo),
            Target::Namespace(ns) => AuditEvent::by("export_logs_success", caller).namespace(ns),
            Target::All => AuditEvent::by("export_logs_success", caller),
        }
        .metadata(serde_json::json!({
            "start_time": quay_date(filter.start_ms),
            "end_time": quay_date(filter.end_ms),
        }));
        self.audit.flush().await;
        let mut query = filter.query();
        query.max_id = Some(self.db.audit_max_id().await?);
        Ok(LogExport {
            db: self.db.clone(),
            audit: self.audit.clone(),
            finished: false,
            query,
            cursor: None,
            exported: 0,
            done: Some(done),
        })
    }
}

/// An export in progress: read it page by page with [`LogExport::next_page`].
pub struct LogExport {
    db: Db,
    audit: AuditLog,
    query: AuditQuery,
    cursor: Option<Cursor>,
    finished: bool,
    exported: u64,
    done: Option<AuditEvent>,
}

impl LogExport {
    /// The next up to [`LOG_PAGE_SIZE`] entries, or `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<LogEntry>>, IdentityError> {
        if self.finished {
            self.log_outcome(true);
            return Ok(None);
        }
        let rows = match self
            .db
            .audit_entries_oldest_first(&self.query, self.cursor, LOG_PAGE_SIZE as i64)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                self.finished = true;
                self.log_outcome(false);
                return Err(e.into());
            }
        };
        if rows.len() < LOG_PAGE_SIZE {
            self.finished = true;
        }
        let Some(last) = rows.last() else {
            self.log_outcome(true);
            return Ok(None);
        };
        self.cursor = Some((last.created_ms, last.id));
        self.exported += rows.len() as u64;
        Ok(Some(rows.into_iter().map(LogEntry::from).collect()))
    }

    /// Log how the export ended, once.
    fn log_outcome(&mut self, success: bool) {
        if let Some(mut event) = self.done.take() {
            if !success {
                event.kind = "export_logs_failure";
            }
            if let Some(obj) = event.metadata.as_object_mut() {
                obj.insert("exported".into(), self.exported.into());
            }
            self.audit.record_detached(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(target: Target) -> Selection {
        Selection {
            target,
            performer: None,
            start_ms: 1_000,
            end_ms: 90_000_000,
        }
    }

    #[test]
    fn tokens_round_trip_and_bind_to_their_listing() {
        let repo = filter(Target::Repository("acme/app".into()));
        let token = PageToken {
            t: 5_000,
            i: 42,
            m: 99,
            s: repo.start_ms,
            e: repo.end_ms,
            f: repo.fingerprint(),
        }
        .encode()
        .unwrap();
        let t = PageToken::decode(&token, &repo).unwrap();
        assert_eq!((t.t, t.i, t.m), (5_000, 42, 99));
        assert!(PageToken::decode(&token, &filter(Target::Namespace("acme".into()))).is_err());
        let mut by_bob = repo.clone();
        by_bob.performer = Some("bob".into());
        assert!(PageToken::decode(&token, &by_bob).is_err());
    }

    #[test]
    fn garbled_tokens_are_invalid() {
        let all = filter(Target::All);
        let f = all.fingerprint();
        let forged = |json: String| URL_SAFE_NO_PAD.encode(json);
        for token in [
            String::new(),
            "!!!".into(),
            "a".into(),
            forged("null".into()),
            forged("[1,2,3,4,5,\"x\"]".into()),
            forged(format!(
                r#"{{"t":5000,"i":0,"m":9,"s":1000,"e":90000000,"f":"{f}"}}"#
            )),
            forged(format!(
                r#"{{"t":5000,"i":10,"m":9,"s":1000,"e":90000000,"f":"{f}"}}"#
            )),
            forged(format!(
                r#"{{"t":1,"i":1,"m":9,"s":1000,"e":90000000,"f":"{f}"}}"#
            )),
            forged(format!(
                r#"{{"t":5000,"i":1,"m":9,"s":1000,"e":90000000,"f":"{f}","x":1}}"#
            )),
        ] {
            assert!(
                matches!(PageToken::decode(&token, &all), Err(IdentityError::Invalid(_))),
                "{token}"
            );
        }
    }
}
