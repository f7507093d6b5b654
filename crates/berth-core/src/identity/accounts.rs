//! Users and organizations: creation, names, and namespaces made on push.

use berth_store::metadata::{AccountChange, AccountRow, NewAccount};

use crate::Caller;
use crate::names::AccountKind;

use super::policy::Action;
use super::principal::{AccountRef, Actor, Principal};
use super::secrets::hash_secret;
use super::{AuditEvent, Identity, IdentityError};

/// An account as it leaves the core: a user, an organization or a robot.
/// Its secret hash never does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Row id.
    pub id: i64,
    /// Name (`namespace+short` for robots).
    pub name: String,
    /// User, organization or robot.
    pub kind: AccountKind,
    /// Contact address.
    pub email: Option<String>,
    /// Superuser flag in the database (users; `SUPER_USERS` adds more).
    pub super_user: bool,
    /// Whether the account may log in (users) or be used (robots).
    pub enabled: bool,
    /// The namespace owning a robot.
    pub owner_id: Option<i64>,
    /// Free text.
    pub description: String,
    /// The namespace's own time-machine window, if it chose one.
    pub tag_expiration_s: Option<i64>,
    /// Organizations: whether invoices are e-mailed.
    pub invoice_email: bool,
    /// Organizations: where invoices go.
    pub invoice_email_address: Option<String>,
    /// When it was made (ms since the epoch).
    pub created_ms: i64,
    /// When it last logged in or was used, if ever.
    pub last_accessed_ms: Option<i64>,
    /// Whether a password (users) or token (robots) is set; the secret
    /// itself stays in the core.
    pub has_secret: bool,
}

impl Account {
    /// Whether this account is an organization.
    pub fn is_organization(&self) -> bool {
        self.kind == AccountKind::Organization
    }
}

impl TryFrom<AccountRow> for Account {
    type Error = IdentityError;

    fn try_from(row: AccountRow) -> Result<Account, IdentityError> {
        let kind = AccountKind::parse(&row.kind)
            .ok_or_else(|| IdentityError::Internal(format!("account {} has kind {:?}", row.id, row.kind)))?;
        Ok(Account {
            id: row.id,
            name: row.name,
            kind,
            email: row.email,
            super_user: row.super_user,
            enabled: row.enabled,
            owner_id: row.owner_id,
            description: row.description,
            tag_expiration_s: row.tag_expiration_s,
            invoice_email: row.invoice_email,
            invoice_email_address: row.invoice_email_address,
            created_ms: row.created_ms,
            last_accessed_ms: row.last_accessed_ms,
            has_secret: row.secret_hash.is_some(),
        })
    }
}

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

/// Shortest password in FIPS mode, in bytes: the module approves PBKDF2
/// only for passwords of at least 112 bits.
const FIPS_MIN_PASSWORD_BYTES: usize = 14;

/// Passwords: at least 8 characters (14 bytes in FIPS mode), no whitespace.
pub fn validate_password(password: &str) -> Result<(), IdentityError> {
    if password.chars().count() < 8 || password.chars().any(char::is_whitespace) {
        return Err(IdentityError::Invalid(
            "passwords must be at least 8 characters and contain no whitespace".into(),
        ));
    }
    if crate::crypto::fips_mode() && password.len() < FIPS_MIN_PASSWORD_BYTES {
        return Err(IdentityError::Invalid(format!(
            "in FIPS mode passwords must be at least {FIPS_MIN_PASSWORD_BYTES} bytes long"
        )));
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
    ) -> Result<Account, IdentityError> {
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
            .ok_or_else(|| IdentityError::Internal("created user vanished".into()))?
            .try_into()
    }

    /// Whether any user exists (first start creates one if not).
    pub async fn has_users(&self) -> Result<bool, IdentityError> {
        Ok(self.db.has_users().await?)
    }

    /// The account named `name`.
    pub async fn account(&self, name: &str) -> Result<Option<Account>, IdentityError> {
        self.db
            .account_by_name(name)
            .await?
            .map(Account::try_from)
            .transpose()
    }

    /// Create an organization owned by the calling user: an `owners` team
    /// with the admin role and the creator in it.
    pub async fn create_organization(
        &self,
        caller: &Caller,
        name: &str,
        email: Option<&str>,
    ) -> Result<Account, IdentityError> {
        validate_account_name(name)?;
        let Actor::User(user) = &caller.principal.actor else {
            return Err(IdentityError::Denied(
                "only users can create organizations".into(),
            ));
        };
        let id = self.db.create_organization(name, email, user.id).await?;
        self.audit
            .record_now(
                AuditEvent::by("org_create", caller)
                    .namespace(name)
                    .metadata(serde_json::json!({"email": email})),
            )
            .await?;
        self.db
            .account_by_id(id)
            .await?
            .ok_or_else(|| IdentityError::Internal("created organization vanished".into()))?
            .try_into()
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
        let caller = Caller::new(principal.clone(), ip);
        match self.create_organization(&caller, ns, None).await {
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

/// An organization the calling user belongs to, with what they may do
/// there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserOrganization {
    /// The organization's name.
    pub name: String,
    /// Whether the user may create repositories in it.
    pub can_create_repo: bool,
    /// Whether the user administers it.
    pub is_admin: bool,
}

/// The calling user's own view of their account.
#[derive(Debug, Clone)]
pub struct UserProfile {
    /// The account.
    pub account: Account,
    /// Whether the user is a superuser (by flag or configuration).
    pub super_user: bool,
    /// The namespace's time-machine window in seconds: its own choice,
    /// else the configured default.
    pub tag_expiration_s: i64,
    /// The organizations the user is in (through teams).
    pub organizations: Vec<UserOrganization>,
}

impl Identity {
    /// The time-machine window (seconds) of a namespace's account: its own
    /// choice, else the configured default.
    pub fn tag_expiration_s(&self, account: &Account) -> i64 {
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

    /// The calling user's own view of their account.
    pub async fn logged_in_user(&self, caller: &Caller) -> Result<UserProfile, IdentityError> {
        self.authorize(&caller.principal, Action::ReadUser).await?;
        let user = calling_user(caller)?;
        let account = self
            .account(&user.name)
            .await?
            .ok_or_else(|| IdentityError::NotFound("user not found".into()))?;
        self.profile(caller, account).await
    }

    /// The profile of the calling user's `account`, with what the policy
    /// lets them do in each of their organizations.
    async fn profile(&self, caller: &Caller, account: Account) -> Result<UserProfile, IdentityError> {
        let user = calling_user(caller)?;
        let mut organizations = Vec::new();
        for name in self.organizations_of(user.id).await? {
            organizations.push(UserOrganization {
                can_create_repo: self
                    .allowed(&caller.principal, Action::CreateRepository(&name))
                    .await?,
                is_admin: self
                    .allowed(&caller.principal, Action::AdministerNamespace(&name))
                    .await?,
                name,
            });
        }
        Ok(UserProfile {
            tag_expiration_s: self.tag_expiration_s(&account),
            super_user: user.super_user,
            account,
            organizations,
        })
    }

    /// Change the calling user's own account; returns their profile as it
    /// is now.
    pub async fn change_user(
        &self,
        caller: &Caller,
        change: UserChange,
    ) -> Result<UserProfile, IdentityError> {
        self.authorize(&caller.principal, Action::AdministerUser).await?;
        let user = calling_user(caller)?;
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
        let event = |kind| AuditEvent::by(kind, caller).namespace(&user.name);
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
        let account = self
            .db
            .account_by_id(user.id)
            .await?
            .ok_or_else(|| IdentityError::NotFound("user not found".into()))?
            .try_into()?;
        self.profile(caller, account).await
    }
}

/// The calling user; robots and the anonymous caller have no account
/// details (401, as Quay answers them).
pub(super) fn calling_user(caller: &Caller) -> Result<&AccountRef, IdentityError> {
    match &caller.principal.actor {
        Actor::User(user) => Ok(user),
        _ => Err(IdentityError::Unauthenticated("authentication required".into())),
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
