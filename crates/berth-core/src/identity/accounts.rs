//! Users and organizations: creation, names, and namespaces made on push.

use berth_store::metadata::{AccountChange, AccountRow, NewAccount};

use super::principal::{Actor, Principal};
use super::secrets::hash_secret;
use super::{AuditEvent, Identity, IdentityError};

/// Names of users, organizations and robot short names: Quay's rule,
/// `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`, 2 to 255 characters.
pub fn validate_account_name(name: &str) -> Result<(), IdentityError> {
    let ok = (2..=255).contains(&name.len())
        && name.split(['.', '_', '-']).all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Invalid(format!(
            "invalid name {name:?}: use 2 to 255 lowercase letters and digits, separated by single '.', '_' or '-'"
        )))
    }
}

/// Passwords: at least 8 characters, no whitespace.
pub fn validate_password(password: &str) -> Result<(), IdentityError> {
    if password.chars().count() < 8 || password.chars().any(char::is_whitespace) {
        return Err(IdentityError::Invalid(
            "passwords must be at least 8 characters and contain no whitespace".into(),
        ));
    }
    Ok(())
}

impl Identity {
    /// Create a user with a password.
    pub async fn create_user(
        &self,
        name: &str,
        email: Option<&str>,
        password: &str,
        super_user: bool,
    ) -> Result<AccountRow, IdentityError> {
        validate_account_name(name)?;
        validate_password(password)?;
        let hash = hash_secret(password)?;
        let id = self
            .db
            .create_account(&NewAccount {
                name,
                kind: "user",
                email,
                secret_hash: Some(&hash),
                super_user,
                ..NewAccount::default()
            })
            .await?;
        self.audit
            .record_now(
                AuditEvent::new("user_create", &Principal::anonymous(), None)
                    .namespace(name)
                    .metadata(serde_json::json!({"username": name, "superuser": super_user})),
            )
            .await?;
        self.db
            .account_by_id(id)
            .await?
            .ok_or_else(|| IdentityError::Internal("created user vanished".into()))
    }

    /// Whether any user exists (first start creates one if not).
    pub async fn has_users(&self) -> Result<bool, IdentityError> {
        Ok(self.db.has_users().await?)
    }

    /// The account named `name`.
    pub async fn account(&self, name: &str) -> Result<Option<AccountRow>, IdentityError> {
        Ok(self.db.account_by_name(name).await?)
    }

    /// Create an organization owned by `creator`: an `owners` team with the
    /// admin role and the creator in it.
    pub async fn create_organization(
        &self,
        name: &str,
        email: Option<&str>,
        creator: &Principal,
        ip: Option<std::net::IpAddr>,
    ) -> Result<AccountRow, IdentityError> {
        validate_account_name(name)?;
        let Actor::User(user) = &creator.actor else {
            return Err(IdentityError::Denied(
                "only users can create organizations".into(),
            ));
        };
        let id = self.db.create_organization(name, email, user.id).await?;
        self.audit
            .record_now(
                AuditEvent::new("org_create", creator, ip)
                    .namespace(name)
                    .metadata(serde_json::json!({"email": email})),
            )
            .await?;
        self.db
            .account_by_id(id)
            .await?
            .ok_or_else(|| IdentityError::Internal("created organization vanished".into()))
    }

    /// With `CREATE_NAMESPACE_ON_PUSH`, create namespace `ns` as an
    /// organization owned by the pushing user if it does not exist.
    pub async fn ensure_namespace_for_push(
        &self,
        ns: &str,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), IdentityError> {
        if !self.config.policy.create_namespace_on_push || !matches!(principal.actor, Actor::User(_)) {
            return Ok(());
        }
        if validate_account_name(ns).is_err() || self.db.account_by_name(ns).await?.is_some() {
            return Ok(());
        }
        match self.create_organization(ns, None, principal, ip).await {
            Ok(_) | Err(IdentityError::Exists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A user's change to their own account; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New contact address.
    pub email: Option<String>,
    /// New time-machine window of the user's namespace, in seconds; must
    /// be one of the configured options.
    pub tag_expiration_s: Option<i64>,
}

impl Identity {
    /// The time-machine window (seconds) of a namespace's account: its own
    /// choice, else the configured default.
    pub fn tag_expiration_s(&self, account: &AccountRow) -> i64 {
        account
            .tag_expiration_s
            .unwrap_or(self.config.default_tag_expiration_s.min(i64::MAX as u64) as i64)
    }

    /// Refuse a time-machine window that is not one of the configured
    /// options.
    pub fn check_tag_expiration(&self, seconds: i64) -> Result<(), IdentityError> {
        let options = &self.config.tag_expiration_options;
        if u64::try_from(seconds).is_ok_and(|s| options.contains(&s)) {
            return Ok(());
        }
        let allowed: Vec<String> = options.iter().map(u64::to_string).collect();
        Err(IdentityError::Invalid(format!(
            "Invalid tag expiration option: tag_expiration_s must be one of {}",
            allowed.join(", ")
        )))
    }

    /// Change the calling user's own account; returns it as it is now.
    pub async fn change_user(
        &self,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
        change: UserChange,
    ) -> Result<AccountRow, IdentityError> {
        let Actor::User(user) = &principal.actor else {
            return Err(IdentityError::Denied("only users have account details".into()));
        };
        if let Some(s) = change.tag_expiration_s {
            self.check_tag_expiration(s)?;
        }
        if let Some(email) = &change.email {
            validate_email(email)?;
        }
        let before = self
            .db
            .account_by_id(user.id)
            .await?
            .ok_or_else(|| IdentityError::NotFound("user not found".into()))?;
        self.db
            .update_account(
                user.id,
                &AccountChange {
                    email: change.email.clone(),
                    tag_expiration_s: change.tag_expiration_s.map(Some),
                    ..AccountChange::default()
                },
            )
            .await?;
        let event = |kind| AuditEvent::new(kind, principal, ip).namespace(&user.name);
        if let Some(email) = &change.email
            && before.email.as_deref() != Some(email.as_str())
        {
            self.audit
                .record_now(event("user_change_email").metadata(
                    serde_json::json!({ "username": user.name, "email": email, "old_email": before.email }),
                ))
                .await?;
        }
        if let Some(s) = change.tag_expiration_s {
            self.audit
                .record_now(
                    event("user_change_tag_expiration")
                        .metadata(serde_json::json!({ "username": user.name, "tag_expiration": s })),
                )
                .await?;
        }
        self.db
            .account_by_id(user.id)
            .await?
            .ok_or_else(|| IdentityError::NotFound("user not found".into()))
    }
}

/// An e-mail address: one `@` with text on both sides, no whitespace, at
/// most 255 characters.
fn validate_email(email: &str) -> Result<(), IdentityError> {
    let ok = email.len() <= 255
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && !host.is_empty() && !host.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Invalid(format!(
            "invalid e-mail address {email:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_follow_quay() {
        for ok in ["ab", "a1", "my-org", "my.org_2", "x0-y1.z2"] {
            assert!(validate_account_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "",
            "Ab",
            "a--b",
            "-ab",
            "ab-",
            "a+b",
            "a/b",
            &"a".repeat(256),
        ] {
            assert!(validate_account_name(bad).is_err(), "{bad}");
        }
    }
}
