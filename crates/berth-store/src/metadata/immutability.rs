//! Immutable tags: the per-row flags and the immutability policies of
//! organizations and repositories. Patterns are stored as text; matching
//! them is the caller's (the store runs no regular expressions).

use crate::{Db, StoreError, now_ms, on_db};

/// Whether immutability policies make a tag name immutable: asked, inside
/// the transaction that would end or change a live row, for that row's name.
pub type PolicyCheck<'a> = &'a (dyn Fn(&str) -> bool + Sync);

/// What owns a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyOwner {
    /// An organization (account id): every repository in it.
    Namespace(i64),
    /// One repository (id).
    Repository(i64),
}

impl PolicyOwner {
    pub(crate) fn ids(self) -> (Option<i64>, Option<i64>) {
        match self {
            PolicyOwner::Namespace(id) => (Some(id), None),
            PolicyOwner::Repository(id) => (None, Some(id)),
        }
    }
}

/// An immutability policy.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    /// Its public id.
    pub uuid: String,
    /// The regular expression tag names are matched against.
    pub tag_pattern: String,
    /// Whether matching names (true) or the others (false) are immutable.
    pub tag_pattern_matches: bool,
    /// The organization owning it, by name (organization policies).
    pub namespace: Option<String>,
    /// The repository owning it, by full name (repository policies).
    pub repository: Option<String>,
}

/// Outcome of writing a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyWrite {
    /// Written.
    Done,
    /// Another policy of the same owner has this pattern.
    Duplicate,
    /// No such policy.
    NotFound,
}

/// A live tag row a policy change looks at.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScopedTag {
    /// Row id.
    pub id: i64,
    /// Tag name.
    pub name: String,
    /// Whether it carries a planned expiry.
    pub expiring: bool,
    /// Whether the row itself was made immutable.
    pub immutable: bool,
    /// Whether an administrator released it from the policies.
    pub policy_exempt: bool,
}

/// Policy columns with the owner's names (alias `p`).
const POLICY_COLUMNS: &str = "p.uuid, p.tag_pattern, p.tag_pattern_matches, a.name AS namespace, r.name AS repository \
     FROM immutability_policies p LEFT JOIN accounts a ON a.id = p.namespace_id \
     LEFT JOIN repositories r ON r.id = p.repository_id";

impl Db {
    /// The policies `owner` holds, oldest first.
    pub async fn immutability_policies(&self, owner: PolicyOwner) -> Result<Vec<PolicyRow>, StoreError> {
        let (ns, repo) = owner.ids();
        let sql = format!(
            "SELECT {POLICY_COLUMNS} WHERE p.namespace_id IS NOT DISTINCT FROM $1 \
             AND p.repository_id IS NOT DISTINCT FROM $2 ORDER BY p.id"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ns).bind(repo).fetch_all(pool).await?)
        })
    }

    /// Every policy that applies to repository `repo` (id) in namespace
    /// `namespace`: its own and its organization's.
    pub async fn policies_for_repository(
        &self,
        repo: i64,
        namespace: &str,
    ) -> Result<Vec<PolicyRow>, StoreError> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} WHERE p.repository_id = $1 \
             OR p.namespace_id = (SELECT id FROM accounts WHERE name = $2) ORDER BY p.id"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(repo).bind(namespace).fetch_all(pool).await?)
        })
    }

    /// Every policy of every owner (the expiry worker matches rows of any
    /// repository against them).
    pub async fn all_immutability_policies(&self) -> Result<Vec<PolicyRow>, StoreError> {
        let sql = format!("SELECT {POLICY_COLUMNS} ORDER BY p.id");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?)
        })
    }

    /// Create a policy of `owner` unless one of its policies has the same
    /// pattern.
    pub async fn insert_immutability_policy(
        &self,
        owner: PolicyOwner,
        uuid: &str,
        pattern: &str,
        matches: bool,
    ) -> Result<PolicyWrite, StoreError> {
        let (ns, repo) = owner.ids();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let dup: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM immutability_policies WHERE namespace_id IS NOT DISTINCT FROM $1 \
                 AND repository_id IS NOT DISTINCT FROM $2 AND tag_pattern = $3",
            )
            .bind(ns)
            .bind(repo)
            .bind(pattern)
            .fetch_optional(&mut *tx)
            .await?;
            if dup.is_some() {
                return Ok(PolicyWrite::Duplicate);
            }
            sqlx::query(
                "INSERT INTO immutability_policies (uuid, namespace_id, repository_id, tag_pattern, \
                 tag_pattern_matches, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(uuid)
            .bind(ns)
            .bind(repo)
            .bind(pattern)
            .bind(matches)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(PolicyWrite::Done)
        })
    }

    /// Change policy `uuid` of `owner`, unless another of its policies has
    /// the same pattern.
    pub async fn update_immutability_policy(
        &self,
        owner: PolicyOwner,
        uuid: &str,
        pattern: &str,
        matches: bool,
    ) -> Result<PolicyWrite, StoreError> {
        let (ns, repo) = owner.ids();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let dup: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM immutability_policies WHERE namespace_id IS NOT DISTINCT FROM $1 \
                 AND repository_id IS NOT DISTINCT FROM $2 AND tag_pattern = $3 AND uuid <> $4",
            )
            .bind(ns)
            .bind(repo)
            .bind(pattern)
            .bind(uuid)
            .fetch_optional(&mut *tx)
            .await?;
            if dup.is_some() {
                return Ok(PolicyWrite::Duplicate);
            }
            let done = sqlx::query(
                "UPDATE immutability_policies SET tag_pattern = $3, tag_pattern_matches = $4 \
                 WHERE uuid = $5 AND namespace_id IS NOT DISTINCT FROM $1 AND repository_id IS NOT DISTINCT FROM $2",
            )
            .bind(ns)
            .bind(repo)
            .bind(pattern)
            .bind(matches)
            .bind(uuid)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(PolicyWrite::NotFound);
            }
            tx.commit().await?;
            Ok(PolicyWrite::Done)
        })
    }

    /// Delete policy `uuid` of `owner`; whether it existed.
    pub async fn delete_immutability_policy(
        &self,
        owner: PolicyOwner,
        uuid: &str,
    ) -> Result<bool, StoreError> {
        let (ns, repo) = owner.ids();
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "DELETE FROM immutability_policies WHERE uuid = $3 \
                 AND namespace_id IS NOT DISTINCT FROM $1 AND repository_id IS NOT DISTINCT FROM $2",
            )
            .bind(ns)
            .bind(repo)
            .bind(uuid)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Live tag rows under `owner` (every repository of the organization,
    /// or the one repository): what a new or changed policy applies to.
    pub async fn live_tags_under(&self, owner: PolicyOwner) -> Result<Vec<ScopedTag>, StoreError> {
        let (ns, repo) = owner.ids();
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT t.id, t.name, t.expires_ms IS NOT NULL AS expiring, t.immutable, t.policy_exempt FROM tags t \
                 JOIN repositories r ON r.id = t.repository_id \
                 WHERE t.end_ms IS NULL AND (r.id = $2 OR EXISTS (SELECT 1 FROM accounts a WHERE a.id = $1 \
                      AND (substr(r.name, 1, length(a.name) + 1) = a.name || '/' \
                           OR (a.name = 'library' AND r.name NOT LIKE '%/%'))))",
            )
            .bind(ns)
            .bind(repo)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Bring live rows `ids` under the policies: no planned expiry, no
    /// exemption. Returns how many changed.
    pub async fn subject_tags_to_policy(&self, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let mut changed = 0;
            for id in ids {
                changed += sqlx::query(
                    "UPDATE tags SET expires_ms = NULL, policy_exempt = FALSE WHERE id = $1 AND end_ms IS NULL",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// Set live row `id`'s own immutability. Making it immutable cancels a
    /// planned expiry; releasing it (`exempt`) also sets it apart from the
    /// policies until the tag next moves. Returns whether the row was live.
    pub async fn set_tag_immutability(
        &self,
        repo: i64,
        id: i64,
        immutable: bool,
        exempt: bool,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE repositories SET updated_ms = $2 WHERE id = $1")
                .bind(repo)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(
                "UPDATE tags SET immutable = $3, policy_exempt = $4, \
                 expires_ms = CASE WHEN $3 THEN NULL ELSE expires_ms END \
                 WHERE id = $1 AND repository_id = $2 AND end_ms IS NULL",
            )
            .bind(id)
            .bind(repo)
            .bind(immutable)
            .bind(exempt)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }
}

/// Whether a live row is immutable: its own flag, or a policy unless an
/// administrator released the row.
pub(crate) fn row_immutable(
    name: &str,
    immutable: bool,
    policy_exempt: bool,
    policy: PolicyCheck<'_>,
) -> bool {
    immutable || (!policy_exempt && policy(name))
}
