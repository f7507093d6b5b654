//! Managing users from the superuser panel: listing, creating with a
//! generated password, changing password, email, enabled and superuser
//! flags, and deleting; and any user's public view.

use berth_store::metadata::{AccountChange, NewAccount};

use super::accounts::{Account, validate_password};
use super::policy::Action;
use super::principal::Principal;
use super::secrets::{hash_secret, random_password};
use super::teams::OWNERS_TEAM;
use super::{AuditEvent, Identity, IdentityError};
use crate::Caller;
use crate::names::{AccountKind, Namespace};

/// A user that was just created, with its generated password.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The account.
    pub account: Account,
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

fn is_self(principal: &Principal, account: &Account) -> bool {
    principal.account().is_some_and(|a| a.id == account.id)
}

impl Identity {
    /// Every user, by name; disabled ones too if `with_disabled`.
    pub async fn users(&self, caller: &Caller, with_disabled: bool) -> Result<Vec<Account>, IdentityError> {
        self.authorize(&caller.principal, Action::SuperUser).await?;
        self.db
            .list_accounts(AccountKind::User.as_str(), None)
            .await?
            .into_iter()
            .filter(|a| with_disabled || a.enabled)
            .map(Account::try_from)
            .collect()
    }

    /// Every organization, by name, for the superuser panel.
    pub async fn all_organizations(&self, caller: &Caller) -> Result<Vec<Account>, IdentityError> {
        self.authorize(&caller.principal, Action::SuperUser).await?;
        self.db
            .list_accounts(AccountKind::Organization.as_str(), None)
            .await?
            .into_iter()
            .map(Account::try_from)
            .collect()
    }

    /// The user named `name` (not an organization or robot): public
    /// information, for anyone.
    pub async fn user(&self, name: &Namespace) -> Result<Account, IdentityError> {
        self.account(name.as_str())
            .await?
            .filter(|a| a.kind == AccountKind::User)
            .ok_or_else(|| IdentityError::NotFound(format!("user {name} not found")))
    }

    /// The user named `name`, for the superuser panel.
    pub async fn install_user(&self, caller: &Caller, name: &Namespace) -> Result<Account, IdentityError> {
        self.authorize(&caller.principal, Action::SuperUser).await?;
        self.user(name).await
    }

    /// Whether a user is a superuser, by flag or by configuration.
    pub fn is_super_user(&self, account: &Account) -> bool {
        account.kind == AccountKind::User
            && (account.super_user || self.config.super_users.iter().any(|s| s == &account.name))
    }

    /// Create a user with a generated password.
    pub async fn create_user_with_password(
        &self,
        caller: &Caller,
        name: &Namespace,
        email: Option<&str>,
    ) -> Result<NewUser, IdentityError> {
        self.authorize(&caller.principal, Action::SuperUser).await?;
        // The name was validated as a `Namespace` where it entered.
        let name = name.as_str();
        if let Some(email) = email {
            validate_email(email)?;
        }
        let password = random_password();
        let hash = hash_secret(&password)?;
        let id = self
            .db
            .create_account(&NewAccount {
                name,
                kind: AccountKind::User.as_str(),
                email,
                secret_hash: Some(&hash),
                ..NewAccount::default()
            })
            .await?;
        self.audit
            .record_now(
                AuditEvent::by("user_create", caller)
                    .namespace(name)
                    .metadata(serde_json::json!({ "username": name, "email": email })),
            )
            .await?;
        let account = self
            .db
            .account_by_id(id)
            .await?
            .ok_or_else(|| IdentityError::Internal("created user vanished".into()))?
            .try_into()?;
        Ok(NewUser { account, password })
    }

    /// Change a user. A superuser cannot disable or demote themselves.
    pub async fn update_user(
        &self,
        caller: &Caller,
        ns: &Namespace,
        update: &UserUpdate,
    ) -> Result<Account, IdentityError> {
        self.authorize(&caller.principal, Action::SuperUser).await?;
        let principal = &caller.principal;
        let account = self.user(ns).await?;
        let name = ns.as_str();
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
                .record_now(AuditEvent::by(kind, caller).namespace(name).metadata(metadata))
                .await?;
        }
        self.user(ns).await
    }

    /// Delete a user with their robots, tokens and memberships. Refused for
    /// oneself, while repositories remain in the user's namespace (so a
    /// later user of the same name cannot inherit them), and while the user
    /// is the last user of an organization's `owners`.
    pub async fn delete_user(&self, caller: &Caller, name: &Namespace) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::SuperUser).await?;
        let account = self.user(name).await?;
        let name = name.as_str();
        if is_self(&caller.principal, &account) {
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
                AuditEvent::by("user_delete", caller)
                    .namespace(name)
                    .metadata(serde_json::json!({ "username": name })),
            )
            .await?;
        Ok(())
    }
}
