//! Proxy-cache configurations: parsing the upstream, the API operations
//! (Quay's `proxycache` and `validateproxycache`), the credentials sealed
//! under `DATABASE_SECRET_KEY`.

use std::sync::Arc;
use std::time::Duration;

use berth_store::StoreError;
use berth_store::metadata::{NewProxyConfig, ProxyConfigRow};

use super::upstream::Upstream;
use crate::identity::{Action, AuditEvent};
use crate::names::Namespace;
use crate::registry::{ClientError, Registry, RegistryError};
use crate::{Caller, notify::SecretBox};

/// Quay's default `expiration_s`: a day.
const DEFAULT_EXPIRATION_S: i64 = 86_400;

/// How long an upstream request may stall (connect, or between reads).
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// An upstream as configured: `host[:port][/namespace]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRegistry {
    host: String,
    namespace: Option<String>,
}

impl UpstreamRegistry {
    /// Parse `host[:port][/namespace]` (no scheme, no credentials).
    pub fn parse(text: &str) -> Result<UpstreamRegistry, String> {
        let text = text.trim().trim_end_matches('/');
        if text.contains("://") {
            return Err(
                "upstream_registry is a host, an optional port and namespace, without a scheme".into(),
            );
        }
        let (host, namespace) = match text.split_once('/') {
            Some((h, ns)) => (h, Some(ns)),
            None => (text, None),
        };
        let host = host.to_ascii_lowercase();
        let valid_host = !host.is_empty()
            && host.len() <= 255
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !valid_host {
            return Err(format!("invalid upstream registry host {host:?}"));
        }
        if let Some(ns) = namespace {
            let valid = ns.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            });
            if !valid {
                return Err(format!("invalid upstream registry namespace {ns:?}"));
            }
        }
        Ok(UpstreamRegistry {
            host: normalize_host(&host),
            namespace: namespace.map(str::to_owned),
        })
    }

    /// The host and port: what a `?ns=` parameter names.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host the registry API answers on (Docker Hub's is not
    /// `docker.io`).
    pub fn api_host(&self) -> String {
        if self.host == "docker.io" {
            "registry-1.docker.io".into()
        } else {
            self.host.clone()
        }
    }

    /// The host without a port, for the SSRF allow list.
    pub fn host_name(&self) -> &str {
        if let Some(rest) = self.host.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        self.host.split(':').next().unwrap_or(&self.host)
    }

    /// The upstream repository of local repository `rest` (the local
    /// name without its organization): under the configured namespace,
    /// and under Docker Hub's `library/` for a one-component name.
    pub fn remote_repository(&self, rest: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{rest}"),
            None if self.host == "docker.io" && !rest.contains('/') => format!("library/{rest}"),
            None => rest.to_owned(),
        }
    }

    /// As configured.
    pub fn as_configured(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}", self.host),
            None => self.host.clone(),
        }
    }
}

/// Lower case, and Docker Hub's other names folded into `docker.io`.
pub(crate) fn normalize_host(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".into(),
        _ => host,
    }
}

/// A proxy-cache configuration to create or validate (Quay's body).
#[derive(Clone)]
pub struct ProxyCacheInput {
    /// `host[:port][/namespace]`.
    pub upstream_registry: String,
    /// Seconds a cached tag is served before it is revalidated.
    pub expiration_s: Option<i64>,
    /// Accept any certificate, and plain HTTP.
    pub insecure: bool,
    /// Upstream user name.
    pub username: Option<String>,
    /// Upstream password.
    pub password: Option<String>,
}

impl std::fmt::Debug for ProxyCacheInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("ProxyCacheInput")
            .field("upstream_registry", &self.upstream_registry)
            .field("expiration_s", &self.expiration_s)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// A configuration as the API shows it (never its credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyCacheView {
    /// `host[:port][/namespace]`.
    pub upstream_registry: String,
    /// Seconds before revalidation.
    pub expiration_s: i64,
    /// Insecure upstream allowed.
    pub insecure: bool,
}

/// What pulls through the cache need of a configuration.
pub(crate) struct ProxyTarget {
    /// The organization.
    pub namespace: String,
    /// The upstream.
    pub registry: UpstreamRegistry,
    /// How long a cached tag is served unchecked.
    pub expiration: Duration,
    /// Its client (shared by the requests of this instance).
    pub client: Arc<Upstream>,
}

/// What a sealed credential is bound to (the associated data).
fn seal_label(account_id: i64, what: &str) -> String {
    format!("proxycache:{account_id}:{what}")
}

/// An upstream user name and password.
type Credentials = Option<(String, String)>;

impl ProxyCacheInput {
    /// The parsed upstream, the expiration and the credentials.
    fn check(&self) -> Result<(UpstreamRegistry, i64, Credentials), ClientError> {
        let registry = UpstreamRegistry::parse(&self.upstream_registry).map_err(ClientError::Invalid)?;
        let expiration_s = self.expiration_s.unwrap_or(DEFAULT_EXPIRATION_S);
        if expiration_s < 1 {
            return Err(ClientError::Invalid(
                "expiration_s must be at least 1 second".into(),
            ));
        }
        let credentials = match (&self.username, &self.password) {
            (Some(u), Some(p)) if !u.is_empty() => Some((u.clone(), p.clone())),
            (None, None) => None,
            (Some(u), None) if u.is_empty() => None,
            _ => {
                return Err(ClientError::Invalid(
                    "upstream_registry_username and upstream_registry_password go together".into(),
                ));
            }
        };
        Ok((registry, expiration_s, credentials))
    }
}

impl Registry {
    fn secret_box(&self) -> Option<&SecretBox> {
        self.config().notifications.secrets.as_ref()
    }

    /// The organization `ns` once `action` on it is allowed; not found if
    /// it is no organization.
    async fn proxy_organization(
        &self,
        caller: &Caller,
        ns: &Namespace,
        action: Action<'_>,
    ) -> Result<berth_store::metadata::AccountRow, ClientError> {
        self.identity.authorize(&caller.principal, action).await?;
        self.db()
            .account_by_name(ns.as_str())
            .await?
            .filter(|a| a.kind == crate::AccountKind::Organization.as_str())
            .ok_or_else(|| ClientError::NotFound(format!("organization {ns} not found")))
    }

    /// The proxy-cache configuration of organization `ns` (its members may
    /// read it), if it has one.
    pub async fn proxy_cache(
        &self,
        caller: &Caller,
        ns: &Namespace,
    ) -> Result<Option<ProxyCacheView>, ClientError> {
        self.proxy_organization(caller, ns, Action::ViewNamespace(ns.as_str()))
            .await?;
        Ok(self
            .db()
            .proxy_config(ns.as_str())
            .await?
            .map(|row| ProxyCacheView {
                upstream_registry: row.upstream_registry,
                expiration_s: row.expiration_s,
                insecure: row.insecure,
            }))
    }

    /// Make organization `ns` a proxy cache of an upstream (its
    /// administrators may); logged as `create_proxy_cache_config`.
    pub async fn create_proxy_cache(
        &self,
        caller: &Caller,
        ns: &Namespace,
        input: &ProxyCacheInput,
    ) -> Result<(), ClientError> {
        let org = self
            .proxy_organization(caller, ns, Action::AdministerNamespace(ns.as_str()))
            .await?;
        self.refuse_in_org_mirror(ns.as_str(), "a proxy cache").await?;
        let (registry, expiration_s, credentials) = input.check()?;
        self.check_upstream_address(&registry).await?;
        let (username_sealed, password_sealed) = match &credentials {
            Some((user, password)) => {
                let secrets = self.secret_box().ok_or_else(|| {
                    ClientError::Invalid(
                        "DATABASE_SECRET_KEY must be set to store upstream credentials".into(),
                    )
                })?;
                let seal = |what: &str, text: &str| {
                    secrets
                        .seal(&seal_label(org.id, what), text)
                        .map_err(|e| ClientError::Registry(RegistryError::Proxy(e.to_string())))
                };
                (Some(seal("username", user)?), Some(seal("password", password)?))
            }
            None => (None, None),
        };
        let configured = registry.as_configured();
        let new = NewProxyConfig {
            account_id: org.id,
            upstream_registry: &configured,
            upstream_host: registry.host(),
            expiration_s,
            insecure: input.insecure,
            username_sealed: username_sealed.as_deref(),
            password_sealed: password_sealed.as_deref(),
        };
        match self.db().create_proxy_config(&new).await {
            Ok(()) => {}
            Err(StoreError::Exists(_)) => {
                return Err(ClientError::Invalid(format!(
                    "organization {ns} already has a proxy cache configuration"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.log(
            AuditEvent::by("create_proxy_cache_config", caller)
                .namespace(ns.as_str())
                .metadata(serde_json::json!({
                    "upstream_registry": configured,
                    "expiration_s": expiration_s,
                    "insecure": input.insecure,
                })),
        )
        .await
    }

    /// Remove the proxy-cache configuration of organization `ns` (its
    /// administrators may); what it cached stays. Logged as
    /// `delete_proxy_cache_config`.
    pub async fn delete_proxy_cache(&self, caller: &Caller, ns: &Namespace) -> Result<(), ClientError> {
        let org = self
            .proxy_organization(caller, ns, Action::AdministerNamespace(ns.as_str()))
            .await?;
        if !self.db().delete_proxy_config(org.id).await? {
            return Err(ClientError::NotFound(format!(
                "organization {ns} has no proxy cache configuration"
            )));
        }
        self.log(AuditEvent::by("delete_proxy_cache_config", caller).namespace(ns.as_str()))
            .await
    }

    /// Check that the upstream of `input` answers and accepts its
    /// credentials, without storing anything (its administrators may).
    pub async fn validate_proxy_cache(
        &self,
        caller: &Caller,
        ns: &Namespace,
        input: &ProxyCacheInput,
    ) -> Result<(), ClientError> {
        self.proxy_organization(caller, ns, Action::AdministerNamespace(ns.as_str()))
            .await?;
        let (registry, _, credentials) = input.check()?;
        self.check_upstream_address(&registry).await?;
        let client = Upstream::new(
            &registry,
            input.insecure,
            credentials,
            &self.config().notifications.ssrf,
            UPSTREAM_TIMEOUT,
        )
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
        client
            .ping()
            .await
            .map_err(|e| ClientError::Invalid(format!("upstream {}: {e}", registry.as_configured())))
    }

    /// Refuse an upstream in a loopback, private or link-local range
    /// unless `SSRF_ALLOWED_HOSTS` lists it.
    async fn check_upstream_address(&self, registry: &UpstreamRegistry) -> Result<(), ClientError> {
        let guard = &self.config().notifications.ssrf;
        let url = format!("https://{}/", registry.api_host());
        guard
            .check_url(&url)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        if registry.host_name().parse::<std::net::IpAddr>().is_err() {
            guard
                .resolve(registry.host_name(), 443)
                .await
                .map_err(|e| ClientError::Invalid(e.to_string()))?;
        }
        Ok(())
    }

    /// The organization proxying upstream host `host` (a `?ns=` value),
    /// if one does.
    pub async fn proxy_namespace_for_host(&self, host: &str) -> Result<Option<String>, RegistryError> {
        Ok(self
            .db()
            .proxy_config_for_host(&normalize_host(host))
            .await?
            .map(|row| row.namespace))
    }

    /// Whether namespace `ns` is a proxy cache.
    pub(crate) async fn is_proxy_namespace(&self, ns: &str) -> Result<bool, RegistryError> {
        Ok(self.db().proxy_config(ns).await?.is_some())
    }

    /// The proxy-cache target of namespace `ns`, if it is one.
    pub(crate) async fn proxy_target(&self, ns: &str) -> Result<Option<ProxyTarget>, RegistryError> {
        let Some(row) = self.db().proxy_config(ns).await? else {
            return Ok(None);
        };
        let registry = UpstreamRegistry::parse(&row.upstream_registry).map_err(RegistryError::Proxy)?;
        let client = self
            .proxy_state()
            .client(&row, || self.upstream_client(&row, &registry))?;
        Ok(Some(ProxyTarget {
            namespace: row.namespace.clone(),
            registry,
            expiration: Duration::from_secs(u64::try_from(row.expiration_s).unwrap_or(0)),
            client,
        }))
    }

    fn upstream_client(
        &self,
        row: &ProxyConfigRow,
        registry: &UpstreamRegistry,
    ) -> Result<Upstream, RegistryError> {
        let credentials = match (&row.username_sealed, &row.password_sealed, self.secret_box()) {
            (Some(u), Some(p), Some(secrets)) => {
                let user = secrets.open(&seal_label(row.account_id, "username"), u);
                let password = secrets.open(&seal_label(row.account_id, "password"), p);
                match (user, password) {
                    (Some(u), Some(p)) => Some((u, p)),
                    _ => {
                        return Err(RegistryError::Proxy(
                            "the upstream credentials cannot be decrypted (DATABASE_SECRET_KEY changed?)"
                                .into(),
                        ));
                    }
                }
            }
            (Some(_), Some(_), None) => {
                return Err(RegistryError::Proxy(
                    "the upstream credentials need DATABASE_SECRET_KEY".into(),
                ));
            }
            _ => None,
        };
        Upstream::new(
            registry,
            row.insecure,
            credentials,
            &self.config().notifications.ssrf,
            UPSTREAM_TIMEOUT,
        )
        .map_err(|e| RegistryError::Proxy(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::UpstreamRegistry;

    #[test]
    fn upstreams_parse_and_map_repositories() {
        let local = UpstreamRegistry::parse("127.0.0.1:5001/upstream").unwrap();
        assert_eq!(local.host(), "127.0.0.1:5001");
        assert_eq!(local.host_name(), "127.0.0.1");
        assert_eq!(local.remote_repository("app"), "upstream/app");
        let hub = UpstreamRegistry::parse("docker.io").unwrap();
        assert_eq!(hub.api_host(), "registry-1.docker.io");
        assert_eq!(hub.remote_repository("alpine"), "library/alpine");
        assert_eq!(hub.remote_repository("grafana/grafana"), "grafana/grafana");
        let quay = UpstreamRegistry::parse("quay.io/library").unwrap();
        assert_eq!(quay.remote_repository("app"), "library/app");
        assert!(UpstreamRegistry::parse("https://quay.io").is_err());
        assert!(UpstreamRegistry::parse("").is_err());
        assert!(UpstreamRegistry::parse("quay.io/UPPER").is_err());
        assert!(UpstreamRegistry::parse("a b").is_err());
    }
}
