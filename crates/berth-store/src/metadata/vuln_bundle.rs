//! Reading a feed whole, for bundles: its sources with their validators and
//! every advisory as stored (an import writes them back through
//! `apply_vuln_update`, under the feed's claim).

use crate::metadata::AdvisoryWrite;
use crate::{Db, StoreError, on_db};

/// A feed's state and its sources' validators.
#[derive(Debug, Clone)]
pub struct ExportedFeed {
    /// Feed name.
    pub name: String,
    /// Last successful check.
    pub checked_ms: Option<i64>,
    /// Last check that changed records.
    pub changed_ms: Option<i64>,
    /// (source, validators JSON), by source.
    pub sources: Vec<(String, String)>,
}

/// A stored advisory with the source it came from.
#[derive(Debug, Clone)]
pub struct ExportedAdvisory {
    /// The feed's source (file) it was read from.
    pub source: String,
    /// The record as stored.
    pub advisory: AdvisoryWrite,
}

type AdvisoryTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
);

impl Db {
    /// Feed `name` with its sources, if it was ever updated.
    pub async fn vuln_export_feed(&self, name: &str) -> Result<Option<ExportedFeed>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(Option<i64>, Option<i64>)> =
                sqlx::query_as("SELECT checked_ms, changed_ms FROM vuln_feeds WHERE name = $1")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?;
            let Some((checked_ms, changed_ms)) = row else {
                return Ok(None);
            };
            let sources: Vec<(String, String)> =
                sqlx::query_as("SELECT source, validators FROM vuln_sources WHERE feed = $1 ORDER BY source")
                    .bind(name)
                    .fetch_all(pool)
                    .await?;
            Ok(Some(ExportedFeed { name: name.to_owned(), checked_ms, changed_ms, sources }))
        })
    }

    /// Every advisory of feed `name`, by source, namespace, package and id.
    pub async fn vuln_export_advisories(&self, name: &str) -> Result<Vec<ExportedAdvisory>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<AdvisoryTuple> = sqlx::query_as(
                "SELECT source, namespace, package, id, aliases, severity, fixed_version, affected, links, \
                 description, digest FROM vuln_advisories WHERE feed = $1 ORDER BY source, namespace, package, id",
            )
            .bind(name)
            .fetch_all(pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(source, namespace, package, id, aliases, severity, fixed_version, affected, links, description, digest)| {
                    ExportedAdvisory {
                        source,
                        advisory: AdvisoryWrite {
                            namespace,
                            package,
                            id,
                            aliases,
                            severity,
                            fixed_version,
                            affected,
                            links,
                            description,
                            digest,
                        },
                    }
                })
                .collect())
        })
    }
}
