//! OAuth applications of organizations and their access tokens. Client
//! secrets and access tokens are stored only as hashes and shown once, when
//! made. An access token acts for the user who asked for it, limited to its
//! scopes, and is presented as `Authorization: Bearer` or with the user
//! name `$oauthtoken`.

use berth_store::metadata::{AccountRow, NewToken, OAuthAppFields, OAuthAppRow, TokenRow};

use super::policy::Action;
use super::principal::{Actor, Scope};
use super::secrets::{LookupToken, hash_secret, random_id};
use super::{AuditEvent, Identity, IdentityError};
use crate::Caller;
use crate::names::Namespace;

/// Length of client ids (Quay's).
const CLIENT_ID_LEN: usize = 20;
/// Length of client secrets (Quay's).
const CLIENT_SECRET_LEN: usize = 40;
/// Longest name, description or URI.
const MAX_FIELD: usize = 2048;
/// Token lifetime when none is asked for, and the longest one: ten years,
/// Quay's default.
pub const MAX_TOKEN_LIFETIME_S: u64 = 10 * 365 * 86_400;

/// An OAuth application as it leaves the core: without its client secret
/// hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthApplication {
    /// Public client id.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Home page.
    pub application_uri: String,
    /// Where the OAuth flow returns to.
    pub redirect_uri: String,
    /// Address whose avatar the application shows.
    pub avatar_email: Option<String>,
}

impl From<OAuthAppRow> for OAuthApplication {
    fn from(row: OAuthAppRow) -> OAuthApplication {
        OAuthApplication {
            client_id: row.client_id,
            name: row.name,
            description: row.description,
            application_uri: row.application_uri,
            redirect_uri: row.redirect_uri,
            avatar_email: row.avatar_email,
        }
    }
}

/// The fields of an application that can be set.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFields {
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Home page (empty for none).
    pub application_uri: String,
    /// Where the OAuth flow returns to (empty for none).
    pub redirect_uri: String,
    /// Address whose avatar the application shows.
    pub avatar_email: Option<String>,
}

impl From<&ApplicationFields> for OAuthAppFields {
    fn from(f: &ApplicationFields) -> OAuthAppFields {
        OAuthAppFields {
            name: f.name.clone(),
            description: f.description.clone(),
            application_uri: f.application_uri.clone(),
            redirect_uri: f.redirect_uri.clone(),
            avatar_email: f.avatar_email.clone(),
        }
    }
}

/// An application and the organization owning it: what anyone may see.
#[derive(Debug, Clone)]
pub struct PublicApplication {
    /// The application.
    pub application: OAuthApplication,
    /// The owning organization's name.
    pub organization: String,
}

/// An application and the client secret that was just made for it.
#[derive(Debug, Clone)]
pub struct AppWithSecret {
    /// The application.
    pub app: OAuthApplication,
    /// Its client secret, to be shown once.
    pub client_secret: String,
}

/// An access token of an application, without its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthToken {
    /// Public identifier.
    pub uuid: String,
    /// Its scopes, space-separated, as Quay shows them.
    pub scope: String,
    /// When it was made (ms since the epoch).
    pub created_ms: i64,
    /// When it expires, if it does.
    pub expires_ms: Option<i64>,
    /// When it was last used, if ever.
    pub last_accessed_ms: Option<i64>,
    /// The user it acts for, if the account still exists.
    pub created_by: Option<String>,
}

impl OAuthToken {
    fn from_row(row: TokenRow, created_by: Option<String>) -> OAuthToken {
        OAuthToken {
            uuid: row.uuid,
            scope: row.scopes,
            created_ms: row.created_ms,
            expires_ms: row.expires_ms,
            last_accessed_ms: row.last_accessed_ms,
            created_by,
        }
    }
}

/// An access token that was just made, with its secret.
#[derive(Debug, Clone)]
pub struct NewOAuthToken {
    /// The token.
    pub token: OAuthToken,
    /// The whole token, to be shown once.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
}

/// Check the fields of an application.
fn validate_fields(fields: &ApplicationFields) -> Result<(), IdentityError> {
    let name = fields.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(IdentityError::Invalid(
            "an application name of 1 to 255 characters is required".into(),
        ));
    }
    if fields.description.len() > MAX_FIELD {
        return Err(IdentityError::Invalid("the description is too long".into()));
    }
    for (what, uri) in [
        ("application_uri", &fields.application_uri),
        ("redirect_uri", &fields.redirect_uri),
    ] {
        let ok = uri.is_empty()
            || (uri.len() <= MAX_FIELD
                && (uri.starts_with("http://") || uri.starts_with("https://"))
                && !uri.chars().any(|c| c.is_whitespace() || c.is_control()));
        if !ok {
            return Err(IdentityError::Invalid(format!("{what} must be an http(s) URL")));
        }
    }
    if let Some(email) = &fields.avatar_email
        && (email.len() > 255 || !email.contains('@') || email.chars().any(char::is_whitespace))
    {
        return Err(IdentityError::Invalid(
            "avatar_email must be an email address".into(),
        ));
    }
    Ok(())
}

fn app_event(kind: &'static str, caller: &Caller, org: &AccountRow, app: &OAuthAppRow) -> AuditEvent {
    AuditEvent::by(kind, caller)
        .namespace(&org.name)
        .metadata(serde_json::json!({ "application_name": app.name, "client_id": app.client_id }))
}

fn app_not_found() -> IdentityError {
    IdentityError::NotFound("Could not find the application".into())
}

impl Identity {
    /// Authorize the caller as an administrator of `org`, then find it.
    async fn application_owner(&self, caller: &Caller, org: &Namespace) -> Result<AccountRow, IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        self.organization(org.as_str()).await
    }

    /// The application `client_id` of an organization, as stored.
    async fn application_row(&self, org: &AccountRow, client_id: &str) -> Result<OAuthAppRow, IdentityError> {
        self.db
            .oauth_app(client_id)
            .await?
            .filter(|a| a.org_id == org.id)
            .ok_or_else(app_not_found)
    }

    /// The applications of an organization, by name.
    pub async fn applications(
        &self,
        caller: &Caller,
        org: &Namespace,
    ) -> Result<Vec<OAuthApplication>, IdentityError> {
        let org = self.application_owner(caller, org).await?;
        Ok(self
            .db
            .oauth_apps(org.id)
            .await?
            .into_iter()
            .map(OAuthApplication::from)
            .collect())
    }

    /// The application `client_id` of an organization.
    pub async fn application(
        &self,
        caller: &Caller,
        org: &Namespace,
        client_id: &str,
    ) -> Result<OAuthApplication, IdentityError> {
        let org = self.application_owner(caller, org).await?;
        Ok(self.application_row(&org, client_id).await?.into())
    }

    /// Any application and the organization owning it: public information,
    /// for anyone.
    pub async fn application_information(&self, client_id: &str) -> Result<PublicApplication, IdentityError> {
        let app = self.db.oauth_app(client_id).await?.ok_or_else(app_not_found)?;
        let org = self
            .db
            .account_by_id(app.org_id)
            .await?
            .ok_or_else(app_not_found)?;
        Ok(PublicApplication {
            application: app.into(),
            organization: org.name,
        })
    }

    /// Register an application of an organization.
    pub async fn create_application(
        &self,
        caller: &Caller,
        org: &Namespace,
        fields: &ApplicationFields,
    ) -> Result<AppWithSecret, IdentityError> {
        let org = self.application_owner(caller, org).await?;
        validate_fields(fields)?;
        let client_id = random_id(CLIENT_ID_LEN);
        let client_secret = random_id(CLIENT_SECRET_LEN);
        let hash = hash_secret(&client_secret)?;
        self.db
            .create_oauth_app(org.id, &client_id, &hash, &fields.into())
            .await?;
        let app = self.application_row(&org, &client_id).await?;
        self.audit
            .record_now(app_event("create_application", caller, &org, &app))
            .await?;
        Ok(AppWithSecret {
            app: app.into(),
            client_secret,
        })
    }

    /// Replace an application's fields.
    pub async fn update_application(
        &self,
        caller: &Caller,
        org: &Namespace,
        client_id: &str,
        fields: &ApplicationFields,
    ) -> Result<OAuthApplication, IdentityError> {
        let org = self.application_owner(caller, org).await?;
        validate_fields(fields)?;
        let app = self.application_row(&org, client_id).await?;
        self.db.update_oauth_app(app.id, &fields.into()).await?;
        let app = self.application_row(&org, client_id).await?;
        self.audit
            .record_now(app_event("update_application", caller, &org, &app))
            .await?;
        Ok(app.into())
    }

    /// Delete an application; its tokens stop working at once.
    pub async fn delete_application(
        &self,
        caller: &Caller,
        org: &Namespace,
        client_id: &str,
    ) -> Result<(), IdentityError> {
        let org = self.application_owner(caller, org).await?;
        let app = self.application_row(&org, client_id).await?;
        self.db.delete_oauth_app(app.id).await?;
        self.audit
            .record_now(app_event("delete_application", caller, &org, &app))
            .await?;
        Ok(())
    }

    /// Give an application a new client secret.
    pub async fn reset_client_secret(
        &self,
        caller: &Caller,
        org: &Namespace,
        client_id: &str,
    ) -> Result<AppWithSecret, IdentityError> {
        let org = self.application_owner(caller, org).await?;
        let app = self.application_row(&org, client_id).await?;
        let client_secret = random_id(CLIENT_SECRET_LEN);
        let hash = hash_secret(&client_secret)?;
        self.db.set_oauth_app_secret(app.id, &hash).await?;
        self.audit
            .record_now(app_event("reset_application_client_secret", caller, &org, &app))
            .await?;
        Ok(AppWithSecret {
            app: self.application_row(&org, client_id).await?.into(),
            client_secret,
        })
    }

    /// The access tokens of an application, newest first.
    pub async fn application_tokens(
        &self,
        caller: &Caller,
        org: &Namespace,
        client_id: &str,
    ) -> Result<Vec<OAuthToken>, IdentityError> {
        let org = self.application_owner(caller, org).await?;
        let app = self.application_row(&org, client_id).await?;
        let mut out = Vec::new();
        for row in self.db.oauth_tokens(app.id).await? {
            let created_by = self.db.account_by_id(row.account_id).await?.map(|a| a.name);
            out.push(OAuthToken::from_row(row, created_by));
        }
        Ok(out)
    }

    /// Make an access token of application `client_id` acting for the
    /// calling user within `scope` (space- or comma-separated). The caller
    /// cannot grant more than their own credential carries, nor
    /// `super:user` unless the policy lets them use the superuser panel.
    pub async fn create_application_token(
        &self,
        caller: &Caller,
        org: &Namespace,
        client_id: &str,
        scope: &str,
        expires_in: Option<u64>,
    ) -> Result<NewOAuthToken, IdentityError> {
        let org = self.application_owner(caller, org).await?;
        let principal = &caller.principal;
        let Actor::User(user) = &principal.actor else {
            return Err(IdentityError::Denied(
                "only users can be issued access tokens".into(),
            ));
        };
        let scopes = Scope::parse_list(scope).map_err(IdentityError::Invalid)?;
        if scopes.is_empty() {
            return Err(IdentityError::Invalid("at least one scope is required".into()));
        }
        let expires_in = expires_in.unwrap_or(MAX_TOKEN_LIFETIME_S);
        if expires_in == 0 || expires_in > MAX_TOKEN_LIFETIME_S {
            return Err(IdentityError::Invalid(format!(
                "expires_in must be between 1 and {MAX_TOKEN_LIFETIME_S} seconds"
            )));
        }
        for s in &scopes {
            if !principal.allows(*s) {
                return Err(IdentityError::Denied(format!(
                    "your credential does not carry scope {}",
                    s.as_str()
                )));
            }
        }
        if scopes.contains(&Scope::SuperUser) && !self.allowed(principal, Action::SuperUser).await? {
            return Err(IdentityError::Denied(
                "only superusers may grant the super:user scope".into(),
            ));
        }
        let app = self.application_row(&org, client_id).await?;
        let token = LookupToken::generate();
        let hash = hash_secret(&token.token)?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let scope_text = Scope::join(&scopes);
        let expires_ms = berth_store::now_ms().saturating_add((expires_in as i64).saturating_mul(1000));
        self.db
            .create_oauth_token(
                &NewToken {
                    uuid: &uuid,
                    account_id: user.id,
                    lookup: &token.lookup,
                    secret_hash: &hash,
                    expires_ms: Some(expires_ms),
                },
                app.id,
                &scope_text,
            )
            .await?;
        self.audit
            .record_now(
                AuditEvent::by("oauth_token_assigned", caller)
                    .namespace(&org.name)
                    .metadata(serde_json::json!({
                        "application_name": app.name,
                        "client_id": app.client_id,
                        "oauth_token_uuid": uuid,
                        "assigned_user": user.name,
                        "scope": scope_text,
                    })),
            )
            .await?;
        let row = self
            .db
            .oauth_tokens(app.id)
            .await?
            .into_iter()
            .find(|t| t.uuid == uuid)
            .ok_or_else(|| IdentityError::Internal("created token vanished".into()))?;
        Ok(NewOAuthToken {
            token: OAuthToken::from_row(row, Some(user.name.clone())),
            access_token: token.token,
            expires_in,
        })
    }

    /// Revoke one access token of an application; it stops working at once.
    pub async fn revoke_application_token(
        &self,
        caller: &Caller,
        org: &Namespace,
        client_id: &str,
        uuid: &str,
    ) -> Result<(), IdentityError> {
        let org = self.application_owner(caller, org).await?;
        let app = self.application_row(&org, client_id).await?;
        if !self.db.delete_oauth_token(app.id, uuid).await? {
            return Err(IdentityError::NotFound("Could not find the token".into()));
        }
        self.audit
            .record_now(
                AuditEvent::by("oauth_token_revoked", caller)
                    .namespace(&org.name)
                    .metadata(serde_json::json!({
                        "application_name": app.name,
                        "client_id": app.client_id,
                        "oauth_token_uuid": uuid,
                    })),
            )
            .await?;
        Ok(())
    }
}
