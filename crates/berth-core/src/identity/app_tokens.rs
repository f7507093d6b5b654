//! App-specific tokens: per-client passwords a user can revoke one by one,
//! presented with the user name `$app`. Stored as a clear lookup prefix and
//! a hash, so the token is shown only when it is created.

use berth_store::metadata::{NewToken, TokenRow};

use super::policy::Action;
use super::principal::{Actor, Principal};
use super::secrets::{LookupToken, hash_secret};
use super::{AuditEvent, Identity, IdentityError};
use crate::Caller;

/// Longest token title.
const MAX_TITLE: usize = 255;

/// An app token as it leaves the core: without its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppToken {
    /// Public identifier.
    pub uuid: String,
    /// What the token is for.
    pub title: String,
    /// When it was made (ms since the epoch).
    pub created_ms: i64,
    /// When it expires, if it does.
    pub expires_ms: Option<i64>,
    /// When it was last used, if ever.
    pub last_accessed_ms: Option<i64>,
}

impl From<TokenRow> for AppToken {
    fn from(row: TokenRow) -> AppToken {
        AppToken {
            uuid: row.uuid,
            title: row.title,
            created_ms: row.created_ms,
            expires_ms: row.expires_ms,
            last_accessed_ms: row.last_accessed_ms,
        }
    }
}

/// An app token that was just created, with its secret.
#[derive(Debug, Clone)]
pub struct NewAppToken {
    /// The token.
    pub token: AppToken,
    /// The whole token, to be shown once.
    pub token_code: String,
}

impl Identity {
    /// Authorize the caller to manage their own app tokens; their user id.
    async fn app_token_owner(&self, caller: &Caller) -> Result<i64, IdentityError> {
        self.authorize(&caller.principal, Action::AdministerUser).await?;
        user_account(&caller.principal)
    }

    /// One app token of an account.
    async fn app_token_of(&self, account_id: i64, uuid: &str) -> Result<AppToken, IdentityError> {
        self.db
            .app_tokens(account_id)
            .await?
            .into_iter()
            .find(|t| t.uuid == uuid)
            .map(AppToken::from)
            .ok_or_else(|| IdentityError::NotFound("Could not find the token".into()))
    }

    /// The calling user's app tokens, newest first; only those that expire
    /// if `expiring_only`.
    pub async fn app_tokens(
        &self,
        caller: &Caller,
        expiring_only: bool,
    ) -> Result<Vec<AppToken>, IdentityError> {
        let account = self.app_token_owner(caller).await?;
        Ok(self
            .db
            .app_tokens(account)
            .await?
            .into_iter()
            .filter(|t| !expiring_only || t.expires_ms.is_some())
            .map(AppToken::from)
            .collect())
    }

    /// One app token of the calling user.
    pub async fn app_token(&self, caller: &Caller, uuid: &str) -> Result<AppToken, IdentityError> {
        let account = self.app_token_owner(caller).await?;
        self.app_token_of(account, uuid).await
    }

    /// Create an app token titled `title` for the calling user.
    pub async fn create_app_token(&self, caller: &Caller, title: &str) -> Result<NewAppToken, IdentityError> {
        let account = self.app_token_owner(caller).await?;
        let title = title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return Err(IdentityError::Invalid(format!(
                "a token title of 1 to {MAX_TITLE} characters is required"
            )));
        }
        let token = LookupToken::generate();
        let hash = hash_secret(&token.token)?;
        let uuid = uuid::Uuid::new_v4().to_string();
        self.db
            .create_app_token(
                &NewToken {
                    uuid: &uuid,
                    account_id: account,
                    lookup: &token.lookup,
                    secret_hash: &hash,
                    expires_ms: None,
                },
                title,
            )
            .await?;
        self.audit
            .record_now(
                AuditEvent::by("create_app_specific_token", caller)
                    .namespace(caller.name().unwrap_or_default())
                    .metadata(
                        serde_json::json!({ "app_specific_token_title": title, "app_specific_token": uuid }),
                    ),
            )
            .await?;
        Ok(NewAppToken {
            token: self.app_token_of(account, &uuid).await?,
            token_code: token.token,
        })
    }

    /// Revoke one of the calling user's app tokens; it stops working at
    /// once.
    pub async fn revoke_app_token(&self, caller: &Caller, uuid: &str) -> Result<(), IdentityError> {
        let account = self.app_token_owner(caller).await?;
        let token = self.app_token_of(account, uuid).await?;
        if !self.db.delete_app_token(account, uuid).await? {
            return Err(IdentityError::NotFound("Could not find the token".into()));
        }
        self.audit
            .record_now(
                AuditEvent::by("revoke_app_specific_token", caller)
                    .namespace(caller.name().unwrap_or_default())
                    .metadata(serde_json::json!({ "app_specific_token_title": token.title, "app_specific_token": uuid })),
            )
            .await?;
        Ok(())
    }
}

/// The id of the calling user; robots and the anonymous caller have no
/// app tokens.
fn user_account(principal: &Principal) -> Result<i64, IdentityError> {
    match &principal.actor {
        Actor::User(u) => Ok(u.id),
        _ => Err(IdentityError::Denied("only users have app tokens".into())),
    }
}
