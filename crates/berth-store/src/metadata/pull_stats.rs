//! Pull statistics: per tag name and per manifest of a repository, how many
//! pulls and when the latest was. Instances add counts they gathered in
//! memory as increments (`count = count + n`, `last = max(last, t)`), so any
//! number of instances add up on one database.

use crate::{Db, StoreError, on_db};

/// Rows per INSERT statement (at most 5 parameters each).
const ROWS_PER_INSERT: usize = 200;

/// Pulls of one tag to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPulls {
    /// The repository's full name.
    pub repository: String,
    /// Tag name.
    pub tag: String,
    /// Pulls to add.
    pub count: i64,
    /// The latest of them (ms since the epoch).
    pub last_ms: i64,
    /// The manifest the tag resolved to at that latest pull.
    pub manifest_digest: String,
}

/// Pulls of one manifest to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPulls {
    /// The repository's full name.
    pub repository: String,
    /// The manifest's digest.
    pub digest: String,
    /// Pulls to add.
    pub count: i64,
    /// The latest of them (ms since the epoch).
    pub last_ms: i64,
}

/// What is recorded of a tag's pulls.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TagPullRow {
    /// Tag name.
    pub tag_name: String,
    /// Pulls by this tag.
    pub pull_count: i64,
    /// The latest (ms since the epoch).
    pub last_pull_ms: i64,
    /// The manifest the tag resolved to at its latest pull.
    pub manifest_digest: String,
}

/// A tag that resolves now, and its latest pull if any.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IdleTag {
    /// Tag name.
    pub name: String,
    /// When its live row started (ms since the epoch).
    pub start_ms: i64,
    /// Its latest pull, if it was ever pulled.
    pub last_pull_ms: Option<i64>,
}

/// Keeps the newer of two latest-pull times (both databases, no `GREATEST`).
macro_rules! newer {
    ($table:literal, $column:literal) => {
        concat!(
            "CASE WHEN excluded.",
            $column,
            " > ",
            $table,
            ".",
            $column,
            " THEN excluded.",
            $column,
            " ELSE ",
            $table,
            ".",
            $column,
            " END"
        )
    };
}

/// Rows whose repository (and, for manifests, manifest) is gone are
/// dropped by the joins, so a flush racing a deletion does not fail. Rows
/// are inserted in key order, so instances flushing at once take row locks
/// in the same order and cannot deadlock each other.
const TAG_UPSERT_TAIL: &str = concat!(
    ") AS v JOIN repositories r ON r.name = v.column1 ",
    "WHERE EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = r.id AND t.name = v.column2) ",
    "ORDER BY r.id, v.column2 ",
    "ON CONFLICT (repository_id, tag_name) DO UPDATE SET ",
    "pull_count = tag_pull_stats.pull_count + excluded.pull_count, ",
    "manifest_digest = CASE WHEN excluded.last_pull_ms >= tag_pull_stats.last_pull_ms ",
    "THEN excluded.manifest_digest ELSE tag_pull_stats.manifest_digest END, ",
    "last_pull_ms = ",
    newer!("tag_pull_stats", "last_pull_ms")
);

const MANIFEST_UPSERT_TAIL: &str = concat!(
    ") AS v JOIN repositories r ON r.name = v.column1 ",
    "JOIN manifests m ON m.repository_id = r.id AND m.digest = v.column2 ",
    "WHERE TRUE ORDER BY m.repository_id, m.digest ",
    "ON CONFLICT (repository_id, manifest_digest) DO UPDATE SET ",
    "pull_count = manifest_pull_stats.pull_count + excluded.pull_count, ",
    "last_pull_ms = ",
    newer!("manifest_pull_stats", "last_pull_ms")
);

/// Removes the statistics of tag names of repository `$1` that have no
/// row left (live or in the time-machine window).
pub(crate) const DELETE_ORPHANED_TAG_STATS: &str = "DELETE FROM tag_pull_stats WHERE repository_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = $1 AND t.name = tag_pull_stats.tag_name)";

impl Db {
    /// Add pulls to the statistics, in one transaction. Pulls of a
    /// repository, tag or manifest that no longer exists are dropped.
    pub async fn add_pulls(&self, tags: &[TagPulls], manifests: &[ManifestPulls]) -> Result<(), StoreError> {
        if tags.is_empty() && manifests.is_empty() {
            return Ok(());
        }
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            for chunk in tags.chunks(ROWS_PER_INSERT) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO tag_pull_stats (repository_id, tag_name, pull_count, last_pull_ms, manifest_digest) \
                     SELECT r.id, v.column2, v.column3, v.column4, v.column5 FROM (",
                );
                q.push_values(chunk, |mut row, p| {
                    row.push_bind(p.repository.as_str())
                        .push_bind(p.tag.as_str())
                        .push_bind(p.count)
                        .push_bind(p.last_ms)
                        .push_bind(p.manifest_digest.as_str());
                });
                q.push(TAG_UPSERT_TAIL);
                q.build().execute(&mut *tx).await?;
            }
            for chunk in manifests.chunks(ROWS_PER_INSERT) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO manifest_pull_stats (repository_id, manifest_digest, pull_count, last_pull_ms) \
                     SELECT m.repository_id, m.digest, v.column3, v.column4 FROM (",
                );
                q.push_values(chunk, |mut row, p| {
                    row.push_bind(p.repository.as_str())
                        .push_bind(p.digest.as_str())
                        .push_bind(p.count)
                        .push_bind(p.last_ms);
                });
                q.push(MANIFEST_UPSERT_TAIL);
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The recorded pulls of tag `tag` of repository `repo`.
    pub async fn tag_pulls(&self, repo: i64, tag: &str) -> Result<Option<TagPullRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT tag_name, pull_count, last_pull_ms, manifest_digest FROM tag_pull_stats \
                 WHERE repository_id = $1 AND tag_name = $2",
            )
            .bind(repo)
            .bind(tag)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The recorded pulls of the tags named `names` of repository `repo`
    /// (those never pulled are missing).
    pub async fn tags_pulls(&self, repo: i64, names: &[&str]) -> Result<Vec<TagPullRow>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        on_db!(self.reader(), pool => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT tag_name, pull_count, last_pull_ms, manifest_digest FROM tag_pull_stats WHERE repository_id = ",
            );
            q.push_bind(repo).push(" AND tag_name IN (");
            let mut list = q.separated(", ");
            for name in names {
                list.push_bind(*name);
            }
            q.push(")");
            Ok(q.build_query_as().fetch_all(pool).await?)
        })
    }

    /// The recorded pulls of manifest `digest` of repository `repo`:
    /// `(count, latest ms)`.
    pub async fn manifest_pulls(&self, repo: i64, digest: &str) -> Result<Option<(i64, i64)>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT pull_count, last_pull_ms FROM manifest_pull_stats \
                 WHERE repository_id = $1 AND manifest_digest = $2",
            )
            .bind(repo)
            .bind(digest)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Tags of repository `repo` that resolve now and have not been pulled
    /// since `since_ms`: never pulled, or last pulled before it. A tag set
    /// (pushed, moved, restored) at or after `since_ms` is not included:
    /// it has not been idle that long. By name.
    pub async fn tags_not_pulled_since(&self, repo: i64, since_ms: i64) -> Result<Vec<IdleTag>, StoreError> {
        let sql = format!(
            "SELECT t.name, t.start_ms, s.last_pull_ms FROM tags t \
             LEFT JOIN tag_pull_stats s ON s.repository_id = t.repository_id AND s.tag_name = t.name \
             WHERE t.repository_id = $1 AND {} AND t.start_ms < $2 \
             AND (s.last_pull_ms IS NULL OR s.last_pull_ms < $2) ORDER BY t.name",
            super::tags::resolving!("$3")
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(repo)
                .bind(since_ms)
                .bind(crate::now_ms())
                .fetch_all(pool)
                .await?)
        })
    }
}
