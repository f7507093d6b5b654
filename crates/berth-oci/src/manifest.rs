//! Manifest parsing and validation. The raw bytes are never re-serialized:
//! parsing only extracts what the registry must check and record.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;
use crate::media_type::{self, essence};

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    /// A field holds a value the spec does not allow.
    #[error("{0}")]
    Invalid(String),
    /// A manifest format we deliberately do not accept.
    #[error("unsupported manifest media type {0:?}")]
    Unsupported(String),
}

/// Whether a manifest describes one image/artifact or a list of manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// OCI image manifest or Docker schema 2 manifest.
    Image,
    /// OCI image index or Docker manifest list.
    Index,
}

/// A content descriptor as it appears inside a manifest.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content (validated after parsing).
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
    /// Artifact type, when the referenced content is an artifact.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// External URLs (non-distributable layers).
    #[serde(default)]
    pub urls: Option<Vec<String>>,
    /// The platform of an index entry.
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// The platform an index entry is built for (only what the registry reads).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, ...).
    #[serde(default)]
    pub architecture: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// What the registry needs to know about a pushed manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedManifest {
    /// The effective media type (body's `mediaType`, else the request's).
    pub media_type: String,
    /// Image or index.
    pub kind: ManifestKind,
    /// Blobs that must exist in the repository (config and layers).
    pub blobs: Vec<Digest>,
    /// Child manifests that must exist in the repository (index entries).
    pub children: Vec<Digest>,
    /// The platform architecture of each of `children`, in their order.
    pub child_architectures: Vec<Option<String>>,
    /// The manifest this one refers to (referrers API).
    pub subject: Option<Digest>,
    /// `artifactType`, or for an image manifest its config media type.
    pub artifact_type: Option<String>,
    /// The manifest's own annotations, as JSON, for referrer descriptors.
    pub annotations: Option<String>,
}

impl ParsedManifest {
    /// Parse and validate raw manifest bytes pushed with `content_type`.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<ParsedManifest, ManifestError> {
        let raw: RawManifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        let header_type = content_type
            .map(essence)
            .filter(|t| !t.is_empty() && is_manifest_type(t));
        if let Some(t) = content_type.map(essence)
            && (t == media_type::DOCKER_SCHEMA1 || t == media_type::DOCKER_SCHEMA1_SIGNED)
        {
            return Err(ManifestError::Unsupported(t.to_owned()));
        }
        if raw.schema_version != Some(2) {
            return Err(ManifestError::Invalid("schemaVersion must be 2".into()));
        }
        let media_type = match (&raw.media_type, header_type) {
            (Some(body), Some(header)) if body != header => {
                return Err(ManifestError::Invalid(format!(
                    "mediaType {body:?} does not match Content-Type {header:?}"
                )));
            }
            (Some(body), _) => body.clone(),
            (None, Some(header)) => header.to_owned(),
            (None, None) if raw.manifests.is_some() => media_type::OCI_INDEX.to_owned(),
            (None, None) => media_type::OCI_MANIFEST.to_owned(),
        };
        let kind = match media_type.as_str() {
            media_type::OCI_MANIFEST | media_type::DOCKER_MANIFEST => ManifestKind::Image,
            media_type::OCI_INDEX | media_type::DOCKER_MANIFEST_LIST => ManifestKind::Index,
            other => return Err(ManifestError::Unsupported(other.to_owned())),
        };
        let subject = raw
            .subject
            .as_ref()
            .map(|d| parse_descriptor_digest(d, "subject"))
            .transpose()?;
        let annotations = match &raw.annotations {
            Some(a) if !a.is_empty() => {
                Some(serde_json::to_string(a).map_err(|e| ManifestError::Json(e.to_string()))?)
            }
            _ => None,
        };
        let mut parsed = ParsedManifest {
            media_type,
            kind,
            blobs: Vec::new(),
            children: Vec::new(),
            child_architectures: Vec::new(),
            subject,
            artifact_type: raw.artifact_type.clone(),
            annotations,
        };
        match kind {
            ManifestKind::Image => {
                if raw.manifests.is_some() {
                    return Err(ManifestError::Invalid(
                        "an image manifest has no 'manifests' field".into(),
                    ));
                }
                let config = raw
                    .config
                    .as_ref()
                    .ok_or_else(|| ManifestError::Invalid("image manifest requires 'config'".into()))?;
                parsed.blobs.push(parse_descriptor_digest(config, "config")?);
                for layer in raw.layers.iter().flatten() {
                    let digest = parse_descriptor_digest(layer, "layer")?;
                    if !media_type::is_non_distributable(&layer.media_type) {
                        parsed.blobs.push(digest);
                    }
                }
                if parsed.artifact_type.is_none() {
                    parsed.artifact_type = Some(config.media_type.clone());
                }
            }
            ManifestKind::Index => {
                if raw.config.is_some() || raw.layers.is_some() {
                    return Err(ManifestError::Invalid(
                        "an index has no 'config' or 'layers' field".into(),
                    ));
                }
                let manifests = raw
                    .manifests
                    .as_ref()
                    .ok_or_else(|| ManifestError::Invalid("index requires 'manifests'".into()))?;
                for m in manifests {
                    parsed
                        .children
                        .push(parse_descriptor_digest(m, "manifests entry")?);
                    parsed
                        .child_architectures
                        .push(m.platform.as_ref().and_then(|p| p.architecture.clone()));
                }
            }
        }
        Ok(parsed)
    }
}

/// Whether a media type names a manifest format (as opposed to e.g.
/// `application/json` or `application/octet-stream` sent by simple clients).
pub fn is_manifest_type(t: &str) -> bool {
    matches!(
        t,
        media_type::OCI_MANIFEST
            | media_type::OCI_INDEX
            | media_type::DOCKER_MANIFEST
            | media_type::DOCKER_MANIFEST_LIST
    )
}

fn parse_descriptor_digest(d: &Descriptor, what: &str) -> Result<Digest, ManifestError> {
    if d.size < 0 {
        return Err(ManifestError::Invalid(format!(
            "{what} descriptor has a negative size"
        )));
    }
    if d.media_type.is_empty() {
        return Err(ManifestError::Invalid(format!(
            "{what} descriptor has no mediaType"
        )));
    }
    d.digest
        .parse()
        .map_err(|e| ManifestError::Invalid(format!("{what} descriptor digest {:?}: {e}", d.digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":3}}]{extra}}}"#,
            media_type::OCI_MANIFEST
        )
    }

    #[test]
    fn image_manifest_lists_its_blobs() {
        let p = ParsedManifest::parse(image("").as_bytes(), Some(media_type::OCI_MANIFEST)).unwrap();
        assert_eq!(p.kind, ManifestKind::Image);
        assert_eq!(p.blobs.len(), 2);
        assert_eq!(
            p.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn subject_and_annotations_are_recorded() {
        let extra = format!(
            r#","subject":{{"mediaType":"{}","digest":"{D2}","size":1}},"annotations":{{"a":"b"}},"artifactType":"x/y""#,
            media_type::OCI_MANIFEST
        );
        let p = ParsedManifest::parse(image(&extra).as_bytes(), None).unwrap();
        assert_eq!(p.subject.unwrap().to_string(), D2);
        assert_eq!(p.annotations.as_deref(), Some(r#"{"a":"b"}"#));
        assert_eq!(p.artifact_type.as_deref(), Some("x/y"));
    }

    #[test]
    fn index_lists_children() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{0}","digest":"{D1}","size":5,"platform":{{"architecture":"arm64","os":"linux"}}}},{{"mediaType":"{0}","digest":"{D2}","size":5}}]}}"#,
            media_type::OCI_MANIFEST
        );
        let p = ParsedManifest::parse(body.as_bytes(), Some(media_type::OCI_INDEX)).unwrap();
        assert_eq!(p.kind, ManifestKind::Index);
        assert_eq!(p.children.len(), 2);
        assert_eq!(p.child_architectures, [Some("arm64".to_owned()), None]);
    }

    #[test]
    fn refuses_bad_manifests() {
        assert!(matches!(
            ParsedManifest::parse(b"{", None),
            Err(ManifestError::Json(_))
        ));
        assert!(matches!(
            ParsedManifest::parse(b"[]", None),
            Err(ManifestError::Json(_))
        ));
        assert!(matches!(
            ParsedManifest::parse(br#"{"schemaVersion":1}"#, None),
            Err(ManifestError::Invalid(_))
        ));
        // Content-Type disagrees with the body.
        assert!(matches!(
            ParsedManifest::parse(image("").as_bytes(), Some(media_type::DOCKER_MANIFEST)),
            Err(ManifestError::Invalid(_))
        ));
        let bad_digest = image("").replace(D2, "sha256:nothex");
        assert!(matches!(
            ParsedManifest::parse(bad_digest.as_bytes(), None),
            Err(ManifestError::Invalid(_))
        ));
        let no_config = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","layers":[]}}"#,
            media_type::OCI_MANIFEST
        );
        assert!(matches!(
            ParsedManifest::parse(no_config.as_bytes(), None),
            Err(ManifestError::Invalid(_))
        ));
        assert!(matches!(
            ParsedManifest::parse(br#"{"schemaVersion":2,"mediaType":"text/plain"}"#, None),
            Err(ManifestError::Unsupported(_))
        ));
    }

    #[test]
    fn non_distributable_layers_are_not_required() {
        let m = image("").replace(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        );
        let p = ParsedManifest::parse(m.as_bytes(), None).unwrap();
        assert_eq!(p.blobs.len(), 1);
    }
}
