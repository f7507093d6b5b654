//! A user changing their own password. The current password goes through
//! the one login, so guessing it here is throttled and logged like any
//! failed login. The user's other console sessions end: whoever else held
//! one (a forgotten browser, a stolen cookie) must sign in again.

use super::accounts::{calling_user, validate_password};
use super::policy::Action;
use super::principal::Credential;
use super::secrets::hash_secret;
use super::web_sessions::token_hash;
use super::{AuditEvent, Identity, IdentityError};
use crate::Caller;

impl Identity {
    /// Change the calling user's password to `new` once `current` proves
    /// it is them, and end their console sessions but `keep_session` (the
    /// token of the one asking, if any). Logged as `user_change_password`.
    pub async fn change_own_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::AdministerUser).await?;
        let user = calling_user(caller)?;
        let proved = match self.login(&user.name, current, caller.ip).await {
            Ok(p) => p,
            // A wrong current password is a refused change, not a session
            // that ended: the form says why.
            Err(IdentityError::Unauthenticated(_)) => {
                return Err(IdentityError::Invalid(
                    "the current password is not correct".into(),
                ));
            }
            Err(e) => return Err(e),
        };
        if proved.credential != Credential::Password || proved.account().map(|a| a.id) != Some(user.id) {
            return Err(IdentityError::Invalid(
                "the current password is not correct".into(),
            ));
        }
        validate_password(new)?;
        let hash = hash_secret(new)?;
        self.db.set_account_secret(user.id, &hash).await?;
        let keep = keep_session.map(token_hash);
        self.db.delete_web_sessions_of(user.id, keep.as_deref()).await?;
        self.audit
            .record_now(
                AuditEvent::by("user_change_password", caller)
                    .namespace(&user.name)
                    .metadata(serde_json::json!({ "username": user.name })),
            )
            .await?;
        Ok(())
    }
}
