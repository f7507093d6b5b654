//! Identity and access: accounts (users, organizations, robots), teams,
//! repository permissions, credentials, registry tokens, the access policy
//! and the usage log. Knows nothing of HTTP.

mod accounts;
pub mod app_tokens;
pub mod applications;
mod audit;
mod credentials;
mod error;
mod grants;
mod organizations;
mod passwords;
mod permissions;
mod policy;
mod principal;
mod repositories;
pub mod robots;
pub mod secrets;
mod teams;
pub mod tokens;
pub mod usage_log;
pub mod users;
mod web_sessions;

use std::sync::Arc;
use std::time::Duration;

use berth_store::Db;

pub use accounts::{Account, UserChange, validate_account_name};
pub use accounts::{UserOrganization, UserProfile};
pub use audit::{AuditEvent, AuditLog};
pub use credentials::ThrottleSettings;
pub use error::IdentityError;
pub use organizations::{
    OrganizationChange, OrganizationDetails, OrganizationMember, OrganizationSettings, OrganizationTeam,
};
pub use permissions::{AccountPermission, TeamPermission};
pub use policy::{Action, PolicySettings, Role, TeamRole, decide, namespace_of};
pub use principal::{AccountRef, Actor, Credential, Principal, Scope};
pub use repositories::Repository;
pub use teams::{
    OWNERS_TEAM, Team, TeamMember, TeamMembers, TeamName, TeamRepositoryRole, TeamUpdate, validate_team_name,
};
pub use tokens::{AccessClaim, Claims, RequestedScope, TokenContext, TokenService};
pub use web_sessions::WebSession;

/// Settings of identity and access, from configuration.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Issuer of registry tokens.
    pub token_issuer: String,
    /// How long registry tokens live.
    pub token_lifetime: Duration,
    /// Users who are superusers by configuration (`SUPER_USERS`).
    pub super_users: Vec<String>,
    /// Policy switches.
    pub policy: PolicySettings,
    /// Repositories created by a push are private
    /// (`CREATE_PRIVATE_REPO_ON_PUSH`).
    pub create_private_repo_on_push: bool,
    /// Failed-login limits.
    pub throttle: ThrottleSettings,
    /// Time-machine windows (seconds) a namespace may choose.
    pub tag_expiration_options: Vec<u64>,
    /// The window (seconds) of a namespace that chose none
    /// (`DEFAULT_TAG_EXPIRATION`).
    pub default_tag_expiration_s: u64,
    /// How long a console sign-in lasts (`PERMANENT_SESSION_LIFETIME`).
    pub session_lifetime: Duration,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            token_issuer: "berth".into(),
            token_lifetime: Duration::from_secs(3600),
            super_users: Vec::new(),
            policy: PolicySettings::default(),
            create_private_repo_on_push: true,
            throttle: ThrottleSettings::default(),
            tag_expiration_options: vec![0, 86_400, 7 * 86_400, 14 * 86_400, 28 * 86_400],
            default_tag_expiration_s: 14 * 86_400,
            session_lifetime: Duration::from_secs(31 * 86_400),
        }
    }
}

/// The identity service, shared by every request.
#[derive(Clone)]
pub struct Identity {
    pub(crate) db: Db,
    pub(crate) config: Arc<IdentityConfig>,
    tokens: TokenService,
    pub(crate) audit: AuditLog,
    cache: Arc<credentials::CredentialCache>,
}

impl Identity {
    /// Start the service: load (or on first start, generate) the token
    /// signing keys and start the usage-log writer.
    pub async fn start(db: Db, config: IdentityConfig) -> Result<Identity, IdentityError> {
        let tokens = TokenService::new(db.clone(), config.token_issuer.clone(), config.token_lifetime);
        tokens.start().await?;
        Ok(Identity {
            audit: AuditLog::start(db.clone()),
            db,
            config: Arc::new(config),
            tokens,
            cache: Arc::new(credentials::CredentialCache::new()),
        })
    }

    /// The settings.
    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    /// Registry tokens.
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// The usage log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Whether `principal` may do `action`.
    pub async fn allowed(&self, principal: &Principal, action: Action<'_>) -> Result<bool, IdentityError> {
        let facts = match action.namespace() {
            Some(ns) => self
                .db
                .access_facts(principal.account().map(|a| a.id), ns, action.repository())
                .await?
                .try_into()?,
            None => Default::default(),
        };
        Ok(decide(principal, action, &facts, self.config.policy))
    }

    /// `Ok` if `principal` may do `action`; otherwise `Unauthenticated` for
    /// the anonymous caller (logging in may help) and `Denied` for others.
    pub async fn authorize(&self, principal: &Principal, action: Action<'_>) -> Result<(), IdentityError> {
        if self.allowed(principal, action).await? {
            return Ok(());
        }
        Err(match principal.actor {
            Actor::Anonymous => IdentityError::Unauthenticated("authentication required".into()),
            _ => IdentityError::Denied("you are not allowed to do this".into()),
        })
    }

    /// The principal a registry token stands for, rebuilt from its context
    /// (for listings filtered per caller). A token obtained with an OAuth
    /// token keeps that token's scopes, so it never shows more than they
    /// allow.
    pub fn principal_of_token(&self, claims: &Claims) -> Principal {
        let id = claims.context.entity_reference.parse::<i64>().ok();
        let account = |id| AccountRef {
            id,
            name: claims.sub.clone(),
            super_user: claims.context.super_user,
        };
        let actor = match (claims.context.entity_kind.as_str(), id) {
            ("robot", Some(id)) => Actor::Robot(account(id)),
            ("user" | "appspecifictoken" | "oauthtoken", Some(id)) => Actor::User(account(id)),
            _ => Actor::Anonymous,
        };
        let credential = match claims.context.entity_kind.as_str() {
            "oauthtoken" => Credential::OAuth(
                Scope::parse_list(claims.context.scopes.as_deref().unwrap_or_default()).unwrap_or_default(),
            ),
            _ => Credential::RegistryToken,
        };
        Principal { actor, credential }
    }
}
