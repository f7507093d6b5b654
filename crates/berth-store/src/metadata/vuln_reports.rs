//! Per-image vulnerability reports, with the keys they were matched on
//! (to find the images a feed change touches) and their findings' ids (to
//! find the images a vulnerability affects). Reports are opaque JSON
//! strings to this crate.

use std::collections::BTreeSet;

use super::vulns::KEYS_PER_QUERY;
use crate::{Db, StoreError, now_ms, on_db};

/// How a stored report's lookup rows (keys and finding ids) change.
#[derive(Debug, Clone)]
pub enum ReportRows {
    /// Replace them all: a first match, or one whose previous rows are
    /// unknown.
    Replace {
        /// Every (namespace, package) the report was matched on.
        keys: Vec<(String, String)>,
        /// Every id and alias of its findings.
        ids: Vec<String>,
    },
    /// Add and remove only these; a re-match mostly changes few or none.
    Change {
        /// Keys the report is now matched on too.
        add_keys: Vec<(String, String)>,
        /// Keys it no longer is.
        remove_keys: Vec<(String, String)>,
        /// Finding ids new to the report.
        add_ids: Vec<String>,
        /// Finding ids gone from it.
        remove_ids: Vec<String>,
    },
}

/// A stored report.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredReport {
    /// The manifest it is of.
    pub manifest_digest: String,
    /// The report (JSON).
    pub report: String,
    /// Its per-severity summary (JSON), absent on reports stored before
    /// summaries were kept.
    pub summary: Option<String>,
}

/// One report to store.
#[derive(Debug, Clone)]
pub struct ReportWrite {
    /// The manifest it is of.
    pub manifest_digest: String,
    /// The report (JSON).
    pub report: String,
    /// Its per-severity summary (JSON).
    pub summary: String,
    /// How its lookup rows change.
    pub rows: ReportRows,
}

impl Db {
    /// Store (or replace) reports with their summaries, keys and finding
    /// ids, in one transaction: a re-match of thousands of images pays for
    /// one durable commit per batch, not one per image.
    pub async fn put_vuln_reports(&self, writes: &[ReportWrite]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut replaced = Vec::new();
        let mut add_keys = Vec::new();
        let mut remove_keys = Vec::new();
        let mut add_ids = Vec::new();
        let mut remove_ids = Vec::new();
        for w in writes {
            let digest = w.manifest_digest.as_str();
            match &w.rows {
                ReportRows::Replace { keys, ids } => {
                    replaced.push(digest);
                    add_keys.extend(keys.iter().map(|(n, p)| (n.as_str(), p.as_str(), digest)));
                    add_ids.extend(ids.iter().map(|id| (id.as_str(), digest)));
                }
                ReportRows::Change {
                    add_keys: ak,
                    remove_keys: rk,
                    add_ids: ai,
                    remove_ids: ri,
                } => {
                    add_keys.extend(ak.iter().map(|(n, p)| (n.as_str(), p.as_str(), digest)));
                    remove_keys.extend(rk.iter().map(|(n, p)| (n.as_str(), p.as_str(), digest)));
                    add_ids.extend(ai.iter().map(|id| (id.as_str(), digest)));
                    remove_ids.extend(ri.iter().map(|id| (id.as_str(), digest)));
                }
            }
        }
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            for w in writes {
                sqlx::query(
                    "INSERT INTO vuln_reports (manifest_digest, report, matched_ms, summary) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (manifest_digest) DO UPDATE SET report = excluded.report, \
                     matched_ms = excluded.matched_ms, summary = excluded.summary",
                )
                .bind(&w.manifest_digest)
                .bind(&w.report)
                .bind(now)
                .bind(&w.summary)
                .execute(&mut *tx)
                .await?;
            }
            for delete in [
                "DELETE FROM vuln_report_keys WHERE manifest_digest IN (",
                "DELETE FROM vuln_report_ids WHERE manifest_digest IN (",
            ] {
                for chunk in replaced.chunks(KEYS_PER_QUERY) {
                    let mut q = sqlx::QueryBuilder::new(delete);
                    let mut list = q.separated(", ");
                    for digest in chunk {
                        list.push_bind(*digest);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await?;
                }
            }
            for (namespace, package, digest) in &remove_keys {
                sqlx::query("DELETE FROM vuln_report_keys WHERE namespace = $1 AND package = $2 AND manifest_digest = $3")
                    .bind(namespace)
                    .bind(package)
                    .bind(digest)
                    .execute(&mut *tx)
                    .await?;
            }
            for (id, digest) in &remove_ids {
                sqlx::query("DELETE FROM vuln_report_ids WHERE vuln_id = $1 AND manifest_digest = $2")
                    .bind(id)
                    .bind(digest)
                    .execute(&mut *tx)
                    .await?;
            }
            // Multi-row inserts: a report can carry thousands of keys and ids.
            for chunk in add_keys.chunks(KEYS_PER_QUERY) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO vuln_report_keys (namespace, package, manifest_digest) ",
                );
                q.push_values(chunk, |mut row, (namespace, package, digest)| {
                    row.push_bind(*namespace).push_bind(*package).push_bind(*digest);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            for chunk in add_ids.chunks(KEYS_PER_QUERY) {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO vuln_report_ids (vuln_id, manifest_digest) ");
                q.push_values(chunk, |mut row, (id, digest)| {
                    row.push_bind(*id).push_bind(*digest);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// A manifest's stored vulnerability report.
    pub async fn vuln_report(&self, manifest_digest: &str) -> Result<Option<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT report FROM vuln_reports WHERE manifest_digest = $1")
                    .bind(manifest_digest)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// The stored vulnerability reports of `digests` with their summaries;
    /// digests without one are left out.
    pub async fn vuln_reports_of(&self, digests: &[String]) -> Result<Vec<StoredReport>, StoreError> {
        let mut out = Vec::with_capacity(digests.len());
        on_db!(self.reader(), pool => {
            for chunk in digests.chunks(KEYS_PER_QUERY) {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT manifest_digest, report, summary FROM vuln_reports WHERE manifest_digest IN (",
                );
                let mut list = q.separated(", ");
                for digest in chunk {
                    list.push_bind(digest);
                }
                q.push(")");
                let rows: Vec<StoredReport> = q.build_query_as().fetch_all(pool).await?;
                out.extend(rows);
            }
            Ok(out)
        })
    }

    /// Manifests whose reports were matched on any of `keys`.
    pub async fn manifests_matched_on(
        &self,
        keys: &BTreeSet<(String, String)>,
    ) -> Result<BTreeSet<String>, StoreError> {
        let mut out = BTreeSet::new();
        on_db!(self.reader(), pool => {
            for (namespace, package) in keys {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT manifest_digest FROM vuln_report_keys WHERE namespace = $1 AND package = $2",
                )
                .bind(namespace)
                .bind(package)
                .fetch_all(pool)
                .await?;
                out.extend(rows.into_iter().map(|r| r.0));
            }
            Ok(out)
        })
    }
}
