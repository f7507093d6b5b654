//! Who may write. Until authentication exists, anonymous writes are accepted
//! only from loopback peers.

use std::net::{IpAddr, SocketAddr};

use crate::distribution::ApiError;

/// The write policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessPolicy {
    /// Anyone may read; only loopback peers may push or delete.
    LoopbackWrites,
}

impl AccessPolicy {
    /// Refuse a write from `peer` unless the policy allows it.
    pub fn check_write(self, peer: SocketAddr) -> Result<(), ApiError> {
        match self {
            AccessPolicy::LoopbackWrites if is_loopback(peer.ip()) => Ok(()),
            AccessPolicy::LoopbackWrites => Err(ApiError::Denied(
                "anonymous pushes and deletes are accepted only from loopback until authentication is configured"
                    .into(),
            )),
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_writes() {
        let p = AccessPolicy::LoopbackWrites;
        for ok in ["127.0.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
            assert!(p.check_write(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in ["10.0.0.1:1", "[2001:db8::1]:1", "[::ffff:10.0.0.1]:1"] {
            assert!(p.check_write(bad.parse().unwrap()).is_err(), "{bad}");
        }
    }
}
