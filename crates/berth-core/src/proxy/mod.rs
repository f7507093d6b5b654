//! Proxy cache (pull-through), with Quay's API: an organization configured
//! with an upstream registry serves, on a pull of something it lacks, what
//! the upstream has, and keeps it. `config.rs` the configuration and its
//! API operations; `upstream.rs` the upstream's client; `pull.rs` manifests
//! and blobs through the cache; `flight.rs` one upstream fetch per digest
//! however many clients ask at once.

mod config;
mod flight;
mod pull;
pub mod upstream;

pub use config::{ProxyCacheInput, ProxyCacheView, UpstreamRegistry};
pub use pull::ClientBlob;

pub(crate) use flight::ProxyState;
