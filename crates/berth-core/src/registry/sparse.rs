//! Sparse indexes (`FEATURE_SPARSE_INDEX`): an index stored with its
//! upstream bytes and digest while some of its child manifests are absent.
//! An absent child is recorded as a reference like any other, so garbage
//! collection keeps it once it is pushed, and it adds no blobs to quotas
//! or to what GC keeps while it is absent; a pull of it answers 404.
//!
//! Which children may be absent follows Quay: a client's push may leave
//! out children whose architecture is not in `SPARSE_INDEX_REQUIRED_ARCHS`
//! (none when that list is empty), and a mirror with an
//! `architecture_filter` leaves out those outside the filter.

use berth_oci::{Digest, ManifestKind, ParsedManifest};

use super::Registry;
use super::mirror::ARCHITECTURES;

/// The sparse-index settings (`FEATURE_SPARSE_INDEX`,
/// `SPARSE_INDEX_REQUIRED_ARCHS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseIndexSettings {
    /// Whether an index may be stored with children absent.
    pub enabled: bool,
    /// Architectures a client's push must include; the others may be
    /// absent. Empty: every child is required of a client's push.
    pub required_architectures: Vec<String>,
}

/// Which children of an index a push may leave absent.
#[derive(Debug, Clone, Copy)]
pub enum ChildRule<'a> {
    /// None: every child must be stored first.
    Complete,
    /// A client's push: children of an architecture outside
    /// `SPARSE_INDEX_REQUIRED_ARCHS`, when that list is set.
    Client,
    /// The mirror worker under an `architecture_filter`: children of an
    /// architecture outside the filter.
    Filter(&'a [String]),
}

/// What the registry supports (Quay's `GET /api/v1/registry/capabilities`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Whether sparse indexes are accepted.
    pub sparse_supported: bool,
    /// Architectures a client's push must include (empty when sparse
    /// indexes are off).
    pub required_architectures: Vec<String>,
    /// Whether a client's push may leave some architectures out.
    pub optional_architectures_allowed: bool,
    /// Architectures a mirror's `architecture_filter` may name, sorted.
    pub mirror_architectures: Vec<String>,
}

impl Registry {
    /// The digests among `parsed`'s children that `rule` lets be absent.
    /// A child without a platform architecture is always required.
    pub(crate) fn optional_children(&self, parsed: &ParsedManifest, rule: ChildRule<'_>) -> Vec<Digest> {
        let settings = &self.config.sparse_index;
        if !settings.enabled || parsed.kind != ManifestKind::Index {
            return Vec::new();
        }
        let kept: &[String] = match rule {
            ChildRule::Complete => return Vec::new(),
            ChildRule::Client if settings.required_architectures.is_empty() => return Vec::new(),
            ChildRule::Client => &settings.required_architectures,
            ChildRule::Filter(filter) => filter,
        };
        parsed
            .children
            .iter()
            .zip(&parsed.child_architectures)
            .filter(|(_, arch)| arch.as_ref().is_some_and(|a| !kept.contains(a)))
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// What the registry supports, for clients and mirror tools.
    pub fn capabilities(&self) -> Capabilities {
        let settings = &self.config.sparse_index;
        let required = if settings.enabled {
            settings.required_architectures.clone()
        } else {
            Vec::new()
        };
        let mut mirror_architectures: Vec<String> = ARCHITECTURES.iter().map(|a| (*a).to_owned()).collect();
        mirror_architectures.sort();
        Capabilities {
            sparse_supported: settings.enabled,
            optional_architectures_allowed: settings.enabled && !required.is_empty(),
            required_architectures: required,
            mirror_architectures,
        }
    }
}
