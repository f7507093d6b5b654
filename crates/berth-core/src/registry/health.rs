//! Health checks in Quay's two scopes: an instance's own services, and the
//! registry end to end (the shared database and blob storage).

use std::time::Duration;

use super::Registry;

/// How long one check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Which checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthScope {
    /// This instance (`/health/instance`): the database, the signing key,
    /// authentication. Storage is left to the end-to-end check, as in Quay.
    Instance,
    /// The registry (`/health/endtoend`): the database, blob storage (not
    /// in read-only mode) and authentication.
    EndToEnd,
}

/// One service's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHealth {
    /// Quay's service name: `database`, `storage`, `service_key`, `auth`.
    pub name: &'static str,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

impl ServiceHealth {
    /// Whether the service works.
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// The result of a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Every service checked, in a fixed order.
    pub services: Vec<ServiceHealth>,
}

impl Health {
    /// Whether every service works.
    pub fn healthy(&self) -> bool {
        self.services.iter().all(ServiceHealth::ok)
    }
}

/// Run `check` within the timeout; a failure becomes its text.
async fn within<E: std::fmt::Display>(
    name: &'static str,
    check: impl std::future::Future<Output = Result<(), E>>,
) -> ServiceHealth {
    let failure = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    if let Some(why) = &failure {
        tracing::warn!(service = name, failure = %why, "health check failed");
    }
    ServiceHealth { name, failure }
}

impl Registry {
    /// Check the services of `scope`.
    pub async fn health(&self, scope: HealthScope) -> Health {
        let database = within("database", self.db.ping()).await;
        // Authentication works when registry tokens can be signed: the keys
        // are loaded and the accounts are in the database just checked.
        let auth = within("auth", self.identity.tokens().self_test()).await;
        let mut services = vec![database];
        match scope {
            HealthScope::Instance => {
                let key = self.identity.tokens().has_signing_key();
                services.push(ServiceHealth {
                    name: "service_key",
                    failure: (!key).then(|| "no signing key is loaded".to_owned()),
                });
            }
            // Quay skips storage in read-only mode: nothing may be written.
            HealthScope::EndToEnd if !self.read_only() => {
                services.push(within("storage", self.blobs.probe()).await);
            }
            HealthScope::EndToEnd => {}
        }
        services.push(auth);
        Health { services }
    }
}
