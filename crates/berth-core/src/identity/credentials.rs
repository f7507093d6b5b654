//! Logging in: turning a username and secret (password, robot token, app
//! token, OAuth token) into a [`Principal`], with failed-login throttling
//! per client address and per account, or for app and OAuth tokens per
//! token lookup prefix: their user names (`$app`, `$oauthtoken`) are shared
//! by every token, so counting failures on them would let anyone lock out
//! every token user.
//!
//! Checking an argon2 hash costs tens of milliseconds, too much for clients
//! that send Basic credentials with every request. A verified credential is
//! therefore remembered (under a salted SHA-256 of the credential, never the
//! secret) together with the hash it matched; it is accepted again only
//! while the stored hash is unchanged, so a changed password or a
//! regenerated or revoked token stops working at once on every instance.
//!
//! In FIPS mode a secret that matched an argon2 hash is hashed again with
//! PBKDF2 and stored in its place, so accounts move to the approved hash as
//! their owners log in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use berth_store::metadata::{AccountRow, TokenRow};

use crate::crypto::{random_bytes, sha256};

use super::principal::{AccountRef, Actor, Credential, Principal, Scope};
use super::secrets::{hash_secret, needs_rehash, split_lookup, verify_against_nothing, verify_secret};
use super::{AuditEvent, Identity, IdentityError};
use crate::metrics::{self, AuthKind};

/// Remembered verifications at most (the cache is cleared when full).
const CACHE_ENTRIES: usize = 10_000;
/// How long a remembered verification is trusted without re-hashing.
const CACHE_TTL: Duration = Duration::from_secs(300);

/// Failed-login limits.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failures per account within `window` before it is locked.
    pub account_failures: i64,
    /// Failures per client address within `window` before it is locked.
    pub address_failures: i64,
    /// How long failures are remembered.
    pub window: Duration,
    /// First lock; each further failure doubles it, up to `max_lock`.
    pub lock: Duration,
    /// Longest lock.
    pub max_lock: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            account_failures: 5,
            address_failures: 20,
            window: Duration::from_secs(900),
            lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(900),
        }
    }
}

/// Verified credentials, by salted digest.
pub(crate) struct CredentialCache {
    /// Drawn at the first login, not at start: the random generator's
    /// first use takes tens of milliseconds.
    salt: OnceLock<[u8; 32]>,
    entries: Mutex<HashMap<[u8; 32], (String, Instant)>>,
}

impl CredentialCache {
    pub(crate) fn new() -> CredentialCache {
        CredentialCache {
            salt: OnceLock::new(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, username: &str, secret: &str) -> [u8; 32] {
        let salt = self.salt.get_or_init(|| {
            let mut salt = [0u8; 32];
            random_bytes(&mut salt);
            salt
        });
        sha256(&[salt, username.as_bytes(), &[0], secret.as_bytes()])
    }

    /// Whether `secret` matches `hash`, from memory if it did before.
    fn verify(&self, username: &str, secret: &str, hash: &str) -> bool {
        let key = self.key(username, secret);
        if let Ok(entries) = self.entries.lock()
            && let Some((known, at)) = entries.get(&key)
            && known == hash
            && at.elapsed() < CACHE_TTL
        {
            return true;
        }
        let ok = verify_secret(secret, hash);
        if ok && let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (hash.to_owned(), Instant::now()));
        }
        ok
    }
}

/// The failure counter a login counts against besides its address: the
/// account for user and robot names, the lookup prefix for app and OAuth
/// tokens (each finds one row, so guessing at one token is throttled without
/// touching the others). A token of the wrong shape has none; its address
/// still counts. Names are kept as digests: what was typed as a name may be
/// a password.
fn throttle_key(username: &str, secret: &str) -> Option<String> {
    match username {
        "$app" => split_lookup(secret).map(|lookup| format!("app:{lookup}")),
        "$oauthtoken" => split_lookup(secret).map(|lookup| format!("oauth:{lookup}")),
        name => Some(format!("account:{}", hex::encode(sha256(&[name.as_bytes()])))),
    }
}

fn refused() -> IdentityError {
    IdentityError::Unauthenticated("invalid username or password".into())
}

impl Identity {
    /// Check Basic credentials. `ip` is the client's address, for
    /// throttling and the log.
    pub async fn login(
        &self,
        username: &str,
        secret: &str,
        ip: Option<IpAddr>,
    ) -> Result<Principal, IdentityError> {
        self.login_as(AuthKind::Basic, username, secret, ip).await
    }

    /// Check credentials presented as `kind`, and count the outcome (a
    /// throttled attempt is a failed one; a database failure is neither).
    async fn login_as(
        &self,
        kind: AuthKind,
        username: &str,
        secret: &str,
        ip: Option<IpAddr>,
    ) -> Result<Principal, IdentityError> {
        let result = self.check_login(username, secret, ip).await;
        match &result {
            Ok(_) => metrics::login(kind, true),
            Err(IdentityError::Unauthenticated(_) | IdentityError::Throttled(_)) => {
                metrics::login(kind, false)
            }
            Err(_) => {}
        }
        result
    }

    async fn check_login(
        &self,
        username: &str,
        secret: &str,
        ip: Option<IpAddr>,
    ) -> Result<Principal, IdentityError> {
        let now = berth_store::now_ms();
        let account_key = throttle_key(username, secret);
        let ip_key = ip.map(|ip| format!("ip:{ip}"));
        let mut failed_before = None;
        for key in account_key.iter().chain(ip_key.iter()) {
            let (failures, until) = self.db.login_failures(key).await?;
            if until > now {
                return Err(IdentityError::Throttled(((until - now) as u64).div_ceil(1000)));
            }
            // A success clears the account's count, never the address's:
            // one valid account must not reset an attacker's budget.
            if failures > 0 && Some(key) == account_key.as_ref() {
                failed_before = Some(key);
            }
        }
        match self.check_credentials(username, secret).await {
            Ok(principal) => {
                if let Some(key) = failed_before {
                    self.db.clear_login_failures(key).await?;
                }
                Ok(principal)
            }
            Err(IdentityError::Unauthenticated(why)) => {
                if let Some(key) = &account_key {
                    self.count_failure(key, self.config.throttle.account_failures, now)
                        .await?;
                }
                if let Some(key) = &ip_key {
                    self.count_failure(key, self.config.throttle.address_failures, now)
                        .await?;
                }
                self.log_failure(username, &why, ip).await?;
                Err(IdentityError::Unauthenticated(why))
            }
            Err(e) => Err(e),
        }
    }

    /// Log a failed login. The name is kept only for an account that
    /// exists (or the fixed token names): people type passwords into the
    /// user-name field, and the log is served to superusers.
    async fn log_failure(&self, username: &str, why: &str, ip: Option<IpAddr>) -> Result<(), IdentityError> {
        let mut event = AuditEvent::new("login_failure", &Principal::anonymous(), ip);
        let name = match username {
            "$app" | "$oauthtoken" => Some(username),
            name => {
                let exists = self.db.account_by_name(name).await?.is_some();
                if exists {
                    event = event.namespace(name.split('+').next().unwrap_or(name));
                }
                exists.then_some(name)
            }
        };
        let metadata = match name {
            Some(name) => serde_json::json!({"username": name, "message": why}),
            None => serde_json::json!({"message": why}),
        };
        let event = event.metadata(metadata);
        self.audit.record(event).await;
        Ok(())
    }

    async fn count_failure(&self, key: &str, limit: i64, now: i64) -> Result<(), IdentityError> {
        let t = &self.config.throttle;
        let failures = self
            .db
            .record_login_failure(key, now, t.window.as_millis() as i64)
            .await?;
        if failures >= limit {
            let doublings = (failures - limit).min(16) as u32;
            let lock = t
                .lock
                .saturating_mul(2u32.saturating_pow(doublings))
                .min(t.max_lock);
            self.db.lock_login(key, now + lock.as_millis() as i64).await?;
        }
        Ok(())
    }

    async fn check_credentials(&self, username: &str, secret: &str) -> Result<Principal, IdentityError> {
        match username {
            "$app" => self.token_login(secret, false).await,
            "$oauthtoken" => self.token_login(secret, true).await,
            name => {
                let Some(account) = self.db.account_by_name(name).await? else {
                    verify_against_nothing(secret);
                    return Err(refused());
                };
                let robot = name.contains('+');
                let kind_ok = if robot {
                    account.kind == "robot"
                } else {
                    account.kind == "user"
                };
                let Some(hash) = account.secret_hash.as_deref().filter(|_| kind_ok) else {
                    verify_against_nothing(secret);
                    return Err(refused());
                };
                if !self.cache.verify(name, secret, hash) {
                    return Err(refused());
                }
                if needs_rehash(hash) {
                    let new = hash_secret(secret)?;
                    if self.db.replace_account_secret(account.id, hash, &new).await? {
                        tracing::info!(account = name, "password hash replaced by PBKDF2 (FIPS mode)");
                    }
                }
                if !account.enabled {
                    return Err(IdentityError::Unauthenticated(
                        "This user has been disabled. Please contact your administrator.".into(),
                    ));
                }
                // A robot acts for its namespace: disabling the owning
                // account disables its robots too.
                if robot && !self.owner_enabled(&account).await? {
                    return Err(IdentityError::Unauthenticated(
                        "The namespace of this robot has been disabled. Please contact your administrator."
                            .into(),
                    ));
                }
                let reference = self.account_ref(&account);
                if robot {
                    Ok(Principal {
                        actor: Actor::Robot(reference),
                        credential: Credential::RobotToken,
                    })
                } else {
                    Ok(Principal {
                        actor: Actor::User(reference),
                        credential: Credential::Password,
                    })
                }
            }
        }
    }

    /// Whether a robot's owning account (user or organization) exists and
    /// is enabled.
    async fn owner_enabled(&self, robot: &AccountRow) -> Result<bool, IdentityError> {
        let Some(owner_id) = robot.owner_id else {
            return Ok(false);
        };
        Ok(self.db.account_by_id(owner_id).await?.is_some_and(|o| o.enabled))
    }

    /// Check an OAuth access token presented as `Authorization: Bearer`.
    pub async fn oauth_login(&self, token: &str, ip: Option<IpAddr>) -> Result<Principal, IdentityError> {
        self.login_as(AuthKind::OAuth, "$oauthtoken", token, ip).await
    }

    async fn token_login(&self, token: &str, oauth: bool) -> Result<Principal, IdentityError> {
        let Some(lookup) = split_lookup(token) else {
            return Err(refused());
        };
        let row: Option<TokenRow> = if oauth {
            self.db.oauth_token_by_lookup(lookup).await?
        } else {
            self.db.app_token_by_lookup(lookup).await?
        };
        let Some(row) = row else {
            verify_against_nothing(token);
            return Err(refused());
        };
        let label = if oauth { "$oauthtoken" } else { "$app" };
        if !self.cache.verify(label, token, &row.secret_hash) {
            return Err(refused());
        }
        if needs_rehash(&row.secret_hash) {
            let new = hash_secret(token)?;
            self.db
                .replace_token_secret(row.id, oauth, &row.secret_hash, &new)
                .await?;
        }
        if row.expires_ms.is_some_and(|e| e <= berth_store::now_ms()) {
            return Err(IdentityError::Unauthenticated("token has expired".into()));
        }
        let account = self
            .db
            .account_by_id(row.account_id)
            .await?
            .filter(|a| a.kind == "user" && a.enabled)
            .ok_or_else(refused)?;
        let credential = if oauth {
            Credential::OAuth(Scope::parse_list(&row.scopes).unwrap_or_default())
        } else {
            Credential::AppToken
        };
        if row
            .last_accessed_ms
            .is_none_or(|t| berth_store::now_ms() - t > 60_000)
        {
            self.db.touch_token(row.id, oauth).await?;
        }
        Ok(Principal {
            actor: Actor::User(self.account_ref(&account)),
            credential,
        })
    }

    /// The policy's view of an account row (superusers from config too).
    pub(crate) fn account_ref(&self, account: &AccountRow) -> AccountRef {
        AccountRef {
            id: account.id,
            name: account.name.clone(),
            super_user: account.kind == "user"
                && (account.super_user || self.config.super_users.iter().any(|s| s == &account.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_keys_name_the_token_or_a_digest_of_the_name() {
        let token = format!("Abcd1234{}", "x".repeat(32));
        assert_eq!(throttle_key("$app", &token).as_deref(), Some("app:Abcd1234"));
        assert_eq!(
            throttle_key("$oauthtoken", &token).as_deref(),
            Some("oauth:Abcd1234")
        );
        assert_eq!(throttle_key("$app", "garbage"), None);
        let typed = throttle_key("Tr0ub4dor-typed-as-a-name", "x").unwrap();
        assert!(
            typed.starts_with("account:") && !typed.contains("Tr0ub4dor"),
            "{typed}"
        );
        assert_eq!(throttle_key("carol", "one"), throttle_key("carol", "two"));
        assert_ne!(throttle_key("carol", "x"), throttle_key("dave", "x"));
    }
}
