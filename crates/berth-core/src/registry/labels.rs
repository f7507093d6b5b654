//! The labels (or OCI annotations) a push by tag reads to plan its tag's
//! lifecycle: `quay.expires-after` (an expiry) and `quay.immutable`.

use std::time::Duration;

use berth_oci::{ManifestKind, ParsedManifest};
use futures_util::TryStreamExt;

use super::Registry;
use crate::names::RepositoryName;

/// The label (or annotation) that plans a pushed tag's expiry.
pub const EXPIRES_AFTER_LABEL: &str = "quay.expires-after";
/// The label (or annotation) that makes a pushed tag immutable (`true`).
pub const IMMUTABLE_LABEL: &str = "quay.immutable";

/// Largest image config read for labels; bigger ones are not looked at.
const CONFIG_READ_LIMIT: u64 = 1024 * 1024;

/// Parse a `quay.expires-after` value as Quay does: a whole number and a
/// unit, `s`, `m` (minutes), `h`, `d`, `w` or `y` (365 days). Anything
/// else is `None` (and ignored by the caller).
pub fn parse_expires_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let unit_s: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    n.checked_mul(unit_s).map(Duration::from_secs)
}

/// What a push's labels (or annotations) ask of the tag it sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PushLabels {
    /// `quay.expires-after`: the tag's planned lifetime.
    pub expires_after: Option<Duration>,
    /// `quay.immutable=true`: the tag is immutable.
    pub immutable: bool,
}

impl Registry {
    /// What the labels of a tag pushed with `parsed` ask: its planned
    /// lifetime (`quay.expires-after`) and whether it is immutable
    /// (`quay.immutable=true`), from the image config's labels or, for OCI
    /// manifests, the manifest's annotations (which win). Indexes and
    /// unreadable configs ask nothing; an invalid value is ignored.
    pub(crate) async fn push_labels(&self, repo: &RepositoryName, parsed: &ParsedManifest) -> PushLabels {
        if parsed.kind != ManifestKind::Image {
            return PushLabels::default();
        }
        // Docker schema 2 manifests carry no annotations.
        let annotations = parsed
            .annotations
            .as_deref()
            .filter(|_| parsed.media_type == berth_oci::media_type::OCI_MANIFEST)
            .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok());
        let config = self.config_labels(repo, parsed).await;
        let label = |key: &str| {
            [annotations.as_ref(), config.as_ref()]
                .into_iter()
                .flatten()
                .find_map(|labels| labels.get(key)?.as_str().map(str::to_owned))
        };
        PushLabels {
            expires_after: label(EXPIRES_AFTER_LABEL)
                .as_deref()
                .and_then(parse_expires_after),
            immutable: label(IMMUTABLE_LABEL).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        }
    }

    /// The labels of an image manifest's config, if it is a container image
    /// config small enough to read.
    async fn config_labels(
        &self,
        repo: &RepositoryName,
        parsed: &ParsedManifest,
    ) -> Option<serde_json::Value> {
        let is_image_config = matches!(
            parsed.artifact_type.as_deref(),
            Some(berth_oci::media_type::OCI_IMAGE_CONFIG | berth_oci::media_type::DOCKER_IMAGE_CONFIG)
        );
        // An image manifest's first blob is its config.
        let config = parsed.blobs.first().filter(|_| is_image_config)?;
        let blob = self.open_blob(repo, config).await.ok()?;
        if blob.size() > CONFIG_READ_LIMIT {
            return None;
        }
        let stream = self.read_blob(&blob, None).await.ok()?;
        let chunks: Vec<bytes::Bytes> = stream.try_collect().await.ok()?;
        let bytes = chunks.concat();
        let mut config: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        Some(config.get_mut("config")?.get_mut("Labels")?.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_after_values_parse_like_quay() {
        assert_eq!(parse_expires_after("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_expires_after("20m"), Some(Duration::from_secs(1200)));
        assert_eq!(
            parse_expires_after("3w"),
            Some(Duration::from_secs(3 * 7 * 86_400))
        );
        assert_eq!(parse_expires_after("1y"), Some(Duration::from_secs(365 * 86_400)));
        assert_eq!(parse_expires_after(" 10s "), Some(Duration::from_secs(10)));
        for bad in [
            "",
            "h",
            "2",
            "2x",
            "-1d",
            "1.5h",
            "h2",
            "99999999999999999999y",
            "2é",
        ] {
            assert_eq!(parse_expires_after(bad), None, "{bad}");
        }
    }
}
