//! The `/v2` access gate: what each request needs, and whether the caller
//! has it. The decision itself is the identity service's policy; this file
//! only maps routes to actions and refusals to the token protocol's
//! answers (401 with a Bearer challenge where a token could help, 403
//! `DENIED` where the policy says no).

use std::net::IpAddr;

use axum::http::Method;
use berth_core::identity::{Action, Actor, Principal};
use berth_core::{Identity, IdentityError};

use crate::auth::{Caller, Realm};
use crate::distribution::ApiError;
use crate::distribution::route::Route;

/// What a `/v2` request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need<'a> {
    /// Any valid credentials (`GET /v2/`).
    Login,
    /// Nothing; the answer is filtered per caller (the catalog).
    Listing,
    /// Pull from a repository.
    Pull(&'a str),
    /// Push to (or delete from) a repository.
    Push(&'a str),
}

impl<'a> Need<'a> {
    /// The need of `route` under `method`.
    pub(crate) fn of(route: &Route<'a>, method: &Method) -> Need<'a> {
        let reads = matches!(*method, Method::GET | Method::HEAD);
        match route {
            Route::Base => Need::Login,
            Route::Catalog => Need::Listing,
            Route::Upload(name, _) | Route::UploadStart(name) => Need::Push(name),
            Route::Tags(name)
            | Route::Manifest(name, _)
            | Route::Blob(name, _)
            | Route::Referrers(name, _) => {
                if reads {
                    Need::Pull(name)
                } else {
                    Need::Push(name)
                }
            }
        }
    }
}

/// A refusal from the identity service, as the token protocol answers it.
pub(crate) fn refusal(e: IdentityError, realm: &Realm, scope: Option<&str>) -> ApiError {
    match e {
        IdentityError::Unauthenticated(message) => ApiError::Unauthorized {
            message,
            challenge: realm.challenge(scope, None),
        },
        IdentityError::InvalidToken(message) => ApiError::Unauthorized {
            message,
            challenge: realm.challenge(scope, Some("invalid_token")),
        },
        IdentityError::Throttled(s) => ApiError::Throttled(s),
        IdentityError::Denied(message) => ApiError::Denied(message),
        other => ApiError::Identity(other),
    }
}

/// Admit `caller` to a request needing `need`; returns who the caller is.
pub(crate) async fn admit(
    identity: &Identity,
    caller: Caller,
    need: Need<'_>,
    method: &Method,
    realm: &Realm,
    ip: IpAddr,
) -> Result<Principal, ApiError> {
    let (name, action, token_actions): (&str, Action<'_>, &[&str]) = match need {
        Need::Login => {
            return match caller {
                Caller::Anonymous => Err(ApiError::Unauthorized {
                    message: "authentication required".into(),
                    challenge: realm.challenge(None, None),
                }),
                Caller::Principal(p) => Ok(p),
                Caller::Token(claims) => Ok(identity.principal_of_token(&claims)),
            };
        }
        Need::Listing => {
            return Ok(match caller {
                Caller::Anonymous => Principal::anonymous(),
                Caller::Principal(p) => p,
                Caller::Token(claims) => identity.principal_of_token(&claims),
            });
        }
        Need::Pull(name) => (name, Action::Pull(name), &["pull"]),
        Need::Push(name) if *method == Method::DELETE => (name, Action::Push(name), &["push", "delete"]),
        Need::Push(name) => (name, Action::Push(name), &["push"]),
    };
    let scope = match action {
        Action::Pull(_) => format!("repository:{name}:pull"),
        _ => format!("repository:{name}:pull,push"),
    };
    let principal = match caller {
        Caller::Token(claims) => {
            let principal = identity.principal_of_token(&claims);
            if token_actions.iter().any(|a| claims.grants(name, a)) {
                return Ok(principal);
            }
            principal
        }
        Caller::Anonymous => Principal::anonymous(),
        Caller::Principal(p) => {
            if matches!(action, Action::Push(_)) {
                identity
                    .ensure_namespace_for_push(berth_core::identity::namespace_of(name), &p, Some(ip))
                    .await
                    .map_err(|e| refusal(e, realm, Some(&scope)))?;
            }
            let allowed = identity
                .allowed(&p, action)
                .await
                .map_err(|e| refusal(e, realm, Some(&scope)))?;
            return if allowed {
                Ok(p)
            } else {
                Err(ApiError::Denied(
                    "requested access to the resource is denied".into(),
                ))
            };
        }
    };
    // Anonymous, or a token that does not cover the request.
    if principal.actor == Actor::Anonymous {
        if identity
            .allowed(&principal, action)
            .await
            .map_err(ApiError::Identity)?
        {
            return Ok(principal);
        }
        return Err(ApiError::Unauthorized {
            message: "authentication required".into(),
            challenge: realm.challenge(Some(&scope), None),
        });
    }
    if identity
        .allowed(&principal, action)
        .await
        .map_err(ApiError::Identity)?
    {
        // A new token would cover it: tell the client to get one.
        Err(ApiError::Unauthorized {
            message: "the token does not cover this request".into(),
            challenge: realm.challenge(Some(&scope), Some("insufficient_scope")),
        })
    } else {
        Err(ApiError::Denied(
            "requested access to the resource is denied".into(),
        ))
    }
}
