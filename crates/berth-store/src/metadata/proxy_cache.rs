//! Proxy-cache configurations (one upstream per organization) and when each
//! cached tag was last found current upstream.

use super::accounts::is_unique_violation;
use crate::{Db, StoreError, now_ms, on_db};

/// A stored proxy-cache configuration.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProxyConfigRow {
    /// The organization's account id.
    pub account_id: i64,
    /// The organization's name.
    pub namespace: String,
    /// `host[:port][/namespace]` as configured.
    pub upstream_registry: String,
    /// Seconds a cached tag is served before it is revalidated.
    pub expiration_s: i64,
    /// TLS without verification, and plain HTTP, allowed.
    pub insecure: bool,
    /// Sealed user name, if any.
    pub username_sealed: Option<Vec<u8>>,
    /// Sealed password, if any.
    pub password_sealed: Option<Vec<u8>>,
}

/// A configuration to store.
#[derive(Debug, Clone)]
pub struct NewProxyConfig<'a> {
    /// The organization's account id.
    pub account_id: i64,
    /// `host[:port][/namespace]`.
    pub upstream_registry: &'a str,
    /// The host (and port) part, for `?ns=` lookups.
    pub upstream_host: &'a str,
    /// Seconds before revalidation.
    pub expiration_s: i64,
    /// Insecure upstream allowed.
    pub insecure: bool,
    /// Sealed user name.
    pub username_sealed: Option<&'a [u8]>,
    /// Sealed password.
    pub password_sealed: Option<&'a [u8]>,
}

const SELECT: &str = "SELECT p.account_id, a.name AS namespace, p.upstream_registry, p.expiration_s, \
     p.insecure, p.username_sealed, p.password_sealed FROM proxy_cache_configs p \
     JOIN accounts a ON a.id = p.account_id";

impl Db {
    /// Store a configuration; `Err(StoreError::Exists)` if the organization
    /// has one.
    pub async fn create_proxy_config(&self, new: &NewProxyConfig<'_>) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "INSERT INTO proxy_cache_configs (account_id, upstream_registry, upstream_host, \
                 expiration_s, insecure, username_sealed, password_sealed, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(new.account_id)
            .bind(new.upstream_registry)
            .bind(new.upstream_host)
            .bind(new.expiration_s)
            .bind(new.insecure)
            .bind(new.username_sealed)
            .bind(new.password_sealed)
            .bind(now_ms())
            .execute(pool)
            .await;
            match done {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Exists(new.upstream_registry.to_owned())),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// The configuration of namespace `ns`, if it has one.
    pub async fn proxy_config(&self, ns: &str) -> Result<Option<ProxyConfigRow>, StoreError> {
        let sql = format!("{SELECT} WHERE a.name = $1");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ns).fetch_optional(pool).await?)
        })
    }

    /// The configuration whose upstream is `host` (host and port), oldest
    /// first if several organizations proxy it.
    pub async fn proxy_config_for_host(&self, host: &str) -> Result<Option<ProxyConfigRow>, StoreError> {
        let sql = format!("{SELECT} WHERE p.upstream_host = $1 ORDER BY p.created_ms, p.account_id LIMIT 1");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(host).fetch_optional(pool).await?)
        })
    }

    /// Delete the configuration of account `account_id`; whether it existed.
    pub async fn delete_proxy_config(&self, account_id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM proxy_cache_configs WHERE account_id = $1")
                .bind(account_id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// When tag `tag` of repository `repo` was last found current upstream.
    pub async fn proxy_tag_checked(&self, repo: i64, tag: &str) -> Result<Option<i64>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT checked_ms FROM proxy_cache_tags WHERE repository_id = $1 AND tag = $2",
            )
            .bind(repo)
            .bind(tag)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|r| r.0))
        })
    }

    /// Record that tag `tag` of repository `repo` is current upstream now.
    pub async fn set_proxy_tag_checked(&self, repo: i64, tag: &str) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            sqlx::query(
                "INSERT INTO proxy_cache_tags (repository_id, tag, checked_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (repository_id, tag) DO UPDATE SET checked_ms = excluded.checked_ms",
            )
            .bind(repo)
            .bind(tag)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The manifest of namespace `ns` whose newest live tag is the oldest
    /// (manifests without live tags first): what a full proxy cache evicts
    /// first. Repository id and digest.
    pub async fn oldest_cached_manifest(&self, ns: &str) -> Result<Option<(i64, String)>, StoreError> {
        let sql = format!(
            "SELECT m.repository_id, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id \
             WHERE {} AND NOT EXISTS (SELECT 1 FROM manifest_children c JOIN manifests p ON p.id = c.manifest_id \
             WHERE p.repository_id = m.repository_id AND c.child_digest = m.digest) \
             ORDER BY COALESCE((SELECT MAX(t.start_ms) FROM tags t WHERE t.repository_id = m.repository_id \
             AND t.manifest_digest = m.digest AND t.end_ms IS NULL), 0), m.created_ms LIMIT 1",
            super::quotas::IN_NAMESPACE
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ns).fetch_optional(pool).await?)
        })
    }
}

impl Db {
    /// Blob `digest` is now stored in repository `repo`: its proxied
    /// manifests waiting for it reference it like any other.
    pub async fn settle_proxied_blob(&self, repo: i64, digest: &str) -> Result<(), StoreError> {
        let waiting = "SELECT p.manifest_id FROM proxy_pending_blobs p JOIN manifests m ON m.id = p.manifest_id \
             WHERE p.digest = $1 AND m.repository_id = $2";
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO manifest_blobs (manifest_id, digest) SELECT manifest_id, $1 FROM ({waiting}) w \
                 WHERE true ON CONFLICT (manifest_id, digest) DO NOTHING"
            )))
            .bind(digest)
            .bind(repo)
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM proxy_pending_blobs WHERE digest = $1 AND manifest_id IN ({waiting})"
            )))
            .bind(digest)
            .bind(repo)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}
