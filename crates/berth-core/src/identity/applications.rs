//! OAuth applications of organizations and their access tokens. Client
//! secrets and access tokens are stored only as hashes and shown once, when
//! made. An access token acts for the user who asked for it, limited to its
//! scopes, and is presented as `Authorization: Bearer` or with the user
//! name `$oauthtoken`.

use berth_store::metadata::{AccountRow, NewToken, OAuthAppFields, OAuthAppRow, TokenRow};

use super::policy::Action;
use super::principal::{Actor, Principal, Scope};
use super::secrets::{LookupToken, hash_secret, random_id};
use super::{AuditEvent, Identity, IdentityError};

/// Length of client ids (Quay's).
const CLIENT_ID_LEN: usize = 20;
/// Length of client secrets (Quay's).
const CLIENT_SECRET_LEN: usize = 40;
/// Longest name, description or URI.
const MAX_FIELD: usize = 2048;
/// Token lifetime when none is asked for, and the longest one: ten years,
/// Quay's default.
pub const MAX_TOKEN_LIFETIME_S: u64 = 10 * 365 * 86_400;

/// An application and the client secret that was just made for it.
#[derive(Debug, Clone)]
pub struct AppWithSecret {
    /// The application.
    pub app: OAuthAppRow,
    /// Its client secret, to be shown once.
    pub client_secret: String,
}

/// An access token that was just made, with its secret.
#[derive(Debug, Clone)]
pub struct NewOAuthToken {
    /// The stored token.
    pub row: TokenRow,
    /// The whole token, to be shown once.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
}

/// Check the fields of an application.
fn validate_fields(fields: &OAuthAppFields) -> Result<(), IdentityError> {
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

fn app_event(
    kind: &'static str,
    principal: &Principal,
    ip: Option<std::net::IpAddr>,
    org: &AccountRow,
    app: &OAuthAppRow,
) -> AuditEvent {
    AuditEvent::new(kind, principal, ip)
        .namespace(&org.name)
        .metadata(serde_json::json!({ "application_name": app.name, "client_id": app.client_id }))
}

impl Identity {
    /// The applications of an organization, by name.
    pub async fn applications(&self, org: &AccountRow) -> Result<Vec<OAuthAppRow>, IdentityError> {
        Ok(self.db.oauth_apps(org.id).await?)
    }

    /// The application `client_id` of an organization.
    pub async fn application(&self, org: &AccountRow, client_id: &str) -> Result<OAuthAppRow, IdentityError> {
        self.db
            .oauth_app(client_id)
            .await?
            .filter(|a| a.org_id == org.id)
            .ok_or_else(|| IdentityError::NotFound("Could not find the application".into()))
    }

    /// Any application and the organization owning it (public information).
    pub async fn application_with_owner(
        &self,
        client_id: &str,
    ) -> Result<(OAuthAppRow, AccountRow), IdentityError> {
        let not_found = || IdentityError::NotFound("Could not find the application".into());
        let app = self.db.oauth_app(client_id).await?.ok_or_else(not_found)?;
        let org = self.db.account_by_id(app.org_id).await?.ok_or_else(not_found)?;
        Ok((app, org))
    }

    /// Register an application of an organization.
    pub async fn create_application(
        &self,
        principal: &Principal,
        org: &AccountRow,
        fields: &OAuthAppFields,
        ip: Option<std::net::IpAddr>,
    ) -> Result<AppWithSecret, IdentityError> {
        validate_fields(fields)?;
        let client_id = random_id(CLIENT_ID_LEN);
        let client_secret = random_id(CLIENT_SECRET_LEN);
        let hash = hash_secret(&client_secret)?;
        self.db
            .create_oauth_app(org.id, &client_id, &hash, fields)
            .await?;
        let app = self.application(org, &client_id).await?;
        self.audit
            .record_now(app_event("create_application", principal, ip, org, &app))
            .await?;
        Ok(AppWithSecret { app, client_secret })
    }

    /// Replace an application's fields.
    pub async fn update_application(
        &self,
        principal: &Principal,
        org: &AccountRow,
        client_id: &str,
        fields: &OAuthAppFields,
        ip: Option<std::net::IpAddr>,
    ) -> Result<OAuthAppRow, IdentityError> {
        validate_fields(fields)?;
        let app = self.application(org, client_id).await?;
        self.db.update_oauth_app(app.id, fields).await?;
        let app = self.application(org, client_id).await?;
        self.audit
            .record_now(app_event("update_application", principal, ip, org, &app))
            .await?;
        Ok(app)
    }

    /// Delete an application; its tokens stop working at once.
    pub async fn delete_application(
        &self,
        principal: &Principal,
        org: &AccountRow,
        client_id: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), IdentityError> {
        let app = self.application(org, client_id).await?;
        self.db.delete_oauth_app(app.id).await?;
        self.audit
            .record_now(app_event("delete_application", principal, ip, org, &app))
            .await?;
        Ok(())
    }

    /// Give an application a new client secret.
    pub async fn reset_client_secret(
        &self,
        principal: &Principal,
        org: &AccountRow,
        client_id: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<AppWithSecret, IdentityError> {
        let app = self.application(org, client_id).await?;
        let client_secret = random_id(CLIENT_SECRET_LEN);
        let hash = hash_secret(&client_secret)?;
        self.db.set_oauth_app_secret(app.id, &hash).await?;
        self.audit
            .record_now(app_event(
                "reset_application_client_secret",
                principal,
                ip,
                org,
                &app,
            ))
            .await?;
        Ok(AppWithSecret {
            app: self.application(org, client_id).await?,
            client_secret,
        })
    }

    /// The access tokens of an application, newest first.
    pub async fn application_tokens(&self, app: &OAuthAppRow) -> Result<Vec<TokenRow>, IdentityError> {
        Ok(self.db.oauth_tokens(app.id).await?)
    }

    /// Make an access token of application `client_id` acting for the
    /// calling user within `scope` (space- or comma-separated). The caller
    /// cannot grant more than their own credential carries, nor
    /// `super:user` unless the policy lets them use the superuser panel.
    pub async fn create_application_token(
        &self,
        principal: &Principal,
        org: &AccountRow,
        client_id: &str,
        scope: &str,
        expires_in: Option<u64>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<NewOAuthToken, IdentityError> {
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
        let app = self.application(org, client_id).await?;
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
                AuditEvent::new("oauth_token_assigned", principal, ip)
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
            row,
            access_token: token.token,
            expires_in,
        })
    }

    /// Revoke one access token of an application; it stops working at once.
    pub async fn revoke_application_token(
        &self,
        principal: &Principal,
        org: &AccountRow,
        client_id: &str,
        uuid: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), IdentityError> {
        let app = self.application(org, client_id).await?;
        if !self.db.delete_oauth_token(app.id, uuid).await? {
            return Err(IdentityError::NotFound("Could not find the token".into()));
        }
        self.audit
            .record_now(
                AuditEvent::new("oauth_token_revoked", principal, ip)
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
