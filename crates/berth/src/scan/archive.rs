//! Image archives on disk: an index of a tar file's entries, so each blob
//! is read in place (a seek and a bounded read), and the `docker save`
//! layout (`manifest.json`, config `rootfs.diff_ids`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use berth_oci::{Algorithm, Digest};
use serde::Deserialize;

use super::source::{LayerReader, MANIFEST_LIMIT};

/// Where each member of a tar archive lies.
pub struct TarIndex {
    file: PathBuf,
    /// Member name → (data offset, size).
    entries: HashMap<String, (u64, u64)>,
    /// Symbolic-link members → target name (`docker save` links repeated layers).
    links: HashMap<String, String>,
}

fn clean(name: &str) -> String {
    name.trim_start_matches("./").trim_start_matches('/').to_owned()
}

impl TarIndex {
    /// Read the archive's headers (seeking over member data).
    pub fn open(file: &Path) -> anyhow::Result<TarIndex> {
        let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let mut archive = tar::Archive::new(f);
        let mut entries = HashMap::new();
        let mut links = HashMap::new();
        let members = archive
            .entries_with_seek()
            .with_context(|| format!("reading {}", file.display()))?;
        for member in members {
            let member = member.with_context(|| format!("reading {}", file.display()))?;
            let name = clean(&String::from_utf8_lossy(&member.path_bytes()));
            let kind = member.header().entry_type();
            if kind.is_symlink() {
                if let Some(target) = member.link_name_bytes() {
                    let (dir, _) = name.rsplit_once('/').unwrap_or(("", ""));
                    let target = String::from_utf8_lossy(&target).into_owned();
                    let resolved = if let Some(up) = target.strip_prefix("../") {
                        let parent = dir.rsplit_once('/').map_or("", |(p, _)| p);
                        clean(&format!("{parent}/{up}"))
                    } else {
                        clean(&format!("{dir}/{target}"))
                    };
                    links.insert(name, resolved);
                }
            } else if kind.is_file() {
                entries.insert(name, (member.raw_file_position(), member.size()));
            }
        }
        Ok(TarIndex {
            file: file.to_owned(),
            entries,
            links,
        })
    }

    /// Read one member in place.
    pub fn open_member(&self, name: &str) -> anyhow::Result<LayerReader> {
        let mut name = clean(name);
        for _ in 0..8 {
            match self.links.get(&name) {
                Some(target) => name = target.clone(),
                None => break,
            }
        }
        let (offset, size) = *self
            .entries
            .get(&name)
            .ok_or_else(|| anyhow!("{} has no {name}", self.file.display()))?;
        let mut f = File::open(&self.file).with_context(|| format!("opening {}", self.file.display()))?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(BufReader::with_capacity(256 << 10, f).take(size)))
    }

    /// A small member (JSON), bounded.
    pub fn read_small(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_member(name)?
            .take(MANIFEST_LIMIT as u64 + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() > MANIFEST_LIMIT {
            bail!("{name} is larger than {MANIFEST_LIMIT} bytes");
        }
        Ok(bytes)
    }

    /// A member's size.
    pub fn size(&self, name: &str) -> u64 {
        self.entries.get(&clean(name)).map_or(0, |e| e.1)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct Config {
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// An image of a `docker save` archive: its config digest (the image id)
/// and its layers as (uncompressed digest, member name, size).
pub struct DockerImage {
    pub config: Digest,
    pub layers: Vec<(Digest, String, u64)>,
}

/// Find the image `reference` (a `RepoTags` entry) names, or the only one.
pub fn docker_image(tar: &TarIndex, reference: Option<&str>) -> anyhow::Result<DockerImage> {
    let saved: Vec<SavedImage> =
        serde_json::from_slice(&tar.read_small("manifest.json")?).context("parsing manifest.json")?;
    let image = match reference {
        Some(r) => saved
            .iter()
            .find(|i| {
                i.repo_tags
                    .iter()
                    .any(|t| t == r || t.ends_with(&format!("/{r}")))
            })
            .ok_or_else(|| anyhow!("no image named {r:?} in the archive"))?,
        None if saved.len() == 1 => &saved[0],
        None => bail!(
            "the archive holds {} images: name one with docker-archive:FILE:REF",
            saved.len()
        ),
    };
    let config_bytes = tar.read_small(&image.config)?;
    let config: Config = serde_json::from_slice(&config_bytes).context("parsing the image config")?;
    if config.rootfs.diff_ids.len() != image.layers.len() {
        bail!("the image config and manifest.json disagree on the number of layers");
    }
    let layers = image
        .layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .map(|(name, diff_id)| {
            let digest: Digest = diff_id.parse().with_context(|| format!("diff id {diff_id:?}"))?;
            Ok((digest, name.clone(), tar.size(name)))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(DockerImage {
        config: Digest::of(Algorithm::Sha256, &config_bytes),
        layers,
    })
}
