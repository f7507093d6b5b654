//! Metadata queries, one module per concept. Each is an `impl Db` block whose
//! SQL runs unchanged on SQLite and PostgreSQL.

mod blobs;
mod manifests;
mod repositories;
mod scan;
mod tags;
mod uploads;

pub use blobs::{BlobRow, CommitBlob};
pub use manifests::{ManifestRow, NewManifest, PutManifest, ReferrerRow};
pub use scan::ScanJob;
pub use uploads::{Claim, Lease, UploadRow};
