//! Secrets issued to accounts: app-specific tokens, OAuth applications and
//! their access tokens. Each is found by a clear `lookup` prefix and checked
//! against a stored hash.

use crate::{Db, StoreError, now_ms, on_db};

/// An app-specific token or an OAuth access token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    /// Row id.
    pub id: i64,
    /// Public identifier.
    pub uuid: String,
    /// The account the token acts for.
    pub account_id: i64,
    /// The application (OAuth tokens only).
    pub app_id: Option<i64>,
    /// Title (app tokens) or the application's name (OAuth tokens).
    pub title: String,
    /// Space-separated scopes (OAuth tokens; empty for app tokens).
    pub scopes: String,
    /// Argon2 hash of the secret part.
    pub secret_hash: String,
    /// Creation time.
    pub created_ms: i64,
    /// Expiry, if any.
    pub expires_ms: Option<i64>,
    /// Last use.
    pub last_accessed_ms: Option<i64>,
}

/// An OAuth application of an organization.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthAppRow {
    /// Row id.
    pub id: i64,
    /// The owning organization.
    pub org_id: i64,
    /// Public client id.
    pub client_id: String,
    /// Argon2 hash of the client secret.
    pub client_secret_hash: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Home page.
    pub application_uri: String,
    /// OAuth redirect.
    pub redirect_uri: String,
    /// Address for the avatar.
    pub avatar_email: Option<String>,
}

/// Fields of an OAuth application that can be set.
#[derive(Debug, Clone, Default)]
pub struct OAuthAppFields {
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Home page.
    pub application_uri: String,
    /// OAuth redirect.
    pub redirect_uri: String,
    /// Address for the avatar.
    pub avatar_email: Option<String>,
}

/// A new token's stored parts.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// Public identifier.
    pub uuid: &'a str,
    /// The account it acts for.
    pub account_id: i64,
    /// Clear prefix that finds the row.
    pub lookup: &'a str,
    /// Argon2 hash of the secret part.
    pub secret_hash: &'a str,
    /// Expiry, if any.
    pub expires_ms: Option<i64>,
}

const APP_TOKEN_COLUMNS: &str = "id, uuid, account_id, NULL AS app_id, title, '' AS scopes, secret_hash, \
     created_ms, expires_ms, last_accessed_ms";
const OAUTH_TOKEN_COLUMNS: &str = "t.id, t.uuid, t.account_id, t.app_id, a.name AS title, t.scopes, t.secret_hash, \
     t.created_ms, t.expires_ms, t.last_accessed_ms";
const APP_COLUMNS: &str = "id, org_id, client_id, client_secret_hash, name, description, application_uri, \
     redirect_uri, avatar_email";

impl Db {
    /// Store a new app-specific token.
    pub async fn create_app_token(&self, new: &NewToken<'_>, title: &str) -> Result<i64, StoreError> {
        on_db!(self.writer(), pool => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO app_tokens (uuid, account_id, title, lookup, secret_hash, created_ms, expires_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(new.uuid)
            .bind(new.account_id)
            .bind(title)
            .bind(new.lookup)
            .bind(new.secret_hash)
            .bind(now_ms())
            .bind(new.expires_ms)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// The app token whose lookup prefix is `lookup`.
    pub async fn app_token_by_lookup(&self, lookup: &str) -> Result<Option<TokenRow>, StoreError> {
        let sql = format!("SELECT {APP_TOKEN_COLUMNS} FROM app_tokens WHERE lookup = $1");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(lookup).fetch_optional(pool).await?)
        })
    }

    /// The app tokens of an account, newest first.
    pub async fn app_tokens(&self, account_id: i64) -> Result<Vec<TokenRow>, StoreError> {
        let sql =
            format!("SELECT {APP_TOKEN_COLUMNS} FROM app_tokens WHERE account_id = $1 ORDER BY id DESC");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(pool).await?)
        })
    }

    /// Revoke one of an account's app tokens.
    pub async fn delete_app_token(&self, account_id: i64, uuid: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM app_tokens WHERE account_id = $1 AND uuid = $2")
                .bind(account_id)
                .bind(uuid)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Record the use of an app token (`oauth` false) or OAuth token.
    pub async fn touch_token(&self, id: i64, oauth: bool) -> Result<(), StoreError> {
        let sql = if oauth {
            "UPDATE oauth_tokens SET last_accessed_ms = $2 WHERE id = $1"
        } else {
            "UPDATE app_tokens SET last_accessed_ms = $2 WHERE id = $1"
        };
        on_db!(self.writer(), pool => {
            sqlx::query(sql).bind(id).bind(now_ms()).execute(pool).await?;
            Ok(())
        })
    }

    /// Replace an app token's (`oauth` false) or OAuth token's secret hash
    /// only if it is still `old`.
    pub async fn replace_token_secret(
        &self,
        id: i64,
        oauth: bool,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let sql = if oauth {
            "UPDATE oauth_tokens SET secret_hash = $3 WHERE id = $1 AND secret_hash = $2"
        } else {
            "UPDATE app_tokens SET secret_hash = $3 WHERE id = $1 AND secret_hash = $2"
        };
        on_db!(self.writer(), pool => {
            let done = sqlx::query(sql).bind(id).bind(old).bind(new).execute(pool).await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Create an OAuth application.
    pub async fn create_oauth_app(
        &self,
        org_id: i64,
        client_id: &str,
        client_secret_hash: &str,
        fields: &OAuthAppFields,
    ) -> Result<i64, StoreError> {
        on_db!(self.writer(), pool => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO oauth_apps (org_id, client_id, client_secret_hash, name, description, \
                 application_uri, redirect_uri, avatar_email, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(org_id)
            .bind(client_id)
            .bind(client_secret_hash)
            .bind(&fields.name)
            .bind(&fields.description)
            .bind(&fields.application_uri)
            .bind(&fields.redirect_uri)
            .bind(fields.avatar_email.as_deref())
            .bind(now_ms())
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// The application with client id `client_id`.
    pub async fn oauth_app(&self, client_id: &str) -> Result<Option<OAuthAppRow>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM oauth_apps WHERE client_id = $1");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(client_id).fetch_optional(pool).await?)
        })
    }

    /// The applications of an organization, by name.
    pub async fn oauth_apps(&self, org_id: i64) -> Result<Vec<OAuthAppRow>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM oauth_apps WHERE org_id = $1 ORDER BY name, id");
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_all(pool).await?)
        })
    }

    /// Change an application's fields.
    pub async fn update_oauth_app(&self, id: i64, fields: &OAuthAppFields) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "UPDATE oauth_apps SET name = $2, description = $3, application_uri = $4, redirect_uri = $5, \
                 avatar_email = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(&fields.name)
            .bind(&fields.description)
            .bind(&fields.application_uri)
            .bind(&fields.redirect_uri)
            .bind(fields.avatar_email.as_deref())
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Replace an application's client secret hash.
    pub async fn set_oauth_app_secret(&self, id: i64, client_secret_hash: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("UPDATE oauth_apps SET client_secret_hash = $2 WHERE id = $1")
                .bind(id)
                .bind(client_secret_hash)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Delete an application and its tokens.
    pub async fn delete_oauth_app(&self, id: i64) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM oauth_apps WHERE id = $1").bind(id).execute(pool).await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Store a new OAuth access token of application `app_id`.
    pub async fn create_oauth_token(
        &self,
        new: &NewToken<'_>,
        app_id: i64,
        scopes: &str,
    ) -> Result<i64, StoreError> {
        on_db!(self.writer(), pool => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO oauth_tokens (uuid, app_id, account_id, scopes, lookup, secret_hash, created_ms, expires_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(new.uuid)
            .bind(app_id)
            .bind(new.account_id)
            .bind(scopes)
            .bind(new.lookup)
            .bind(new.secret_hash)
            .bind(now_ms())
            .bind(new.expires_ms)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// The OAuth token whose lookup prefix is `lookup`.
    pub async fn oauth_token_by_lookup(&self, lookup: &str) -> Result<Option<TokenRow>, StoreError> {
        let sql = format!(
            "SELECT {OAUTH_TOKEN_COLUMNS} FROM oauth_tokens t JOIN oauth_apps a ON a.id = t.app_id WHERE t.lookup = $1"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(lookup).fetch_optional(pool).await?)
        })
    }

    /// The tokens of an application, newest first.
    pub async fn oauth_tokens(&self, app_id: i64) -> Result<Vec<TokenRow>, StoreError> {
        let sql = format!(
            "SELECT {OAUTH_TOKEN_COLUMNS} FROM oauth_tokens t JOIN oauth_apps a ON a.id = t.app_id \
             WHERE t.app_id = $1 ORDER BY t.id DESC"
        );
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(app_id).fetch_all(pool).await?)
        })
    }

    /// Revoke one token of an application.
    pub async fn delete_oauth_token(&self, app_id: i64, uuid: &str) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query("DELETE FROM oauth_tokens WHERE app_id = $1 AND uuid = $2")
                .bind(app_id)
                .bind(uuid)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}
