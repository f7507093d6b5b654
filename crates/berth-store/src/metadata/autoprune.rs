//! Auto-prune policies, the claims that keep two instances from pruning one
//! namespace at once, and ending a pruned tag row with its usage-log entry.
//! Patterns and methods are stored as text; deciding what to prune is the
//! caller's.

use super::audit::INSERT_AUDIT_ENTRY;
use super::immutability::row_immutable;
use super::tags::resolving;
use crate::metadata::{EndTag, NewAuditEntry, PolicyCheck, PolicyOwner};
use crate::{Db, StoreError, now_ms, on_db};

/// An auto-prune policy as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PrunePolicyRow {
    /// Its public id.
    pub uuid: String,
    /// `number_of_tags`, `creation_date` or `last_pulled`.
    pub method: String,
    /// The value as given: a count, or a duration such as `2w`.
    pub value: String,
    /// A regular expression narrowing the tags it looks at.
    pub tag_pattern: Option<String>,
    /// Whether it looks at matching (true) or other (false) tags.
    pub tag_pattern_matches: bool,
}

/// What a policy is written with.
#[derive(Debug, Clone, Copy)]
pub struct PrunePolicyFields<'a> {
    /// The method.
    pub method: &'a str,
    /// The value as given.
    pub value: &'a str,
    /// The pattern, if any.
    pub tag_pattern: Option<&'a str>,
    /// Matching or other tags.
    pub tag_pattern_matches: bool,
}

/// A live tag row the pruner may end.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PrunableTag {
    /// Row id.
    pub id: i64,
    /// Tag name.
    pub name: String,
    /// When the row started (ms).
    pub start_ms: i64,
    /// Its planned expiry, if any.
    pub expires_ms: Option<i64>,
    /// Whether the row itself was made immutable.
    pub immutable: bool,
    /// Whether an administrator released it from the immutability policies.
    pub policy_exempt: bool,
}

/// A repository of a namespace, with its state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatedRepository {
    /// Id.
    pub id: i64,
    /// Full name.
    pub name: String,
    /// `NORMAL`, `READ_ONLY` or `MIRROR`.
    pub state: String,
}

/// Namespace `$1` (by name) contains repository `r`: its first component,
/// and `library` for one-component names.
const IN_NAMESPACE: &str = "(substr(r.name, 1, length($1) + 1) = $1 || '/' \
     OR ($1 = 'library' AND r.name NOT LIKE '%/%'))";

impl Db {
    /// The policies `owner` holds, oldest first.
    pub async fn prune_policies(&self, owner: PolicyOwner) -> Result<Vec<PrunePolicyRow>, StoreError> {
        let (ns, repo) = owner.ids();
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT uuid, method, value, tag_pattern, tag_pattern_matches FROM autoprune_policies \
                 WHERE namespace_id IS NOT DISTINCT FROM $1 AND repository_id IS NOT DISTINCT FROM $2 ORDER BY id",
            )
            .bind(ns)
            .bind(repo)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The policies of namespace `namespace` (by name), oldest first.
    pub async fn namespace_prune_policies(&self, namespace: &str) -> Result<Vec<PrunePolicyRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT p.uuid, p.method, p.value, p.tag_pattern, p.tag_pattern_matches FROM autoprune_policies p \
                 JOIN accounts a ON a.id = p.namespace_id WHERE a.name = $1 ORDER BY p.id",
            )
            .bind(namespace)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Create policy `uuid` of `owner`.
    pub async fn insert_prune_policy(
        &self,
        owner: PolicyOwner,
        uuid: &str,
        p: PrunePolicyFields<'_>,
    ) -> Result<(), StoreError> {
        let (ns, repo) = owner.ids();
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO autoprune_policies (uuid, namespace_id, repository_id, method, value, tag_pattern, \
                 tag_pattern_matches, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(uuid)
            .bind(ns)
            .bind(repo)
            .bind(p.method)
            .bind(p.value)
            .bind(p.tag_pattern)
            .bind(p.tag_pattern_matches)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Change policy `uuid` of `owner`; whether it exists.
    pub async fn update_prune_policy(
        &self,
        owner: PolicyOwner,
        uuid: &str,
        p: PrunePolicyFields<'_>,
    ) -> Result<bool, StoreError> {
        let (ns, repo) = owner.ids();
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE autoprune_policies SET method = $4, value = $5, tag_pattern = $6, tag_pattern_matches = $7 \
                 WHERE uuid = $3 AND namespace_id IS NOT DISTINCT FROM $1 AND repository_id IS NOT DISTINCT FROM $2",
            )
            .bind(ns)
            .bind(repo)
            .bind(uuid)
            .bind(p.method)
            .bind(p.value)
            .bind(p.tag_pattern)
            .bind(p.tag_pattern_matches)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Delete policy `uuid` of `owner`; whether it existed.
    pub async fn delete_prune_policy(&self, owner: PolicyOwner, uuid: &str) -> Result<bool, StoreError> {
        let (ns, repo) = owner.ids();
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "DELETE FROM autoprune_policies WHERE uuid = $3 \
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

    /// Namespaces (id, name) the pruner looks at: those with a policy of
    /// their own or of one of their repositories, or with `every`, every
    /// user and organization (a registry-wide default applies).
    pub async fn prune_namespaces(&self, every: bool) -> Result<Vec<(i64, String)>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT a.id, a.name FROM accounts a WHERE a.kind IN ('user', 'org') AND ($1 \
                 OR EXISTS (SELECT 1 FROM autoprune_policies p WHERE p.namespace_id = a.id) \
                 OR EXISTS (SELECT 1 FROM autoprune_policies p JOIN repositories r ON r.id = p.repository_id \
                            WHERE substr(r.name, 1, length(a.name) + 1) = a.name || '/' \
                               OR (a.name = 'library' AND r.name NOT LIKE '%/%'))) ORDER BY a.id",
            )
            .bind(every)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Claim namespace `id` for pruning until `until_ms` with `token`,
    /// unless another instance holds a live claim or it was pruned less
    /// than `gap_ms` ago. Whether this call got it.
    pub async fn claim_prune_namespace(
        &self,
        id: i64,
        token: &str,
        until_ms: i64,
        gap_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "INSERT INTO autoprune_runs (namespace_id, claim_token, claimed_until_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (namespace_id) DO UPDATE SET claim_token = excluded.claim_token, \
                 claimed_until_ms = excluded.claimed_until_ms \
                 WHERE autoprune_runs.claimed_until_ms <= $4 \
                 AND (autoprune_runs.last_run_ms IS NULL OR autoprune_runs.last_run_ms <= $4 - $5)",
            )
            .bind(id)
            .bind(token)
            .bind(until_ms)
            .bind(now)
            .bind(gap_ms)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Give up the claim `token` holds on namespace `id`, recording the run.
    pub async fn release_prune_namespace(&self, id: i64, token: &str) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query(
                "UPDATE autoprune_runs SET claim_token = NULL, claimed_until_ms = 0, last_run_ms = $3 \
                 WHERE namespace_id = $1 AND claim_token = $2",
            )
            .bind(id)
            .bind(token)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The repositories of namespace `namespace`, with their states.
    pub async fn namespace_repositories(&self, namespace: &str) -> Result<Vec<StatedRepository>, StoreError> {
        let sql =
            format!("SELECT r.id, r.name, r.state FROM repositories r WHERE {IN_NAMESPACE} ORDER BY r.id");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(namespace).fetch_all(pool).await?)
        })
    }

    /// The tag rows of repository `repo` that resolve now.
    pub async fn prunable_tags(&self, repo: i64) -> Result<Vec<PrunableTag>, StoreError> {
        let sql = concat!(
            "SELECT t.id, t.name, t.start_ms, t.expires_ms, t.immutable, t.policy_exempt FROM tags t ",
            "WHERE t.repository_id = $1 AND ",
            resolving!("$2"),
            " ORDER BY t.start_ms DESC, t.id DESC"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sql).bind(repo).bind(now_ms()).fetch_all(pool).await?)
        })
    }

    /// End live row `id` of repository `repo` (a pruned tag: restorable
    /// within the time-machine window) and write `audit` with it, unless
    /// the row no longer resolves or is immutable (its flag, or `policy`).
    pub async fn end_pruned_tag(
        &self,
        repo: i64,
        id: i64,
        policy: PolicyCheck<'_>,
        audit: &NewAuditEntry,
    ) -> Result<EndTag, StoreError> {
        let now = now_ms();
        let select = concat!(
            "SELECT t.name, t.immutable, t.policy_exempt FROM tags t WHERE t.id = $1 AND t.repository_id = $2 AND ",
            resolving!("$3")
        );
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let live: Option<(String, bool, bool)> = sqlx::query_as(select)
                .bind(id)
                .bind(repo)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((name, immutable, exempt)) = live else {
                return Ok(EndTag::Missing);
            };
            if row_immutable(&name, immutable, exempt, policy) {
                return Ok(EndTag::Immutable);
            }
            let done = sqlx::query("UPDATE tags SET end_ms = $2 WHERE id = $1 AND end_ms IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // Ended meanwhile by someone else: neither end nor log it twice.
            if done.rows_affected() != 1 {
                return Ok(EndTag::Missing);
            }
            sqlx::query("UPDATE repositories SET updated_ms = $2 WHERE id = $1")
                .bind(repo)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_AUDIT_ENTRY)
                .bind(&audit.kind)
                .bind(audit.performer.as_deref())
                .bind(audit.performer_kind.as_deref())
                .bind(audit.namespace.as_deref())
                .bind(audit.repository.as_deref())
                .bind(audit.ip.as_deref())
                .bind(&audit.metadata)
                .bind(audit.created_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(EndTag::Ended)
        })
    }

    /// The id and state of repository `name`, if it exists.
    pub async fn repository_state(&self, name: &str) -> Result<Option<(i64, String)>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as("SELECT id, state FROM repositories WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Set repository `id`'s state; whether it exists.
    pub async fn set_repository_state(&self, id: i64, state: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE repositories SET state = $2 WHERE id = $1")
                .bind(id)
                .bind(state)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}
