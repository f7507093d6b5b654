//! The image indexer: reads container image layers (tar, optionally gzip or
//! zstd compressed) from any `Read`, applies whiteouts and opaque
//! directories, and reports every installed package with the layer that
//! introduced it. Nothing is extracted to disk; every layer is hostile input
//! bounded by [`Limits`], and a bad layer yields an error for that layer only.

mod cache;
pub mod detect;
pub mod distro;
mod error;
mod inventory;
mod layer;
mod limits;
mod package;
mod path;
pub mod version;

pub use cache::{DirCache, INDEX_FORMAT};
pub use distro::Distribution;
pub use error::{LayerError, LimitKind};
pub use inventory::{Inventory, InventoryEntry, LayerOutcome, assemble};
pub use layer::{Finding, LayerIndex, index_layer};
pub use limits::Limits;
pub use package::{Ecosystem, Package, SourcePackage};
