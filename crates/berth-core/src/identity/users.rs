//! Managing users from the superuser panel: listing, creating with a
//! generated password, changing password, email, enabled and superuser
//! flags, and deleting.

use berth_store::metadata::{AccountChange, AccountRow, NewAccount};

use super::accounts::{validate_account_name, validate_password};
use super::principal::Principal;
use super::secrets::{hash_secret, random_password};
use super::teams::OWNERS_TEAM;
use super::{AuditEvent, Identity, IdentityError};

/// A user that was just created, with its generated password.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The account.
    pub account: AccountRow,
    /// The generated password, to be shown once.
    pub password: String,
}

/// A change to a user from the superuser panel; `None` leaves a field
/// alone.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New password.
    pub password: Option<String>,
    /// New email address.
    pub email: Option<String>,
    /// Allow or refuse logins.
    pub enabled: Option<bool>,
    /// Grant or revoke superuser.
    pub super_user: Option<bool>,
}

fn validate_email(email: &str) -> Result<(), IdentityError> {
    let ok = email.len() <= 255
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Invalid(format!("invalid email address {email:?}")))
    }
}

fn is_self(principal: &Principal, account: &AccountRow) -> bool {
    principal.account().is_some_and(|a| a.id == account.id)
}

impl Identity {
    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<AccountRow>, IdentityError> {
        Ok(self.db.list_accounts("user", None).await?)
    }

    /// The user named `name` (not an organization or robot).
    pub async fn user(&self, name: &str) -> Result<AccountRow, IdentityError> {
        self.db
            .account_by_name(name)
            .await?
            .filter(|a| a.kind == "user")
            .ok_or_else(|| IdentityError::NotFound(format!("user {name} not found")))
    }

    /// The name of the account with id `id`, if it exists.
    pub async fn account_name(&self, id: i64) -> Result<Option<String>, IdentityError> {
        Ok(self.db.account_by_id(id).await?.map(|a| a.name))
    }

    /// Whether a user is a superuser, by flag or by configuration.
    pub fn is_super_user(&self, account: &AccountRow) -> bool {
        self.account_ref(account).super_user
    }

    /// Create a user with a generated password.
    pub async fn create_user_with_password(
        &self,
        principal: &Principal,
        name: &str,
        email: Option<&str>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<NewUser, IdentityError> {
        validate_account_name(name)?;
        if let Some(email) = email {
            validate_email(email)?;
        }
        let password = random_password();
        let hash = hash_secret(&password)?;
        let id = self
            .db
            .create_account(&NewAccount {
                name,
                kind: "user",
                email,
                secret_hash: Some(&hash),
                ..NewAccount::default()
            })
            .await?;
        self.audit
            .record_now(
                AuditEvent::new("user_create", principal, ip)
                    .namespace(name)
                    .metadata(serde_json::json!({ "username": name, "email": email })),
            )
            .await?;
        let account = self
            .db
            .account_by_id(id)
            .await?
            .ok_or_else(|| IdentityError::Internal("created user vanished".into()))?;
        Ok(NewUser { account, password })
    }

    /// Change a user. A superuser cannot disable or demote themselves.
    pub async fn update_user(
        &self,
        principal: &Principal,
        name: &str,
        update: &UserUpdate,
        ip: Option<std::net::IpAddr>,
    ) -> Result<AccountRow, IdentityError> {
        let account = self.user(name).await?;
        if let Some(password) = &update.password {
            validate_password(password)?;
        }
        if let Some(email) = &update.email {
            validate_email(email)?;
        }
        if is_self(principal, &account) && update.enabled == Some(false) {
            return Err(IdentityError::Invalid(
                "you cannot disable your own account".into(),
            ));
        }
        if update.super_user == Some(false) {
            if is_self(principal, &account) {
                return Err(IdentityError::Invalid(
                    "you cannot revoke your own superuser status".into(),
                ));
            }
            if self.config.super_users.iter().any(|s| s == name) {
                return Err(IdentityError::Invalid(format!(
                    "{name} is a superuser by configuration (SUPER_USERS)"
                )));
            }
        }
        let mut events = Vec::new();
        if let Some(password) = &update.password {
            let hash = hash_secret(password)?;
            self.db.set_account_secret(account.id, &hash).await?;
            events.push(("user_change_password", serde_json::json!({ "username": name })));
        }
        let change = AccountChange {
            email: update.email.clone().filter(|e| Some(e) != account.email.as_ref()),
            enabled: update.enabled.filter(|e| *e != account.enabled),
            super_user: update.super_user.filter(|s| *s != account.super_user),
            ..AccountChange::default()
        };
        if change.email.is_some() || change.enabled.is_some() || change.super_user.is_some() {
            self.db.update_account(account.id, &change).await?;
        }
        if let Some(email) = &change.email {
            events.push((
                "user_change_email",
                serde_json::json!({ "username": name, "old_email": account.email, "email": email }),
            ));
        }
        match change.enabled {
            Some(true) => events.push(("user_enable", serde_json::json!({ "username": name }))),
            Some(false) => events.push(("user_disable", serde_json::json!({ "username": name }))),
            None => {}
        }
        if let Some(super_user) = change.super_user {
            events.push((
                "user_change_superuser",
                serde_json::json!({ "username": name, "superuser": super_user }),
            ));
        }
        for (kind, metadata) in events {
            self.audit
                .record_now(
                    AuditEvent::new(kind, principal, ip)
                        .namespace(name)
                        .metadata(metadata),
                )
                .await?;
        }
        self.user(name).await
    }

    /// Delete a user with their robots, tokens and memberships. Refused for
    /// oneself, while repositories remain in the user's namespace (so a
    /// later user of the same name cannot inherit them), and while the user
    /// is the last user of an organization's `owners`.
    pub async fn delete_user(
        &self,
        principal: &Principal,
        name: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), IdentityError> {
        let account = self.user(name).await?;
        if is_self(principal, &account) {
            return Err(IdentityError::Invalid(
                "you cannot delete your own account".into(),
            ));
        }
        if self.db.namespace_has_repositories(name).await? {
            return Err(IdentityError::Invalid(format!(
                "namespace {name} still has repositories; delete them first"
            )));
        }
        if let Some(org) = self.db.delete_user_keeping(account.id, OWNERS_TEAM).await? {
            return Err(IdentityError::Invalid(format!(
                "cannot delete {name}: it is the last user of the owners team of organization {org}, which would have no administrator"
            )));
        }
        self.audit
            .record_now(
                AuditEvent::new("user_delete", principal, ip)
                    .namespace(name)
                    .metadata(serde_json::json!({ "username": name })),
            )
            .await?;
        Ok(())
    }
}
