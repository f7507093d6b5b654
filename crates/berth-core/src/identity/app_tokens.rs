//! App-specific tokens: per-client passwords a user can revoke one by one,
//! presented with the user name `$app`. Stored as a clear lookup prefix and
//! a hash, so the token is shown only when it is created.

use berth_store::metadata::{NewToken, TokenRow};

use super::principal::Principal;
use super::secrets::{LookupToken, hash_secret};
use super::{AuditEvent, Identity, IdentityError};

/// Longest token title.
const MAX_TITLE: usize = 255;

/// An app token that was just created, with its secret.
#[derive(Debug, Clone)]
pub struct NewAppToken {
    /// The stored token.
    pub row: TokenRow,
    /// The whole token, to be shown once.
    pub token_code: String,
}

impl Identity {
    /// The app tokens of an account, newest first.
    pub async fn app_tokens(&self, account_id: i64) -> Result<Vec<TokenRow>, IdentityError> {
        Ok(self.db.app_tokens(account_id).await?)
    }

    /// One app token of an account.
    pub async fn app_token(&self, account_id: i64, uuid: &str) -> Result<TokenRow, IdentityError> {
        self.db
            .app_tokens(account_id)
            .await?
            .into_iter()
            .find(|t| t.uuid == uuid)
            .ok_or_else(|| IdentityError::NotFound("Could not find the token".into()))
    }

    /// Create an app token titled `title` for the calling user.
    pub async fn create_app_token(
        &self,
        principal: &Principal,
        title: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<NewAppToken, IdentityError> {
        let account = user_account(principal)?;
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
                AuditEvent::new("create_app_specific_token", principal, ip)
                    .namespace(principal.name().unwrap_or_default())
                    .metadata(
                        serde_json::json!({ "app_specific_token_title": title, "app_specific_token": uuid }),
                    ),
            )
            .await?;
        Ok(NewAppToken {
            row: self.app_token(account, &uuid).await?,
            token_code: token.token,
        })
    }

    /// Revoke one of the calling user's app tokens; it stops working at
    /// once.
    pub async fn revoke_app_token(
        &self,
        principal: &Principal,
        uuid: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), IdentityError> {
        let account = user_account(principal)?;
        let token = self.app_token(account, uuid).await?;
        if !self.db.delete_app_token(account, uuid).await? {
            return Err(IdentityError::NotFound("Could not find the token".into()));
        }
        self.audit
            .record_now(
                AuditEvent::new("revoke_app_specific_token", principal, ip)
                    .namespace(principal.name().unwrap_or_default())
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
        super::principal::Actor::User(u) => Ok(u.id),
        _ => Err(IdentityError::Denied("only users have app tokens".into())),
    }
}
