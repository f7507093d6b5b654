//! A manifest as people look at it: its layers and sizes, the commands of
//! its config's history, the platforms of an index (each a child
//! manifest), and the artifacts that refer to it (signatures, SBOMs).
//! Those who may pull the repository may look; looking is not a pull, so
//! it is neither counted nor logged.

use berth_oci::Digest;
use futures_util::StreamExt;
use serde::Deserialize;

use super::{ClientError, Registry, RegistryError};
use crate::identity::Action;
use crate::{Caller, RepositoryName};

/// The largest config blob read for its history; larger configs are shown
/// without one.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// A blob a manifest references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes, as the manifest states it.
    pub size: i64,
}

/// One step of an image config's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryStep {
    /// The command that made it (`created_by`).
    pub created_by: String,
    /// When, as the config says it (RFC 3339).
    pub created: Option<String>,
    /// Whether the step made no layer.
    pub empty_layer: bool,
    /// The step's comment.
    pub comment: Option<String>,
}

/// One manifest of an index, for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEntry {
    /// The child manifest's digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// `os/architecture[/variant]`, or empty when the index names none.
    pub platform: String,
}

/// An artifact whose subject is the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerEntry {
    /// The referrer's digest.
    pub digest: String,
    /// Its artifact type (a signature's, an SBOM's), if any.
    pub artifact_type: Option<String>,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: i64,
}

/// What a manifest holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestDetails {
    /// The manifest's digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its own size in bytes.
    pub size: i64,
    /// Whether it is an index (a manifest list).
    pub is_index: bool,
    /// `artifactType`, or an image's config media type.
    pub artifact_type: Option<String>,
    /// The config blob, for an image.
    pub config: Option<BlobEntry>,
    /// The layers, bottom first.
    pub layers: Vec<BlobEntry>,
    /// The config's history (empty when it has none or is unreadable).
    pub history: Vec<HistoryStep>,
    /// `os/architecture` of an image, from its config.
    pub platform: Option<String>,
    /// An index's manifests.
    pub platforms: Vec<PlatformEntry>,
    /// The manifest this one refers to, if it is an artifact about another.
    pub subject: Option<String>,
    /// Artifacts about this manifest.
    pub referrers: Vec<ReferrerEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl RawPlatform {
    fn text(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{v}", self.os, self.architecture),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    history: Vec<RawHistory>,
}

#[derive(Deserialize)]
struct RawHistory {
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    empty_layer: bool,
    #[serde(default)]
    comment: Option<String>,
}

impl From<RawDescriptor> for BlobEntry {
    fn from(d: RawDescriptor) -> Self {
        BlobEntry {
            digest: d.digest,
            media_type: d.media_type,
            size: d.size,
        }
    }
}

impl Registry {
    /// Manifest `digest` of `repo` with its layers, history, platforms and
    /// referrers, for those who may pull the repository.
    pub async fn manifest_details(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<ManifestDetails, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Pull(repo.as_str()))
            .await?;
        if self.existing_repo(repo).await?.is_none() {
            return Err(RegistryError::NameUnknown.into());
        }
        let key = digest.to_string();
        let Some(row) = self.db.manifest_by_digest(repo.as_str(), &key).await? else {
            return Err(ClientError::NotFound(format!("No such manifest: {key}")));
        };
        let parsed = berth_oci::ParsedManifest::parse(&row.content, Some(&row.media_type))
            .map_err(|e| RegistryError::Internal(berth_store::StoreError::Corrupt(e.to_string())))?;
        // Stored manifests were validated at push; a shape this reader does
        // not know shows as having no layers rather than failing the page.
        let raw: RawManifest = serde_json::from_slice(&row.content).unwrap_or(RawManifest {
            config: None,
            layers: Vec::new(),
            manifests: Vec::new(),
        });
        let is_index = parsed.kind == berth_oci::ManifestKind::Index;
        let config = raw.config.map(BlobEntry::from);
        let (history, platform) = match &config {
            Some(c) if super::manifests::is_image(&parsed) => self.read_config(repo, c).await,
            _ => (Vec::new(), None),
        };
        let platforms = raw
            .manifests
            .into_iter()
            .map(|m| PlatformEntry {
                platform: m.platform.as_ref().map(RawPlatform::text).unwrap_or_default(),
                digest: m.digest,
                media_type: m.media_type,
                size: m.size,
            })
            .collect();
        let referrers = self
            .referrers(repo, digest, None)
            .await?
            .into_iter()
            .map(|r| ReferrerEntry {
                digest: r.digest,
                artifact_type: r.artifact_type,
                media_type: r.media_type,
                size: r.size,
            })
            .collect();
        Ok(ManifestDetails {
            size: row.content.len() as i64,
            digest: key,
            media_type: parsed.media_type,
            is_index,
            artifact_type: parsed.artifact_type,
            config,
            layers: raw.layers.into_iter().map(BlobEntry::from).collect(),
            history,
            platform,
            platforms,
            subject: parsed.subject.map(|s| s.to_string()),
            referrers,
        })
    }

    /// The history and platform an image config states; nothing when the
    /// config is missing, too large or not JSON (the page still shows the
    /// layers).
    async fn read_config(
        &self,
        repo: &RepositoryName,
        config: &BlobEntry,
    ) -> (Vec<HistoryStep>, Option<String>) {
        let Ok(digest) = config.digest.parse::<Digest>() else {
            return (Vec::new(), None);
        };
        let Ok(blob) = self.open_blob(repo, &digest).await else {
            return (Vec::new(), None);
        };
        if blob.size() > MAX_CONFIG_BYTES {
            return (Vec::new(), None);
        }
        let Ok(mut stream) = self.read_blob(&blob, None).await else {
            return (Vec::new(), None);
        };
        let mut bytes = Vec::with_capacity(blob.size() as usize);
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) if (bytes.len() + c.len()) as u64 <= MAX_CONFIG_BYTES => bytes.extend_from_slice(&c),
                _ => return (Vec::new(), None),
            }
        }
        let Ok(parsed) = serde_json::from_slice::<RawConfig>(&bytes) else {
            return (Vec::new(), None);
        };
        let platform = (!parsed.os.is_empty()).then(|| {
            RawPlatform {
                os: parsed.os.clone(),
                architecture: parsed.architecture.clone(),
                variant: parsed.variant.clone(),
            }
            .text()
        });
        let history = parsed
            .history
            .into_iter()
            .map(|h| HistoryStep {
                created_by: h.created_by.unwrap_or_default(),
                created: h.created,
                empty_layer: h.empty_layer,
                comment: h.comment,
            })
            .collect();
        (history, platform)
    }
}
