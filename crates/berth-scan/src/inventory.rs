//! Stacking indexed layers into the image's final inventory: whiteouts and
//! opaque directories hide lower content, the topmost version of each path
//! wins, and each package is attributed to the layer that introduced it.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use berth_oci::Digest;
use serde::{Deserialize, Serialize};

use crate::distro::{self, Distribution};
use crate::layer::{Finding, LayerIndex};
use crate::package::Package;
use crate::path::is_within;

/// One package of the final image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEntry {
    /// The package.
    #[serde(flatten)]
    pub package: Package,
    /// The file it was found in, absolute (`/var/lib/dpkg/status`).
    pub path: String,
    /// Digest of the layer that introduced this package at this version.
    pub layer: String,
}

/// How indexing one layer went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerOutcome {
    /// The layer's digest.
    pub digest: String,
    /// Why the layer could not be indexed; its content is then ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files that looked like package metadata but did not parse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Everything known about an image's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The distribution, if a release file says.
    pub distribution: Option<Distribution>,
    /// Packages of the final filesystem, sorted by ecosystem, name, version.
    pub packages: Vec<InventoryEntry>,
    /// Per-layer outcome, bottom layer first.
    pub layers: Vec<LayerOutcome>,
    /// Problems of the merged filesystem (e.g. a link loop across layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Inventory {
    /// Whether any layer failed to index.
    pub fn has_layer_errors(&self) -> bool {
        self.layers.iter().any(|l| l.error.is_some())
    }
}

/// One version of a path, written by the layer at index `layer`.
struct Version<'a> {
    layer: usize,
    finding: &'a Finding,
}

/// Stack indexed layers (bottom first) into the image inventory. A failed
/// layer contributes nothing and is reported in [`Inventory::layers`] (its
/// error may be a [`crate::LayerError`] or one stored earlier as text).
pub fn assemble<E: std::fmt::Display>(layers: &[(Digest, Result<LayerIndex, E>)]) -> Inventory {
    let mut view: BTreeMap<&str, Vec<Version<'_>>> = BTreeMap::new();
    let mut outcomes = Vec::with_capacity(layers.len());
    for (i, (digest, result)) in layers.iter().enumerate() {
        let index = match result {
            Ok(index) => index,
            Err(e) => {
                outcomes.push(LayerOutcome {
                    digest: digest.to_string(),
                    error: Some(e.to_string()),
                    warnings: Vec::new(),
                });
                continue;
            }
        };
        outcomes.push(LayerOutcome {
            digest: digest.to_string(),
            error: None,
            warnings: index.warnings.clone(),
        });
        for dir in index.opaque_dirs.iter().chain(&index.whiteouts) {
            for key in keys_within(&view, dir) {
                view.remove(key);
            }
        }
        for (path, finding) in &index.files {
            view.entry(path.as_str())
                .or_default()
                .push(Version { layer: i, finding });
        }
    }

    let mut packages = Vec::new();
    for (path, versions) in &view {
        let Some(Version {
            layer: top,
            finding: Finding::Packages(found),
        }) = versions.last()
        else {
            continue;
        };
        // Sets of the same file's earlier versions, newest first, as long as
        // each one held packages.
        let earlier: Vec<(usize, HashSet<&Package>)> = versions
            .iter()
            .rev()
            .skip(1)
            .map_while(|v| match v.finding {
                Finding::Packages(ps) => Some((v.layer, ps.iter().collect())),
                _ => None,
            })
            .collect();
        for package in found {
            let introduced = earlier
                .iter()
                .take_while(|(_, set)| set.contains(package))
                .last()
                .map_or(*top, |(layer, _)| *layer);
            packages.push(InventoryEntry {
                package: package.clone(),
                path: format!("/{path}"),
                layer: layers[introduced].0.to_string(),
            });
        }
    }
    packages.sort_by(|a, b| a.package.cmp(&b.package).then_with(|| a.path.cmp(&b.path)));

    let mut warnings = Vec::new();
    let top = |p: &str| view.get(p).and_then(|v| v.last()).map(|v| v.finding);
    let distribution = match distro::detect(top) {
        Ok(d) => d,
        Err(e) => {
            warnings.push(e.to_string());
            None
        }
    };
    Inventory {
        distribution,
        packages,
        layers: outcomes,
        warnings,
    }
}

/// Keys equal to `dir` or below it; they are contiguous in sorted order
/// except for siblings such as `dir.d` that sort between, hence the filter.
fn keys_within<'a, V>(map: &BTreeMap<&'a str, V>, dir: &str) -> Vec<&'a str> {
    if dir.is_empty() {
        return map.keys().copied().collect();
    }
    map.range::<str, _>((Bound::Included(dir), Bound::Unbounded))
        .take_while(|(k, _)| k.starts_with(dir))
        .filter(|(k, _)| is_within(k, dir))
        .map(|(k, _)| *k)
        .collect()
}
