//! Domain services of Berth: the registry itself (uploads, blobs,
//! manifests, tags), built on `berth-store` and `berth-oci`; identity and
//! access (accounts, permissions, tokens, the access policy, the usage log);
//! the background indexer of pushed images (with `berth-scan`); event
//! notifications and their delivery; the guard on outbound requests; and
//! the metrics of what happens in them. Nothing of HTTP.

pub mod caller;
pub mod crypto;
pub mod duration;
pub mod identity;
pub mod indexer;
pub mod metrics;
pub mod names;
pub mod notify;
pub mod proxy;
pub mod registry;
pub mod ssrf;
pub mod upstream;
pub mod vulns;

/// A stream of body bytes, as uploads take them and blob reads give them.
pub use berth_store::ByteStream;
pub use caller::Caller;
pub use identity::{Identity, IdentityConfig, IdentityError};
pub use indexer::{IndexError, Indexer};
pub use names::{AccountKind, InvalidName, Namespace, RepositoryName, TagName, Visibility};
pub use notify::{Notifier, NotifyConfig};
pub use registry::{Registry, RegistryConfig, RegistryError};

/// The clock every timestamp is taken from: milliseconds since the epoch.
pub use berth_store::now_ms;
