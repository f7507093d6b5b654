//! Console sign-ins. A user name and password go through the one login
//! (throttling and the failed-login log included) and start a session
//! kept in the database, so any instance serves any request of it. The
//! browser holds a random token; the database holds only its SHA-256.

use berth_store::now_ms;

use super::principal::{Actor, Credential, Principal};
use super::{Identity, IdentityError};
use crate::crypto::{random_bytes, sha256};

/// A session just started; the token is for the browser only.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The secret the browser presents (hex, 256 random bits).
    pub token: String,
    /// When the session ends (ms since the epoch).
    pub expires_ms: i64,
}

/// How a token is stored and looked up.
pub(super) fn token_hash(token: &str) -> String {
    hex::encode(sha256(&[token.as_bytes()]))
}

impl Identity {
    /// Sign user `username` in with `password`; robots and tokens cannot
    /// sign in to the console.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<WebSession, IdentityError> {
        let principal = self.login(username, password, ip).await?;
        let account_id = match (&principal.actor, &principal.credential) {
            (Actor::User(a), Credential::Password) => a.id,
            _ => {
                return Err(IdentityError::Unauthenticated(
                    "sign in with a user name and password".into(),
                ));
            }
        };
        let mut secret = [0u8; 32];
        random_bytes(&mut secret);
        let token = hex::encode(secret);
        let now = now_ms();
        let lifetime = i64::try_from(self.config.session_lifetime.as_millis()).unwrap_or(i64::MAX);
        let expires_ms = now.saturating_add(lifetime);
        self.db
            .insert_web_session(&token_hash(&token), account_id, now, expires_ms)
            .await?;
        Ok(WebSession { token, expires_ms })
    }

    /// The user a session token belongs to, while the session lasts and
    /// the account is enabled; the session carries the rights of the
    /// password that started it.
    pub async fn web_session(&self, token: &str) -> Result<Option<Principal>, IdentityError> {
        let Some(account) = self.db.web_session_account(&token_hash(token), now_ms()).await? else {
            return Ok(None);
        };
        if account.kind != "user" || !account.enabled {
            return Ok(None);
        }
        Ok(Some(Principal {
            actor: Actor::User(self.account_ref(&account)),
            credential: Credential::Password,
        }))
    }

    /// End the session of `token` (signing out).
    pub async fn sign_out(&self, token: &str) -> Result<(), IdentityError> {
        self.db.delete_web_session(&token_hash(token)).await?;
        Ok(())
    }
}
