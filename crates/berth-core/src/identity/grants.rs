//! Issuing registry tokens: each requested action is granted only if the
//! policy allows it; the rest are silently dropped (down-scoping), as the
//! Docker token protocol expects.

use super::policy::{Action, namespace_of};
use super::principal::{Actor, Credential, Principal, Scope};
use super::tokens::{AccessClaim, Claims, RequestedScope, TokenContext};
use super::{Identity, IdentityError};

impl Identity {
    /// Sign a registry token for `principal` and audience `service` holding
    /// what the policy grants of `scopes`.
    pub async fn issue_registry_token(
        &self,
        principal: &Principal,
        service: &str,
        scopes: &[RequestedScope],
        ip: Option<std::net::IpAddr>,
    ) -> Result<(String, Claims), IdentityError> {
        let mut access = Vec::new();
        for scope in scopes {
            if scope.actions.iter().any(|a| a != "pull") {
                self.ensure_namespace_for_push(namespace_of(&scope.name), principal, ip)
                    .await?;
            }
            let mut granted = Vec::new();
            for requested in &scope.actions {
                let action = match requested.as_str() {
                    "pull" => Action::Pull(&scope.name),
                    "push" | "delete" => Action::Push(&scope.name),
                    _ => Action::Administer(&scope.name),
                };
                if self.allowed(principal, action).await? {
                    granted.push(requested.clone());
                }
            }
            access.push(AccessClaim {
                kind: "repository".into(),
                name: scope.name.clone(),
                actions: granted,
            });
        }
        let entity_kind = match (&principal.actor, &principal.credential) {
            (Actor::Anonymous, _) => "anonymous",
            (Actor::Robot(_), _) => "robot",
            (Actor::User(_), Credential::AppToken) => "appspecifictoken",
            (Actor::User(_), Credential::OAuth(_)) => "oauthtoken",
            (Actor::User(_), _) => "user",
        };
        let context = TokenContext {
            version: 2,
            entity_kind: entity_kind.into(),
            entity_reference: principal.account().map(|a| a.id.to_string()).unwrap_or_default(),
            kind: if principal.account().is_some() {
                "user"
            } else {
                "anonymous"
            }
            .into(),
            user: principal.name().map(str::to_owned),
            super_user: principal.account().is_some_and(|a| a.super_user),
            scopes: match &principal.credential {
                Credential::OAuth(scopes) => Some(Scope::join(scopes)),
                _ => None,
            },
        };
        let sub = principal.name().unwrap_or("(anonymous)");
        self.tokens().issue(service, sub, context, access).await
    }
}

impl Identity {
    /// Log in for a registry token (`GET /v2/auth` with Basic
    /// credentials) and log `login_success` in the account's namespace.
    pub async fn login_for_registry_token(
        &self,
        user: &str,
        secret: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Principal, IdentityError> {
        let principal = self.login(user, secret, ip).await?;
        let mut event = super::AuditEvent::new("login_success", &principal, ip)
            .metadata(serde_json::json!({ "kind": principal.kind(), "type": "v2auth" }));
        if let Some(name) = principal.name() {
            event = event.namespace(name.split('+').next().unwrap_or(name));
        }
        self.audit.record(event).await;
        Ok(principal)
    }
}
