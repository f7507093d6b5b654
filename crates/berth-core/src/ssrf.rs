//! The guard on outbound requests to URLs users give (webhooks; later
//! mirroring and proxy cache): targets that resolve to loopback, private,
//! link-local, unspecified, broadcast or multicast addresses are refused
//! unless their host is listed in `SSRF_ALLOWED_HOSTS`. The resolved
//! addresses are checked, not the name, and the client built here connects
//! only to addresses that passed (its resolver is the check), so a name that
//! resolves differently the second time gains nothing. Redirects are never
//! followed.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Why a target was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SsrfError {
    /// Not a URL, or not one we may call.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// Resolves only to addresses that are refused.
    #[error(
        "{host} resolves to {addr}, a loopback, private, link-local or multicast address (allow it with SSRF_ALLOWED_HOSTS)"
    )]
    Refused {
        /// The URL's host.
        host: String,
        /// The refused address.
        addr: IpAddr,
    },
    /// The name did not resolve.
    #[error("cannot resolve {0}")]
    Unresolved(String),
}

/// The outbound-request guard: which hosts are exempt.
#[derive(Debug, Clone, Default)]
pub struct SsrfGuard {
    allowed: Arc<HashSet<String>>,
}

/// Whether `ip` is an address no user-given URL may reach by default.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// A host as the allow list compares it: lower case, IPv6 without brackets.
fn normalize(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

impl SsrfGuard {
    /// A guard exempting `allowed` hosts (names or IP literals, no ports).
    pub fn new(allowed: impl IntoIterator<Item = String>) -> SsrfGuard {
        SsrfGuard {
            allowed: Arc::new(allowed.into_iter().map(|h| normalize(&h)).collect()),
        }
    }

    /// Whether `host` (a name or an IP literal) is exempt.
    pub fn host_allowed(&self, host: &str) -> bool {
        self.allowed.contains(&normalize(host))
    }

    /// Whether a connection to `ip`, reached through `host`, may be made.
    pub fn address_allowed(&self, host: &str, ip: IpAddr) -> bool {
        !is_internal(ip) || self.host_allowed(host) || self.host_allowed(&ip.to_string())
    }

    /// Parse and check a URL: `http` or `https`, a host, no credentials;
    /// an IP literal host is checked here (names are checked when they
    /// resolve, by the client of [`SsrfGuard::client_builder`]).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, SsrfError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| SsrfError::InvalidUrl(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SsrfError::InvalidUrl("the scheme must be http or https".into()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(SsrfError::InvalidUrl(
                "credentials in the URL are not allowed".into(),
            ));
        }
        let host = parsed
            .host_str()
            .map(normalize)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| SsrfError::InvalidUrl("the URL has no host".into()))?;
        // The URL parser has already turned other spellings of an IPv4
        // address (hex, octal, short forms) into the dotted one.
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.check_literal(&parsed, ip);
        }
        Ok(parsed)
    }

    fn check_literal(&self, url: &reqwest::Url, ip: IpAddr) -> Result<reqwest::Url, SsrfError> {
        if self.address_allowed(&ip.to_string(), ip) {
            Ok(url.clone())
        } else {
            Err(SsrfError::Refused {
                host: ip.to_string(),
                addr: ip,
            })
        }
    }

    /// Resolve `host` and keep the addresses a connection may go to; an
    /// error if none remain.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, SsrfError> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| SsrfError::Unresolved(host.to_owned()))?
            .collect();
        let first = found.first().map(SocketAddr::ip);
        let kept: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| self.address_allowed(host, a.ip()))
            .collect();
        match (kept.is_empty(), first) {
            (false, _) => Ok(kept),
            (true, Some(addr)) => Err(SsrfError::Refused {
                host: host.to_owned(),
                addr,
            }),
            (true, None) => Err(SsrfError::Unresolved(host.to_owned())),
        }
    }

    /// A client builder whose every connection goes through the guard:
    /// names resolve through [`SsrfGuard::resolve`], no proxy from the
    /// environment, no redirects. URLs must still pass
    /// [`SsrfGuard::check_url`] (IP literals do not resolve).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(GuardedResolver { guard: self.clone() })
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
    }
}

/// The resolver of guarded clients.
struct GuardedResolver {
    guard: SsrfGuard,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let addrs = guard.resolve(name.as_str(), 0).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_refused_and_public_ones_pass() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literals_are_checked_against_the_allow_list() {
        let strict = SsrfGuard::default();
        assert!(matches!(
            strict.check_url("http://127.0.0.1:8080/hook"),
            Err(SsrfError::Refused { .. })
        ));
        assert!(matches!(
            strict.check_url("http://[::1]/"),
            Err(SsrfError::Refused { .. })
        ));
        assert!(strict.check_url("ftp://example.com/").is_err());
        assert!(strict.check_url("http://user:pw@example.com/").is_err());
        assert!(strict.check_url("https://example.com/hook").is_ok());
        let open = SsrfGuard::new(["127.0.0.1".to_owned(), "[::1]".to_owned()]);
        assert!(open.check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(open.check_url("http://[::1]:8080/hook").is_ok());
        assert!(open.check_url("http://10.0.0.1/").is_err());
    }

    #[tokio::test]
    async fn names_are_checked_by_what_they_resolve_to() {
        let strict = SsrfGuard::default();
        assert!(matches!(
            strict.resolve("localhost", 80).await,
            Err(SsrfError::Refused { .. })
        ));
        let by_name = SsrfGuard::new(["localhost".to_owned()]);
        assert!(by_name.resolve("localhost", 80).await.is_ok());
        let by_address = SsrfGuard::new(["127.0.0.1".to_owned()]);
        let kept = by_address.resolve("localhost", 80).await.unwrap();
        assert!(kept.iter().all(|a| a.ip() == IpAddr::from([127, 0, 0, 1])));
    }
}
