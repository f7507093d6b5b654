//! Tags: rows with a lifetime. A live tag has no `end_ms`; moving or deleting
//! a tag ends its row, so history stays queryable. A live row may carry a
//! planned expiry (`expires_ms`): once it has passed, the row no longer
//! resolves anywhere, even before the expiry worker ends it.

use super::audit::NewAuditEntry;
use super::immutability::{PolicyCheck, row_immutable};
use crate::{Db, StoreError, now_ms, on_db};

/// The condition (on alias `t`, with the current time as `$now`) under
/// which a tag row resolves: not ended, and not past a planned expiry.
macro_rules! resolving {
    ($now:literal) => {
        concat!(
            "t.end_ms IS NULL AND (t.expires_ms IS NULL OR t.expires_ms > ",
            $now,
            ")"
        )
    };
}
pub(crate) use resolving;

/// Ends the live row of tag `$2` in repository `$1` at `$3` (now), or at
/// its planned expiry if that has already passed: an expired row ends when
/// it expired, whoever ends it.
pub(crate) const END_LIVE_ROW: &str = "UPDATE tags SET end_ms = CASE WHEN expires_ms IS NOT NULL AND expires_ms < $3 \
     THEN expires_ms ELSE $3 END WHERE repository_id = $1 AND name = $2 AND end_ms IS NULL";

/// The size a tag listing shows: the manifest plus the blobs it references
/// directly (alias `m` is the manifest).
const TAG_SIZE: &str = "m.size + CAST(COALESCE((SELECT SUM(b.size) FROM manifest_blobs mb \
     JOIN blobs b ON b.digest = mb.digest WHERE mb.manifest_id = m.id), 0) AS BIGINT)";

/// A page of tag names as the database wrote it.
#[derive(Debug)]
pub struct TagNamesPage {
    /// The names, in order, as a JSON array of strings.
    pub names: Box<serde_json::value::RawValue>,
    /// The page's last name, if it has any.
    pub last: Option<String>,
    /// Whether a tag sorts after the page's last name.
    pub more: bool,
}

/// A name of a JSON array, borrowed from its text unless escaped.
#[derive(serde::Deserialize)]
struct JsonName<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

impl TagNamesPage {
    /// The page from the database's JSON array of up to `limit + 1` names,
    /// written again only when the probe name must go or (with
    /// `bytewise`, where the database compares names as `str` does) the
    /// order needs repair.
    fn from_probe(json: String, limit: usize, bytewise: bool) -> Result<TagNamesPage, StoreError> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("tag page: {e}"));
        let mut names: Vec<JsonName> = serde_json::from_str(&json).map_err(corrupt)?;
        let more = names.len() > limit;
        // Index order is bytewise in SQLite; sorting is a safeguard only.
        let unsorted = bytewise && !names.is_sorted_by(|a, b| a.0 <= b.0);
        if !more && !unsorted {
            let last = names.last().map(|n| n.0.clone().into_owned());
            let names = serde_json::value::RawValue::from_string(json).map_err(corrupt)?;
            return Ok(TagNamesPage { names, last, more });
        }
        if unsorted {
            names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        names.truncate(limit);
        let names: Vec<&str> = names.iter().map(|n| n.0.as_ref()).collect();
        let last = names.last().map(|n| (*n).to_owned());
        let names = serde_json::value::to_raw_value(&names).map_err(corrupt)?;
        Ok(TagNamesPage { names, last, more })
    }
}

/// `limit` as a query parameter (the database's integers are signed).
fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX - 1)
}

/// A live tag with what the repository view shows of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveTagRow {
    /// Tag name.
    pub name: String,
    /// The manifest it points to.
    pub manifest_digest: String,
    /// When it was set.
    pub start_ms: i64,
    /// When it will expire, if planned.
    pub expires_ms: Option<i64>,
    /// The manifest's size plus the blobs it references directly.
    pub size: i64,
}

/// One row of a tag's history (live or ended).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TagRow {
    /// Tag name.
    pub name: String,
    /// The manifest it pointed to.
    pub manifest_digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// When the row started.
    pub start_ms: i64,
    /// When it ended (deleted, moved away, or expired and recorded).
    pub end_ms: Option<i64>,
    /// When it expires (or expired), if planned.
    pub expires_ms: Option<i64>,
    /// Whether a restore created it.
    pub reversion: bool,
    /// The manifest's size plus the blobs it references directly.
    pub size: i64,
    /// Whether the row itself was made immutable.
    pub immutable: bool,
    /// Whether an administrator released it from the policies.
    pub policy_exempt: bool,
}

/// Which history rows to list.
#[derive(Debug, Clone, Default)]
pub struct TagHistoryQuery<'a> {
    /// Only rows of this exact name.
    pub name: Option<&'a str>,
    /// Only names containing this text (case-insensitive).
    pub name_contains: Option<&'a str>,
    /// Only rows that resolve now.
    pub only_active: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return at most.
    pub limit: i64,
}

/// The live row of a tag.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveTag {
    /// Row id.
    pub id: i64,
    /// The manifest it points to.
    pub manifest_digest: String,
    /// When it was set.
    pub start_ms: i64,
    /// Its planned expiry.
    pub expires_ms: Option<i64>,
    /// Whether the row itself was made immutable.
    pub immutable: bool,
    /// Whether an administrator released it from the policies.
    pub policy_exempt: bool,
}

/// Outcome of pointing a tag at a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retarget {
    /// Done; the manifest the tag resolved to before, if any.
    Done(Option<String>),
    /// The manifest is not in the repository.
    UnknownManifest,
    /// The tag is immutable: nothing changed.
    Immutable,
}

/// Outcome of ending a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndTag {
    /// Ended.
    Ended,
    /// No such tag resolves.
    Missing,
    /// The tag is immutable: nothing changed.
    Immutable,
}

/// A tag row whose planned expiry has passed, ended by the expiry worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExpiredTag {
    /// Row id.
    pub id: i64,
    /// The repository's full name.
    pub repository: String,
    /// Tag name.
    pub name: String,
    /// The manifest it pointed to.
    pub manifest_digest: String,
    /// When it expired (and now ends).
    pub expires_ms: i64,
    /// Whether the row itself was made immutable.
    pub immutable: bool,
    /// Whether an administrator released it from the policies.
    pub policy_exempt: bool,
}

/// Selects expired live rows for the expiry worker; `$lock` skips rows
/// another instance is ending right now (PostgreSQL).
macro_rules! expired_sql {
    ($lock:literal) => {
        concat!(
            "SELECT t.id, r.name AS repository, t.name, t.manifest_digest, t.expires_ms, t.immutable, t.policy_exempt ",
            "FROM tags t JOIN repositories r ON r.id = t.repository_id ",
            "WHERE t.end_ms IS NULL AND t.expires_ms <= $1 ORDER BY t.expires_ms LIMIT $2",
            $lock
        )
    };
}

impl Db {
    /// End a tag that resolves now, unless it is immutable (its own flag,
    /// or `policy` for its name). An expired row is missing: it is already
    /// gone for clients.
    pub async fn end_tag(&self, repo: i64, tag: &str, policy: PolicyCheck<'_>) -> Result<EndTag, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE repositories SET updated_ms = $2 WHERE id = $1")
                .bind(repo)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let live: Option<(i64, bool, bool)> = sqlx::query_as(concat!(
                "SELECT t.id, t.immutable, t.policy_exempt FROM tags t ",
                "WHERE t.repository_id = $1 AND t.name = $2 AND ",
                resolving!("$3")
            ))
            .bind(repo)
            .bind(tag)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id, immutable, exempt)) = live else {
                return Ok(EndTag::Missing);
            };
            if row_immutable(tag, immutable, exempt, policy) {
                return Ok(EndTag::Immutable);
            }
            sqlx::query("UPDATE tags SET end_ms = $2 WHERE id = $1 AND end_ms IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(EndTag::Ended)
        })
    }

    /// Up to `limit` tags that resolve now, most recently set first, with
    /// sizes.
    pub async fn live_tags(&self, repo: i64, limit: i64) -> Result<Vec<LiveTagRow>, StoreError> {
        let sql = format!(
            "SELECT t.name, t.manifest_digest, t.start_ms, t.expires_ms, {TAG_SIZE} AS size \
             FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
             WHERE t.repository_id = $1 AND {} ORDER BY t.start_ms DESC, t.name LIMIT $2",
            resolving!("$3")
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(repo)
                .bind(limit)
                .bind(now_ms())
                .fetch_all(pool)
                .await?)
        })
    }

    /// Up to `limit` names of tags that resolve now sorting after `last`,
    /// in order, as a JSON array the database built.
    pub async fn list_tags(&self, repo: i64, last: &str, limit: usize) -> Result<TagNamesPage, StoreError> {
        // One row holding up to `limit + 1` names as a JSON array (the
        // extra one tells whether more follow): a large page (a client
        // that asks without `n`) costs one row's handoff from the driver
        // and goes out as the database wrote it, not as a value per tag,
        // which dominated the time.
        // Binds `$1`..`$4` (repository, last, limit, now) to `$sql`.
        macro_rules! fetch_array {
            ($pool:expr, $sql:expr) => {
                sqlx::query_scalar::<_, String>($sql)
                    .bind(repo)
                    .bind(last)
                    .bind(limit_param(limit))
                    .bind(now_ms())
                    .fetch_one($pool)
                    .await?
            };
        }
        let json = match self.reader() {
            // The names between `last` and a bound found by skipping
            // `limit` entries of the index, aggregated as the index yields
            // them: SQLite runs a sorted, limited subquery as a coroutine
            // whose per-row handoff took half the time.
            crate::db::PoolRef::Sqlite(pool) => fetch_array!(
                pool,
                concat!(
                    "WITH b AS (SELECT (SELECT t.name FROM tags t WHERE t.repository_id = $1 AND ",
                    resolving!("$4"),
                    " AND t.name > $2 ORDER BY t.name LIMIT 1 OFFSET $3) AS bound) ",
                    "SELECT COALESCE(json_group_array(t.name), '[]') FROM b, tags t WHERE t.repository_id = $1 AND ",
                    resolving!("$4"),
                    // U+10FFFF sorts after every name when there is no bound.
                    " AND t.name > $2 AND t.name <= COALESCE(b.bound, char(1114111))"
                )
            ),
            // In the database's collation, as `name > $2` pages by it: the
            // aggregate takes the sorted subquery's rows in their order
            // (PostgreSQL's documentation names a sorted subquery as a way
            // to order an aggregate's input), sparing a second sort.
            crate::db::PoolRef::Postgres(pool) => fetch_array!(
                pool,
                concat!(
                    "SELECT COALESCE(json_agg(name)::text, '[]') FROM (SELECT t.name FROM tags t WHERE t.repository_id = $1 AND ",
                    resolving!("$4"),
                    " AND t.name > $2 ORDER BY t.name LIMIT $3 + 1) page"
                )
            ),
        };
        TagNamesPage::from_probe(
            json,
            limit,
            matches!(self.reader(), crate::db::PoolRef::Sqlite(_)),
        )
    }

    /// Tag rows of a repository, live and ended, newest first.
    pub async fn tag_history(&self, repo: i64, q: &TagHistoryQuery<'_>) -> Result<Vec<TagRow>, StoreError> {
        // `_` is a LIKE wildcard and may occur in tag names.
        let pattern = q.name_contains.map(|s| {
            let escaped = s
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let sql = format!(
            "SELECT t.name, t.manifest_digest, m.media_type, t.start_ms, t.end_ms, t.expires_ms, t.reversion, \
             t.immutable, t.policy_exempt, \
             {TAG_SIZE} AS size \
             FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
             WHERE t.repository_id = $1 AND ($2 IS NULL OR t.name = $2) \
             AND ($3 IS NULL OR LOWER(t.name) LIKE $3 ESCAPE '\\') \
             AND (NOT $4 OR ({})) \
             ORDER BY t.start_ms DESC, t.name, t.id DESC LIMIT $6 OFFSET $7",
            resolving!("$5")
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(repo)
                .bind(q.name)
                .bind(pattern.as_deref())
                .bind(q.only_active)
                .bind(now_ms())
                .bind(q.limit)
                .bind(q.offset)
                .fetch_all(pool)
                .await?)
        })
    }

    /// The row of tag `name` that resolves now.
    pub async fn live_tag(&self, repo: i64, name: &str) -> Result<Option<LiveTag>, StoreError> {
        on_db!(self.writer(), pool => {
            Ok(sqlx::query_as(concat!(
                "SELECT t.id, t.manifest_digest, t.start_ms, t.expires_ms, t.immutable, t.policy_exempt FROM tags t ",
                "WHERE t.repository_id = $1 AND t.name = $2 AND ",
                resolving!("$3")
            ))
            .bind(repo)
            .bind(name)
            .bind(now_ms())
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Set or clear the planned expiry of live row `id`, unless it has
    /// ended or expired meanwhile (or, to set one, was made immutable).
    /// Returns whether it changed.
    pub async fn set_tag_expiry(
        &self,
        repo: i64,
        id: i64,
        expires_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE repositories SET updated_ms = $2 WHERE id = $1")
                .bind(repo)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(concat!(
                "UPDATE tags SET expires_ms = $3 WHERE id IN (SELECT t.id FROM tags t ",
                "WHERE t.id = $1 AND t.repository_id = $2 AND ($3 IS NULL OR NOT t.immutable) AND ",
                resolving!("$4"),
                ")"
            ))
            .bind(id)
            .bind(repo)
            .bind(expires_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Point tag `name` at manifest `digest` (which must be in the
    /// repository): end its live row and start a new one, marked as a
    /// `reversion` when a restore asks; refused while the tag is immutable
    /// (its own flag, or `policy`). One transaction, so a manifest deleted
    /// meanwhile is never tagged.
    pub async fn retarget_tag(
        &self,
        repo: i64,
        name: &str,
        digest: &str,
        reversion: bool,
        policy: PolicyCheck<'_>,
    ) -> Result<Retarget, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            // Serialises tag changes per repository on both backends.
            sqlx::query("UPDATE repositories SET updated_ms = $2 WHERE id = $1")
                .bind(repo)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let found: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM manifests WHERE repository_id = $1 AND digest = $2")
                    .bind(repo)
                    .bind(digest)
                    .fetch_optional(&mut *tx)
                    .await?;
            if found.is_none() {
                return Ok(Retarget::UnknownManifest);
            }
            let previous: Option<(String, bool, bool)> = sqlx::query_as(concat!(
                "SELECT t.manifest_digest, t.immutable, t.policy_exempt FROM tags t ",
                "WHERE t.repository_id = $1 AND t.name = $2 AND ",
                resolving!("$3")
            ))
            .bind(repo)
            .bind(name)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if previous
                .as_ref()
                .is_some_and(|p| row_immutable(name, p.1, p.2, policy))
            {
                return Ok(Retarget::Immutable);
            }
            sqlx::query(END_LIVE_ROW)
                .bind(repo)
                .bind(name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO tags (repository_id, name, manifest_digest, start_ms, reversion) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(repo)
            .bind(name)
            .bind(digest)
            .bind(now)
            .bind(reversion)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Retarget::Done(previous.map(|p| p.0)))
        })
    }

    /// Whether tag `name` pointed at `digest` in a row that resolves now or
    /// ended (or expired) after `since_ms`: what the time machine may
    /// restore.
    pub async fn tag_restorable(
        &self,
        repo: i64,
        name: &str,
        digest: &str,
        since_ms: i64,
    ) -> Result<bool, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM tags WHERE repository_id = $1 AND name = $2 AND manifest_digest = $3 \
                 AND (COALESCE(end_ms, expires_ms) IS NULL OR COALESCE(end_ms, expires_ms) > $4) LIMIT 1",
            )
            .bind(repo)
            .bind(name)
            .bind(digest)
            .bind(since_ms)
            .fetch_optional(pool)
            .await?;
            Ok(row.is_some())
        })
    }

    /// End up to `limit` live rows whose planned expiry is before `now`
    /// (`end_ms = expires_ms`), writing `audit(row)` to the usage log for
    /// each in the same transaction. Instances may run this at once: each
    /// row is ended, and logged, by exactly one. An immutable row (its own
    /// flag, or `policy(repository, tag)`) is not ended: its expiry is
    /// cancelled. Returns how many rows this call handled.
    pub async fn end_expired_tags(
        &self,
        now: i64,
        limit: i64,
        audit: &(dyn Fn(&ExpiredTag) -> NewAuditEntry + Sync),
        policy: &(dyn Fn(&str, &str) -> bool + Sync),
    ) -> Result<usize, StoreError> {
        let select = match self {
            Db::Postgres(_) => expired_sql!(" FOR UPDATE OF t SKIP LOCKED"),
            Db::Sqlite { .. } => expired_sql!(""),
        };
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let rows: Vec<ExpiredTag> = sqlx::query_as(select)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let mut ended = 0;
            for row in &rows {
                if row_immutable(&row.name, row.immutable, row.policy_exempt, &|tag| policy(&row.repository, tag)) {
                    sqlx::query("UPDATE tags SET expires_ms = NULL WHERE id = $1 AND end_ms IS NULL")
                        .bind(row.id)
                        .execute(&mut *tx)
                        .await?;
                    ended += 1;
                    continue;
                }
                let done = sqlx::query("UPDATE tags SET end_ms = expires_ms WHERE id = $1 AND end_ms IS NULL")
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    continue;
                }
                let e = audit(row);
                sqlx::query(super::audit::INSERT_AUDIT_ENTRY)
                .bind(&e.kind)
                .bind(e.performer.as_deref())
                .bind(e.performer_kind.as_deref())
                .bind(e.namespace.as_deref())
                .bind(e.repository.as_deref())
                .bind(e.ip.as_deref())
                .bind(&e.metadata)
                .bind(e.created_ms)
                .execute(&mut *tx)
                .await?;
                ended += 1;
            }
            tx.commit().await?;
            Ok(ended)
        })
    }
}
