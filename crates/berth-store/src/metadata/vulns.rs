//! Vulnerability feeds (claims, per-source validators) and their normalized
//! advisories (per-image reports are in `vuln_reports`).
//! Records are opaque JSON strings to this crate, apart from their keys.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{Db, StoreError, now_ms, on_db};

/// Keys (or rows) per statement of the batched reads and inserts, well
/// under SQLite's and PostgreSQL's limits on bound parameters.
pub(crate) const KEYS_PER_QUERY: usize = 500;

/// One normalized advisory to store.
#[derive(Debug, Clone)]
pub struct AdvisoryWrite {
    /// `debian:bookworm`, `osv:PyPI`.
    pub namespace: String,
    /// Package name as matched.
    pub package: String,
    /// The feed's id.
    pub id: String,
    /// JSON array of aliases.
    pub aliases: String,
    /// Severity name.
    pub severity: String,
    /// The first fixed version, when the record states one.
    pub fixed_version: Option<String>,
    /// JSON of the affected versions.
    pub affected: String,
    /// JSON array of links.
    pub links: String,
    /// Description.
    pub description: String,
    /// Digest of the whole record, to tell changes apart.
    pub digest: String,
}

/// A stored advisory.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdvisoryRow {
    /// Feed name.
    pub feed: String,
    /// Namespace.
    pub namespace: String,
    /// Package.
    pub package: String,
    /// Id.
    pub id: String,
    /// JSON array of aliases.
    pub aliases: String,
    /// Severity name.
    pub severity: String,
    /// JSON of the affected versions.
    pub affected: String,
    /// JSON array of links.
    pub links: String,
    /// Description.
    pub description: String,
}

/// One source of a feed update: `advisories` is `None` when unchanged.
#[derive(Debug, Clone)]
pub struct SourceWrite {
    /// Source name.
    pub source: String,
    /// Validators JSON.
    pub validators: String,
    /// The source's records when it changed.
    pub advisories: Option<Vec<AdvisoryWrite>>,
}

/// A feed's state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedRow {
    /// Feed name.
    pub name: String,
    /// Last successful check.
    pub checked_ms: Option<i64>,
    /// Last check that changed records.
    pub changed_ms: Option<i64>,
    /// The last update's error, if it failed.
    pub last_error: Option<String>,
    /// Records stored.
    pub records: i64,
}

type KeyDigests = HashMap<(String, String, String), String>;

impl Db {
    /// Claim `feed` for `lease_ms` if no live claim exists and it was not
    /// checked after `due_before_ms`. True if this caller holds it now.
    pub async fn claim_vuln_feed(
        &self,
        feed: &str,
        token: &str,
        lease_ms: i64,
        due_before_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            sqlx::query("INSERT INTO vuln_feeds (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
                .bind(feed)
                .execute(pool)
                .await?;
            let done = sqlx::query(
                "UPDATE vuln_feeds SET claim_token = $1, claimed_until_ms = $2 WHERE name = $3 \
                 AND (claimed_until_ms IS NULL OR claimed_until_ms < $4) \
                 AND (checked_ms IS NULL OR checked_ms <= $5)",
            )
            .bind(token)
            .bind(now + lease_ms)
            .bind(feed)
            .bind(now)
            .bind(due_before_ms)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The validators stored per source of `feed` (JSON strings).
    pub async fn vuln_sources(&self, feed: &str) -> Result<BTreeMap<String, String>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT source, validators FROM vuln_sources WHERE feed = $1")
                    .bind(feed)
                    .fetch_all(pool)
                    .await?;
            Ok(rows.into_iter().collect())
        })
    }

    /// Apply an update of `feed` under the claim `token`, in one
    /// transaction: changed sources get their records replaced (only rows
    /// that differ are written), sources not named are removed, the
    /// claim is released. Returns the (namespace, package) keys whose
    /// advisories changed, or `None` if the claim was lost (nothing written).
    pub async fn apply_vuln_update(
        &self,
        feed: &str,
        token: &str,
        sources: &[SourceWrite],
    ) -> Result<Option<BTreeSet<(String, String)>>, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let held = sqlx::query(
                "UPDATE vuln_feeds SET claim_token = NULL, claimed_until_ms = NULL, checked_ms = $1, last_error = NULL \
                 WHERE name = $2 AND claim_token = $3",
            )
            .bind(now)
            .bind(feed)
            .bind(token)
            .execute(&mut *tx)
            .await?;
            if held.rows_affected() != 1 {
                return Ok(None);
            }
            let mut changed = BTreeSet::new();
            let stored: Vec<(String,)> = sqlx::query_as("SELECT source FROM vuln_sources WHERE feed = $1")
                .bind(feed)
                .fetch_all(&mut *tx)
                .await?;
            let named: BTreeSet<&str> = sources.iter().map(|s| s.source.as_str()).collect();
            for (gone,) in stored.iter().filter(|(s,)| !named.contains(s.as_str())) {
                let keys: Vec<(String, String)> = sqlx::query_as(
                    "SELECT DISTINCT namespace, package FROM vuln_advisories WHERE feed = $1 AND source = $2",
                )
                .bind(feed)
                .bind(gone)
                .fetch_all(&mut *tx)
                .await?;
                changed.extend(keys);
                sqlx::query("DELETE FROM vuln_advisories WHERE feed = $1 AND source = $2")
                    .bind(feed)
                    .bind(gone)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM vuln_sources WHERE feed = $1 AND source = $2")
                    .bind(feed)
                    .bind(gone)
                    .execute(&mut *tx)
                    .await?;
            }
            for s in sources {
                sqlx::query(
                    "INSERT INTO vuln_sources (feed, source, validators) VALUES ($1, $2, $3) \
                     ON CONFLICT (feed, source) DO UPDATE SET validators = excluded.validators",
                )
                .bind(feed)
                .bind(&s.source)
                .bind(&s.validators)
                .execute(&mut *tx)
                .await?;
                let Some(advisories) = &s.advisories else { continue };
                let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                    "SELECT namespace, package, id, digest FROM vuln_advisories WHERE feed = $1 AND source = $2",
                )
                .bind(feed)
                .bind(&s.source)
                .fetch_all(&mut *tx)
                .await?;
                let mut old: KeyDigests = rows.into_iter().map(|(n, p, i, d)| ((n, p, i), d)).collect();
                for a in advisories {
                    let key = (a.namespace.clone(), a.package.clone(), a.id.clone());
                    if old.remove(&key).is_some_and(|d| d == a.digest) {
                        continue;
                    }
                    changed.insert((a.namespace.clone(), a.package.clone()));
                    sqlx::query(
                        "INSERT INTO vuln_advisories (feed, source, namespace, package, id, aliases, severity, \
                         fixed_version, affected, links, description, digest) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                         ON CONFLICT (feed, source, namespace, package, id) DO UPDATE SET aliases = excluded.aliases, \
                         severity = excluded.severity, fixed_version = excluded.fixed_version, \
                         affected = excluded.affected, links = excluded.links, \
                         description = excluded.description, digest = excluded.digest",
                    )
                    .bind(feed)
                    .bind(&s.source)
                    .bind(&a.namespace)
                    .bind(&a.package)
                    .bind(&a.id)
                    .bind(&a.aliases)
                    .bind(&a.severity)
                    .bind(&a.fixed_version)
                    .bind(&a.affected)
                    .bind(&a.links)
                    .bind(&a.description)
                    .bind(&a.digest)
                    .execute(&mut *tx)
                    .await?;
                }
                for (namespace, package, id) in old.into_keys() {
                    sqlx::query(
                        "DELETE FROM vuln_advisories WHERE feed = $1 AND source = $2 AND namespace = $3 \
                         AND package = $4 AND id = $5",
                    )
                    .bind(feed)
                    .bind(&s.source)
                    .bind(&namespace)
                    .bind(&package)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    changed.insert((namespace, package));
                }
            }
            if !changed.is_empty() {
                sqlx::query("UPDATE vuln_feeds SET changed_ms = $1 WHERE name = $2")
                    .bind(now)
                    .bind(feed)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(Some(changed))
        })
    }

    /// Record a failed update of `feed` (its records stay) and release the
    /// claim; it is tried again after the interval.
    pub async fn fail_vuln_update(&self, feed: &str, token: &str, error: &str) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            sqlx::query(
                "UPDATE vuln_feeds SET claim_token = NULL, claimed_until_ms = NULL, checked_ms = $1, last_error = $2 \
                 WHERE name = $3 AND claim_token = $4",
            )
            .bind(now)
            .bind(error)
            .bind(feed)
            .bind(token)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Every feed's state and record count.
    pub async fn vuln_feeds(&self) -> Result<Vec<FeedRow>, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<FeedRow> = sqlx::query_as(
                "SELECT f.name, f.checked_ms, f.changed_ms, f.last_error, \
                 (SELECT count(*) FROM vuln_advisories a WHERE a.feed = f.name) AS records \
                 FROM vuln_feeds f ORDER BY f.name",
            )
            .fetch_all(pool)
            .await?;
            Ok(rows)
        })
    }

    /// The advisories stored under any of `keys` (namespace, package), in
    /// a few queries rather than one per key; a key's rows come by feed,
    /// then id.
    pub async fn vuln_advisories_of(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<AdvisoryRow>, StoreError> {
        self.select_by_keys(
            "SELECT feed, namespace, package, id, aliases, severity, affected, links, description \
             FROM vuln_advisories WHERE",
            "ORDER BY package, feed, id",
            keys,
        )
        .await
    }

    /// The rows of `select` (a statement up to its `WHERE`) whose
    /// (namespace, package) is one of `keys`, then `order`: one statement
    /// per namespace on PostgreSQL (an array parameter, planned well even
    /// before a freshly loaded table is analyzed), a few `IN` lists on
    /// SQLite.
    pub(crate) async fn select_by_keys<T>(
        &self,
        select: &'static str,
        order: &'static str,
        keys: &[(String, String)],
    ) -> Result<Vec<T>, StoreError>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
    {
        let mut by_namespace: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (namespace, package) in keys {
            by_namespace.entry(namespace).or_default().push(package);
        }
        let mut out = Vec::new();
        match self.reader() {
            crate::db::PoolRef::Postgres(pool) => {
                let sql = format!("{select} namespace = $1 AND package = ANY($2) {order}");
                for (namespace, packages) in &by_namespace {
                    let rows: Vec<T> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(*namespace)
                        .bind(packages)
                        .fetch_all(pool)
                        .await?;
                    out.extend(rows);
                }
            }
            crate::db::PoolRef::Sqlite(pool) => {
                for (namespace, packages) in &by_namespace {
                    for chunk in packages.chunks(KEYS_PER_QUERY) {
                        let mut q = sqlx::QueryBuilder::new(select);
                        q.push(" namespace = ")
                            .push_bind(*namespace)
                            .push(" AND package IN (");
                        let mut list = q.separated(", ");
                        for package in chunk {
                            list.push_bind(*package);
                        }
                        q.push(") ").push(order);
                        let rows: Vec<T> = q.build_query_as().fetch_all(pool).await?;
                        out.extend(rows);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether a manifest's indexing job has given up (tried `max_attempts`
    /// times) in any repository.
    pub async fn scan_failed(&self, manifest_digest: &str, max_attempts: i32) -> Result<bool, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM scan_queue WHERE manifest_digest = $1 AND attempts >= $2 LIMIT 1",
            )
            .bind(manifest_digest)
            .bind(max_attempts)
            .fetch_optional(pool)
            .await?;
            Ok(row.is_some())
        })
    }
}
