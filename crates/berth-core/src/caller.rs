//! Who calls a core operation, and from where. Every operation a client
//! can ask for takes a [`Caller`], authorizes it through the one policy
//! and writes the usage log with it, so no front end (HTTP, console, CLI)
//! decides access or logs by itself.

use std::net::IpAddr;

use crate::identity::{Actor, Principal};

/// The caller of a core operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who: the principal the credentials proved.
    pub principal: Principal,
    /// From where, when known.
    pub ip: Option<IpAddr>,
}

impl Caller {
    /// A caller proved to be `principal`, calling from `ip`.
    pub fn new(principal: Principal, ip: Option<IpAddr>) -> Caller {
        Caller { principal, ip }
    }

    /// The anonymous caller.
    pub fn anonymous(ip: Option<IpAddr>) -> Caller {
        Caller::new(Principal::anonymous(), ip)
    }

    /// The caller's account name, if any.
    pub fn name(&self) -> Option<&str> {
        self.principal.name()
    }

    /// The caller's account id, if any.
    pub fn account_id(&self) -> Option<i64> {
        self.principal.account().map(|a| a.id)
    }

    /// Whether the caller is a user (not a robot, not anonymous).
    pub fn is_user(&self) -> bool {
        matches!(self.principal.actor, Actor::User(_))
    }
}
