//! Per-image vulnerability reports, with the keys they were matched on
//! (to find the images a feed change touches) and their findings' ids (to
//! find the images a vulnerability affects). Reports are opaque JSON
//! strings to this crate.

use std::collections::BTreeSet;

use super::vulns::KEYS_PER_QUERY;
use crate::{Db, StoreError, now_ms, on_db};

/// One key a report was matched on.
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// The key's namespace.
    pub namespace: String,
    /// The key's package.
    pub package: String,
    /// The image's features under a package key (JSON); `None` on an
    /// enrichment key.
    pub features: Option<String>,
}

/// How a stored report's rows (its keys with their features, its
/// findings' ids with how many package-key rows carry each) change.
#[derive(Debug, Clone)]
pub enum ReportRows {
    /// Replace them all: a first match, or a whole one.
    Replace {
        /// Every key the report was matched on.
        keys: Vec<KeyRow>,
        /// Every id and alias of its findings, with how many of its
        /// package-key rows carry it.
        ids: Vec<(String, i64)>,
    },
    /// Write only these; a re-match changes few.
    Change {
        /// Key rows to insert, or whose features to replace.
        set_keys: Vec<KeyRow>,
        /// Finding ids whose count of package-key rows carrying them
        /// changes, by how much; an id no row carries any more is removed.
        ids: Vec<(String, i64)>,
        /// Enrichment keys (namespace, id) to remove once the report no
        /// longer carries the id they enrich.
        unheld_keys: Vec<(String, String)>,
    },
}

/// One report to store.
#[derive(Debug, Clone)]
pub struct ReportWrite {
    /// The manifest it is of.
    pub manifest_digest: String,
    /// The report's own row (JSON); `None` keeps the stored one.
    pub report: Option<String>,
    /// Its per-severity summary (JSON).
    pub summary: String,
    /// How its key and id rows change.
    pub rows: ReportRows,
}

/// A stored report's own row, with the features of one of its keys.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyedReport {
    /// The manifest it is of.
    pub manifest_digest: String,
    /// The report's own row (JSON); left out (`None`) where `features` is,
    /// for a report stored whole is large and read again whole.
    pub report: Option<String>,
    /// Its per-severity summary (JSON), absent on reports stored before
    /// summaries were kept.
    pub summary: Option<String>,
    /// The image's features under the key (JSON), absent on reports stored
    /// whole.
    pub features: Option<String>,
}

impl Db {
    /// Store reports with their summaries, key rows and finding ids, in one
    /// transaction: a re-match of thousands of images pays for one durable
    /// commit per batch, not one per image.
    pub async fn put_vuln_reports(&self, writes: &[ReportWrite]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut replaced = Vec::new();
        let mut set_keys = Vec::new();
        let mut ids = Vec::new();
        let mut lowered = Vec::new();
        let mut unheld_keys = Vec::new();
        for w in writes {
            let digest = w.manifest_digest.as_str();
            let (keys, counts) = match &w.rows {
                ReportRows::Replace { keys, ids } => {
                    replaced.push(digest);
                    (keys, ids)
                }
                ReportRows::Change {
                    set_keys,
                    ids,
                    unheld_keys: unheld,
                } => {
                    unheld_keys.extend(unheld.iter().map(|(n, id)| (n.as_str(), id.as_str(), digest)));
                    (set_keys, ids)
                }
            };
            set_keys.extend(keys.iter().map(|k| (k, digest)));
            for (id, n) in counts {
                ids.push((id.as_str(), digest, *n));
                if *n < 0 {
                    lowered.push((id.as_str(), digest));
                }
            }
        }
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let mut kept = Vec::new();
            for w in writes {
                let Some(report) = &w.report else {
                    kept.push(w);
                    continue;
                };
                sqlx::query(
                    "INSERT INTO vuln_reports (manifest_digest, report, matched_ms, summary) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (manifest_digest) DO UPDATE SET report = excluded.report, \
                     matched_ms = excluded.matched_ms, summary = excluded.summary",
                )
                .bind(&w.manifest_digest)
                .bind(report)
                .bind(now)
                .bind(&w.summary)
                .execute(&mut *tx)
                .await?;
            }
            // Reports keeping their own row: only summaries, a statement per
            // few hundred (a round trip each on PostgreSQL).
            for chunk in kept.chunks(KEYS_PER_QUERY) {
                let mut q = sqlx::QueryBuilder::new("UPDATE vuln_reports SET matched_ms = ");
                q.push_bind(now).push(", summary = v.column2 FROM (");
                q.push_values(chunk, |mut row, w| {
                    row.push_bind(&w.manifest_digest).push_bind(&w.summary);
                });
                q.push(") AS v WHERE vuln_reports.manifest_digest = v.column1");
                q.build().execute(&mut *tx).await?;
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
            // Multi-row statements: a report can carry thousands of keys and
            // ids. A batch names each (key, manifest) and (id, manifest)
            // once, as one statement must for PostgreSQL's upsert.
            for chunk in set_keys.chunks(KEYS_PER_QUERY) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO vuln_report_keys (namespace, package, manifest_digest, features) ",
                );
                q.push_values(chunk, |mut row, (key, digest)| {
                    row.push_bind(&key.namespace)
                        .push_bind(&key.package)
                        .push_bind(*digest)
                        .push_bind(&key.features);
                });
                q.push(" ON CONFLICT (namespace, package, manifest_digest) DO UPDATE SET features = excluded.features");
                q.build().execute(&mut *tx).await?;
            }
            for chunk in ids.chunks(KEYS_PER_QUERY) {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO vuln_report_ids (vuln_id, manifest_digest, holders) ");
                q.push_values(chunk, |mut row, (id, digest, n)| {
                    row.push_bind(*id).push_bind(*digest).push_bind(*n);
                });
                q.push(
                    " ON CONFLICT (vuln_id, manifest_digest) \
                     DO UPDATE SET holders = vuln_report_ids.holders + excluded.holders",
                );
                q.build().execute(&mut *tx).await?;
            }
            for chunk in lowered.chunks(KEYS_PER_QUERY) {
                let mut q = sqlx::QueryBuilder::new(
                    "DELETE FROM vuln_report_ids WHERE holders <= 0 AND (vuln_id, manifest_digest) IN (",
                );
                q.push_values(chunk, |mut row, (id, digest)| {
                    row.push_bind(*id).push_bind(*digest);
                });
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
            for chunk in unheld_keys.chunks(KEYS_PER_QUERY) {
                let mut q = sqlx::QueryBuilder::new(
                    "DELETE FROM vuln_report_keys WHERE (namespace, package, manifest_digest) IN (",
                );
                q.push_values(chunk, |mut row, (namespace, id, digest)| {
                    row.push_bind(*namespace).push_bind(*id).push_bind(*digest);
                });
                q.push(
                    ") AND NOT EXISTS (SELECT 1 FROM vuln_report_ids i WHERE i.vuln_id = vuln_report_keys.package \
                     AND i.manifest_digest = vuln_report_keys.manifest_digest)",
                );
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The reports matched on (`namespace`, `package`), with their features
    /// under it.
    pub async fn vuln_reports_on(
        &self,
        namespace: &str,
        package: &str,
    ) -> Result<Vec<KeyedReport>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<KeyedReport> = sqlx::query_as(
                "SELECT r.manifest_digest, CASE WHEN k.features IS NULL THEN NULL ELSE r.report END AS report, \
                 r.summary, k.features FROM vuln_report_keys k \
                 JOIN vuln_reports r ON r.manifest_digest = k.manifest_digest \
                 WHERE k.namespace = $1 AND k.package = $2 ORDER BY r.manifest_digest",
            )
            .bind(namespace)
            .bind(package)
            .fetch_all(pool)
            .await?;
            Ok(rows)
        })
    }

    /// A manifest's stored report row with the features of its package
    /// keys, read in one statement so both are of one moment.
    pub async fn vuln_report_with_features(
        &self,
        manifest_digest: &str,
    ) -> Result<Option<(String, Vec<String>)>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT r.report, k.features FROM vuln_reports r \
                 LEFT JOIN vuln_report_keys k ON k.manifest_digest = r.manifest_digest AND k.features IS NOT NULL \
                 WHERE r.manifest_digest = $1",
            )
            .bind(manifest_digest)
            .fetch_all(pool)
            .await?;
            let mut rows = rows.into_iter();
            let Some((report, first)) = rows.next() else {
                return Ok(None);
            };
            let features = first.into_iter().chain(rows.filter_map(|r| r.1)).collect();
            Ok(Some((report, features)))
        })
    }

    /// Those of `keys` some stored report was matched on: a feed's first
    /// update changes every key, and few have reports.
    pub async fn keys_with_reports(
        &self,
        keys: &[(String, String)],
    ) -> Result<BTreeSet<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = self
            .select_by_keys(
                "SELECT DISTINCT namespace, package FROM vuln_report_keys WHERE",
                "",
                keys,
            )
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Manifests whose reports were matched on any of `keys`.
    pub async fn manifests_matched_on(
        &self,
        keys: &BTreeSet<(String, String)>,
    ) -> Result<BTreeSet<String>, StoreError> {
        let keys: Vec<(String, String)> = keys.iter().cloned().collect();
        let rows: Vec<(String,)> = self
            .select_by_keys(
                "SELECT DISTINCT manifest_digest FROM vuln_report_keys WHERE",
                "",
                &keys,
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}
