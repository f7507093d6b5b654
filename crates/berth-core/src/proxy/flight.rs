//! Single-flight: however many requests of this instance ask for one
//! manifest or blob at once, one task fetches it from the upstream and the
//! others wait on that task. Also the upstream clients, shared so their
//! tokens and settled scheme are reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_store::metadata::ProxyConfigRow;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use super::upstream::Upstream;
use crate::registry::RegistryError;

/// What a flight ends with; errors are shared, so reference-counted.
pub(crate) type FlightResult<T> = Result<T, Arc<RegistryError>>;

type Flight<T> = Shared<BoxFuture<'static, FlightResult<T>>>;

/// A client with the configuration it was built for.
type CachedClient = (String, Arc<Upstream>);

/// The proxy cache's in-memory state of one instance.
#[derive(Default)]
pub(crate) struct ProxyState {
    manifests: Arc<Mutex<HashMap<String, Flight<crate::registry::ManifestContent>>>>,
    blobs: Arc<Mutex<HashMap<String, Flight<()>>>>,
    clients: Mutex<HashMap<String, CachedClient>>,
}

impl std::fmt::Debug for ProxyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyState(..)")
    }
}

/// Join the flight of `key`, or start it with `start` (spawned, so it ends
/// even if every waiting request goes away). Whether this call started it.
fn join<T: Clone + Send + Sync + 'static>(
    map: &Arc<Mutex<HashMap<String, Flight<T>>>>,
    key: &str,
    start: impl FnOnce() -> BoxFuture<'static, FlightResult<T>>,
) -> (Flight<T>, bool) {
    let Ok(mut flights) = map.lock() else {
        // A poisoned map: fetch alone rather than fail.
        return (start().shared(), true);
    };
    if let Some(flight) = flights.get(key) {
        return (flight.clone(), false);
    }
    let work = start();
    let owner = Arc::clone(map);
    let owned_key = key.to_owned();
    let task = tokio::spawn(async move {
        let out = work.await;
        // Removed once the result is stored: a later request finds it
        // in the registry.
        if let Ok(mut flights) = owner.lock() {
            flights.remove(&owned_key);
        }
        out
    });
    let flight = async move {
        task.await
            .unwrap_or_else(|e| Err(Arc::new(RegistryError::Proxy(format!("proxy fetch failed: {e}")))))
    }
    .boxed()
    .shared();
    flights.insert(key.to_owned(), flight.clone());
    (flight, true)
}

impl ProxyState {
    /// The flight fetching manifest `key`.
    pub(crate) fn manifest(
        &self,
        key: &str,
        start: impl FnOnce() -> BoxFuture<'static, FlightResult<crate::registry::ManifestContent>>,
    ) -> Flight<crate::registry::ManifestContent> {
        join(&self.manifests, key, start).0
    }

    /// The flight fetching blob `key`; whether this call started it.
    pub(crate) fn blob(
        &self,
        key: &str,
        start: impl FnOnce() -> BoxFuture<'static, FlightResult<()>>,
    ) -> (Flight<()>, bool) {
        join(&self.blobs, key, start)
    }

    /// The client of configuration `row`, built by `build` unless one
    /// for the same configuration exists.
    pub(crate) fn client(
        &self,
        row: &ProxyConfigRow,
        build: impl FnOnce() -> Result<Upstream, RegistryError>,
    ) -> Result<Arc<Upstream>, RegistryError> {
        let fingerprint = format!(
            "{}|{}|{}|{:?}|{:?}",
            row.account_id, row.upstream_registry, row.insecure, row.username_sealed, row.password_sealed
        );
        if let Ok(clients) = self.clients.lock()
            && let Some((known, client)) = clients.get(&row.namespace)
            && *known == fingerprint
        {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(build()?);
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(row.namespace.clone(), (fingerprint, Arc::clone(&client)));
        }
        Ok(client)
    }
}
