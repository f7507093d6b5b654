//! The usage (audit) log. Entries are queued and written in batches by a
//! background task, so logging every pull costs a request no database
//! round trip; administrative changes are written before they are answered.

use std::time::Duration;

use berth_store::Db;
use berth_store::metadata::NewAuditEntry;
use tokio::sync::{mpsc, oneshot};

use super::principal::{Credential, Principal};

/// Entries written per transaction at most.
const BATCH: usize = 512;
/// How long a queued entry waits for company.
const LINGER: Duration = Duration::from_millis(200);
/// Queued entries at most; beyond that, recording waits for room.
const QUEUE: usize = 8_192;

/// One event to log.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    /// What happened (Quay's log kinds: `push_repo`, `create_robot`, ...).
    pub kind: &'static str,
    /// Who did it and from where.
    pub performer: Option<String>,
    /// `user`, `robot`, `app`, `oauth`.
    pub performer_kind: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// The namespace it happened in.
    pub namespace: Option<String>,
    /// The repository within the namespace.
    pub repository: Option<String>,
    /// Details.
    pub metadata: serde_json::Value,
}

impl AuditEvent {
    /// An event of `kind` done by `principal` from `ip`.
    pub fn new(kind: &'static str, principal: &Principal, ip: Option<std::net::IpAddr>) -> AuditEvent {
        let performer_kind = match (&principal.credential, principal.kind()) {
            (_, "anonymous") => None,
            (Credential::OAuth(_), _) => Some("oauth".to_owned()),
            (Credential::AppToken, _) => Some("app".to_owned()),
            (_, kind) => Some(kind.to_owned()),
        };
        AuditEvent {
            kind,
            performer: principal.name().map(str::to_owned),
            performer_kind,
            ip: ip.map(|ip| ip.to_string()),
            metadata: serde_json::json!({}),
            ..AuditEvent::default()
        }
    }

    /// An event of `kind` done by `caller`.
    pub fn by(kind: &'static str, caller: &crate::Caller) -> AuditEvent {
        AuditEvent::new(kind, &caller.principal, caller.ip)
    }

    /// In a namespace.
    pub fn namespace(mut self, ns: &str) -> AuditEvent {
        self.namespace = Some(ns.to_owned());
        self
    }

    /// On a repository (full name `ns/name`).
    pub fn repository(mut self, full_name: &str) -> AuditEvent {
        let ns = super::policy::namespace_of(full_name);
        let name = full_name
            .strip_prefix(ns)
            .and_then(|n| n.strip_prefix('/'))
            .unwrap_or(full_name);
        self.namespace = Some(ns.to_owned());
        self.repository = Some(name.to_owned());
        self
    }

    /// With details.
    pub fn metadata(mut self, metadata: serde_json::Value) -> AuditEvent {
        self.metadata = metadata;
        self
    }

    /// The stored form, stamped now.
    pub(crate) fn into_entry(self) -> NewAuditEntry {
        NewAuditEntry {
            kind: self.kind.to_owned(),
            performer: self.performer,
            performer_kind: self.performer_kind,
            namespace: self.namespace,
            repository: self.repository,
            ip: self.ip,
            metadata: self.metadata.to_string(),
            created_ms: berth_store::now_ms(),
        }
    }
}

enum Msg {
    Entry(NewAuditEntry),
    Flush(oneshot::Sender<()>),
}

/// Where events go.
#[derive(Clone)]
pub struct AuditLog {
    db: Db,
    queue: mpsc::Sender<Msg>,
}

impl AuditLog {
    /// Start the writer task (needs a Tokio runtime).
    pub fn start(db: Db) -> AuditLog {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(db.clone(), rx));
        AuditLog { db, queue }
    }

    /// Queue an event; it is written within a fraction of a second. When
    /// the queue is full this waits for room: callers are slowed to the
    /// pace the log is written at rather than piling entries up in memory.
    pub async fn record(&self, event: AuditEvent) {
        let entry = event.into_entry();
        if let Err(mpsc::error::SendError(Msg::Entry(entry))) = self.queue.send(Msg::Entry(entry)).await {
            // The writer is gone (shutting down): write it ourselves.
            if let Err(e) = self.db.record_audit(&[entry]).await {
                tracing::error!(%e, "writing an audit entry failed");
            }
        }
    }

    /// [`AuditLog::record`] from code that cannot wait (the end of a
    /// stream): the entry is queued by a task of its own. For rare events
    /// only.
    pub fn record_detached(&self, event: AuditEvent) {
        let log = self.clone();
        tokio::spawn(async move { log.record(event).await });
    }

    /// Write an event now.
    pub async fn record_now(&self, event: AuditEvent) -> Result<(), berth_store::StoreError> {
        self.db.record_audit(&[event.into_entry()]).await
    }

    /// Wait until everything queued so far is written.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.queue.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn write_batches(db: Db, mut rx: mpsc::Receiver<Msg>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        loop {
            match next.take() {
                Some(Msg::Entry(e)) => batch.push(e),
                Some(Msg::Flush(w)) => {
                    waiters.push(w);
                    break;
                }
                None => {}
            }
            if batch.len() >= BATCH {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => next = Some(m),
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            if let Err(e) = db.record_audit(&batch).await {
                tracing::error!(%e, entries = batch.len(), "writing audit entries failed");
            }
            batch.clear();
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}
