//! Reading vulnerability reports by what they contain: the per-severity
//! summaries of a set of manifests, the manifests a vulnerability id (or
//! alias) affects, and where a manifest is placed (repositories and the
//! tags that resolve to it).

use std::collections::BTreeMap;

use crate::metadata::tags::resolving;
use crate::metadata::vulns::KEYS_PER_QUERY;
use crate::{Db, StoreError, now_ms, on_db};

/// A manifest's stored summary: `summary` JSON, or the whole report when
/// it was stored before summaries were.
#[derive(Debug, Clone)]
pub struct StoredSummary {
    /// Per-severity counts (JSON), when stored.
    pub summary: Option<String>,
    /// The report, when no summary is stored.
    pub report: Option<String>,
}

/// A repository holding a manifest, and its tags that resolve to it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Repository id.
    pub repository_id: i64,
    /// Repository name.
    pub repository: String,
    /// Live tags pointing at the manifest, by name.
    pub tags: Vec<String>,
}

impl Db {
    /// Manifests whose reports were stored without a summary (before
    /// summaries and finding ids were kept).
    pub async fn vuln_reports_without_summary(&self) -> Result<Vec<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT manifest_digest FROM vuln_reports WHERE summary IS NULL ORDER BY manifest_digest")
                    .fetch_all(pool)
                    .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// The stored summary of a manifest's report, if it has one.
    pub async fn vuln_summary(&self, manifest_digest: &str) -> Result<Option<StoredSummary>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT summary, CASE WHEN summary IS NULL THEN report END FROM vuln_reports \
                 WHERE manifest_digest = $1",
            )
            .bind(manifest_digest)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(summary, report)| StoredSummary { summary, report }))
        })
    }

    /// The aliases (JSON arrays) of the advisories whose id is `id`.
    pub async fn vuln_advisory_aliases(&self, id: &str) -> Result<Vec<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT aliases FROM vuln_advisories WHERE id = $1")
                .bind(id)
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// The manifests (up to `limit`, by digest) whose reports have a
    /// finding named or aliased `id`.
    pub async fn manifests_with_vuln_id(&self, id: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT manifest_digest FROM vuln_report_ids WHERE vuln_id = $1 ORDER BY manifest_digest LIMIT $2",
            )
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }

    /// Every repository holding each of `digests` (those held somewhere),
    /// with its tags that resolve to it now, by repository name; a
    /// statement per few hundred manifests.
    pub async fn manifests_placements(
        &self,
        digests: &[String],
    ) -> Result<BTreeMap<String, Vec<Placement>>, StoreError> {
        let mut out: BTreeMap<String, Vec<Placement>> = BTreeMap::new();
        let now = now_ms();
        for chunk in digests.chunks(KEYS_PER_QUERY) {
            let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT m.digest, r.id, r.name, t.name FROM manifests m JOIN repositories r ON r.id = m.repository_id \
                 LEFT JOIN tags t ON t.repository_id = m.repository_id AND t.manifest_digest = m.digest AND {} \
                 WHERE m.digest IN ({}) ORDER BY m.digest, r.name, t.name",
                resolving!("$1"),
                list.join(", ")
            );
            let rows: Vec<(String, i64, String, Option<String>)> = on_db!(self.reader(), pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(now);
                for digest in chunk {
                    query = query.bind(digest);
                }
                query.fetch_all(pool).await?
            });
            for (digest, id, name, tag) in rows {
                let places = out.entry(digest).or_default();
                match places.last_mut() {
                    Some(p) if p.repository_id == id => p.tags.extend(tag),
                    _ => places.push(Placement {
                        repository_id: id,
                        repository: name,
                        tags: tag.into_iter().collect(),
                    }),
                }
            }
        }
        Ok(out)
    }
}
