//! Where images come from: an OCI layout (a directory or a tar archive), a
//! `docker save` archive or a registry, named with the container tools'
//! transports (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
//! `docker-archive:FILE[:REF]`, `docker://HOST/REPO[:TAG|@DIGEST]`).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, anyhow, bail};
use berth_oci::Digest;
use serde::Deserialize;

use super::archive::{self, DockerImage, TarIndex};
use super::registry::Registry;

/// A layer's bytes, read on a blocking thread.
pub type LayerReader = Box<dyn Read + Send>;

/// Largest manifest or index accepted (as the registry's default).
pub(super) const MANIFEST_LIMIT: usize = 4 << 20;
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A parsed image name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `oci:DIR[:TAG]`.
    Oci { dir: PathBuf, tag: Option<String> },
    /// `oci-archive:FILE[:TAG]`.
    OciArchive { file: PathBuf, tag: Option<String> },
    /// `docker-archive:FILE[:REF]`.
    DockerArchive {
        file: PathBuf,
        reference: Option<String>,
    },
    /// `docker://HOST/REPO[:TAG|@DIGEST]`.
    Registry {
        host: String,
        repo: String,
        reference: String,
    },
}

impl FromStr for ImageRef {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = match rest.split_once(':') {
                Some((d, t)) => (d, Some(t.to_owned())),
                None => (rest, None),
            };
            if dir.is_empty() {
                bail!("oci: needs a directory, as in oci:/path/to/layout:tag");
            }
            return Ok(ImageRef::Oci { dir: dir.into(), tag });
        }
        for (prefix, docker) in [("oci-archive:", false), ("docker-archive:", true)] {
            if let Some(rest) = s.strip_prefix(prefix) {
                let (file, name) = match rest.split_once(':') {
                    Some((f, n)) => (f, Some(n.to_owned())),
                    None => (rest, None),
                };
                if file.is_empty() {
                    bail!("{prefix} needs a file, as in {prefix}/path/to/image.tar");
                }
                let file = PathBuf::from(file);
                return Ok(if docker {
                    ImageRef::DockerArchive {
                        file,
                        reference: name,
                    }
                } else {
                    ImageRef::OciArchive { file, tag: name }
                });
            }
        }
        if let Some(rest) = s.strip_prefix("docker://") {
            let (host, path) = rest.split_once('/').ok_or_else(|| {
                anyhow!("docker:// needs HOST/REPO[:TAG], e.g. docker://127.0.0.1:5000/app:v1")
            })?;
            let (repo, reference) = if let Some((r, d)) = path.split_once('@') {
                d.parse::<Digest>().with_context(|| format!("digest {d:?}"))?;
                (r, d.to_owned())
            } else {
                match path.rsplit_once(':') {
                    Some((r, t)) if !t.contains('/') => {
                        berth_oci::validate_tag(t).with_context(|| format!("tag {t:?}"))?;
                        (r, t.to_owned())
                    }
                    _ => (path, "latest".to_owned()),
                }
            };
            berth_oci::validate_repository(repo).with_context(|| format!("repository {repo:?}"))?;
            return Ok(ImageRef::Registry {
                host: host.to_owned(),
                repo: repo.to_owned(),
                reference,
            });
        }
        bail!(
            "unsupported image name {s:?}: use oci:DIR[:TAG], oci-archive:FILE[:TAG], \
             docker-archive:FILE[:REF] or docker://HOST/REPO[:TAG]"
        )
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Oci { dir, tag: Some(t) } => write!(f, "oci:{}:{t}", dir.display()),
            ImageRef::Oci { dir, tag: None } => write!(f, "oci:{}", dir.display()),
            ImageRef::OciArchive { file, tag: Some(t) } => write!(f, "oci-archive:{}:{t}", file.display()),
            ImageRef::OciArchive { file, tag: None } => write!(f, "oci-archive:{}", file.display()),
            ImageRef::DockerArchive {
                file,
                reference: Some(r),
            } => {
                write!(f, "docker-archive:{}:{r}", file.display())
            }
            ImageRef::DockerArchive {
                file,
                reference: None,
            } => write!(f, "docker-archive:{}", file.display()),
            ImageRef::Registry {
                host,
                repo,
                reference,
            } if reference.contains(':') => {
                write!(f, "docker://{host}/{repo}@{reference}")
            }
            ImageRef::Registry {
                host,
                repo,
                reference,
            } => write!(f, "docker://{host}/{repo}:{reference}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
}

/// The image manifest chosen for this host, with its layers bottom first.
pub struct Manifest {
    /// Digest of the image manifest.
    pub digest: Digest,
    /// Layers (digest, size in bytes), bottom layer first.
    pub layers: Vec<(Digest, u64)>,
}

/// Files of a local OCI layout: a directory, or a tar archive of one.
pub enum Layout {
    /// `oci:` a directory.
    Dir(PathBuf),
    /// `oci-archive:` a tar file.
    Archive(TarIndex),
}

impl Layout {
    fn open(&self, name: &str) -> anyhow::Result<LayerReader> {
        match self {
            Layout::Dir(dir) => {
                let path = dir.join(name);
                let file =
                    std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
                Ok(Box::new(std::io::BufReader::with_capacity(256 << 10, file)))
            }
            Layout::Archive(tar) => tar.open_member(name),
        }
    }

    fn describe(&self) -> String {
        match self {
            Layout::Dir(dir) => dir.display().to_string(),
            Layout::Archive(_) => "the archive".into(),
        }
    }
}

/// An opened image source.
pub enum Source {
    /// An OCI layout (directory or archive).
    Oci { layout: Layout, tag: Option<String> },
    /// A `docker save` archive.
    DockerArchive { tar: TarIndex, image: DockerImage },
    /// A registry speaking the distribution API.
    Registry(Registry),
}

impl Source {
    /// Open a source; for a registry, decide on the scheme and credentials.
    pub async fn open(image: &ImageRef, creds: Option<&str>, tls_verify: bool) -> anyhow::Result<Source> {
        Ok(match image {
            ImageRef::Oci { dir, tag } => Source::Oci {
                layout: Layout::Dir(dir.clone()),
                tag: tag.clone(),
            },
            ImageRef::OciArchive { file, tag } => Source::Oci {
                layout: Layout::Archive(TarIndex::open(file)?),
                tag: tag.clone(),
            },
            ImageRef::DockerArchive { file, reference } => {
                let tar = TarIndex::open(file)?;
                let image = archive::docker_image(&tar, reference.as_deref())?;
                Source::DockerArchive { tar, image }
            }
            ImageRef::Registry {
                host,
                repo,
                reference,
            } => Source::Registry(Registry::connect(host, repo, reference, creds, tls_verify).await?),
        })
    }

    /// Resolve the image manifest (through an index, for this platform).
    pub async fn manifest(&self) -> anyhow::Result<Manifest> {
        let (mut digest, mut bytes) = match self {
            Source::DockerArchive { image, .. } => {
                return Ok(Manifest {
                    digest: image.config.clone(),
                    layers: image
                        .layers
                        .iter()
                        .map(|(d, _, size)| (d.clone(), *size))
                        .collect(),
                });
            }
            Source::Oci { layout, tag } => {
                let mut index_bytes = Vec::new();
                layout
                    .open("index.json")?
                    .take(MANIFEST_LIMIT as u64)
                    .read_to_end(&mut index_bytes)
                    .with_context(|| format!("reading index.json of {}", layout.describe()))?;
                let index: RawManifest =
                    serde_json::from_slice(&index_bytes).context("parsing index.json")?;
                let entries = index.manifests.unwrap_or_default();
                let chosen = match tag {
                    Some(t) => entries
                        .iter()
                        .find(|d| d.annotations.get(REF_NAME) == Some(t))
                        .ok_or_else(|| anyhow!("no image tagged {t:?} in {}", layout.describe()))?,
                    None if entries.len() == 1 => &entries[0],
                    None => bail!(
                        "{} holds {} images: name one with a tag",
                        layout.describe(),
                        entries.len()
                    ),
                };
                let digest: Digest = chosen.digest.parse().context("manifest digest in index.json")?;
                let bytes = self.blob_bytes(&digest).await?;
                (digest, bytes)
            }
            Source::Registry(r) => r.manifest(&r.reference).await?,
        };
        for _ in 0..2 {
            let raw: RawManifest = serde_json::from_slice(&bytes).context("parsing manifest")?;
            if let Some(layers) = raw.layers {
                let layers = layers
                    .iter()
                    .map(|l| {
                        let d = l.digest.parse::<Digest>();
                        d.map(|d| (d, l.size))
                            .with_context(|| format!("layer digest {:?}", l.digest))
                    })
                    .collect::<anyhow::Result<_>>()?;
                return Ok(Manifest { digest, layers });
            }
            let entries = raw
                .manifests
                .ok_or_else(|| anyhow!("{digest} is neither an image nor an index"))?;
            let child = pick_platform(&entries)?;
            digest = child.digest.parse().context("manifest digest in index")?;
            bytes = match self {
                Source::Registry(r) => r.manifest(&digest.to_string()).await?.1,
                _ => self.blob_bytes(&digest).await?,
            };
        }
        bail!("index nested in an index is not supported")
    }

    async fn blob_bytes(&self, digest: &Digest) -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let reader = self.layer(digest).await?;
        reader
            .take(MANIFEST_LIMIT as u64 + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {digest}"))?;
        if bytes.len() > MANIFEST_LIMIT {
            bail!("manifest {digest} is larger than {MANIFEST_LIMIT} bytes");
        }
        if Digest::of(digest.algorithm(), &bytes) != *digest {
            bail!("manifest {digest} does not match its digest");
        }
        Ok(bytes)
    }

    /// Open a blob for reading (its digest is checked by the caller).
    pub async fn layer(&self, digest: &Digest) -> anyhow::Result<LayerReader> {
        match self {
            Source::Oci { layout, .. } => {
                layout.open(&format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex()))
            }
            Source::DockerArchive { tar, image } => {
                let (_, name, _) = image
                    .layers
                    .iter()
                    .find(|(d, ..)| d == digest)
                    .ok_or_else(|| anyhow!("no layer {digest} in the archive"))?;
                tar.open_member(name)
            }
            Source::Registry(r) => r.blob(digest).await,
        }
    }
}

/// The manifest for this machine's platform (linux and the host CPU).
fn pick_platform(entries: &[RawDescriptor]) -> anyhow::Result<&RawDescriptor> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let image_entries = || entries.iter().filter(|e| !e.media_type.contains("attestation"));
    image_entries()
        .find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .or_else(|| image_entries().find(|e| e.platform.is_none()))
        .ok_or_else(|| anyhow!("the index has no linux/{arch} image"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_transport_names() {
        assert_eq!(
            "oci:/tmp/layout:v1".parse::<ImageRef>().unwrap(),
            ImageRef::Oci {
                dir: "/tmp/layout".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            "docker://127.0.0.1:5000/org/app:v2".parse::<ImageRef>().unwrap(),
            ImageRef::Registry {
                host: "127.0.0.1:5000".into(),
                repo: "org/app".into(),
                reference: "v2".into()
            }
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r: ImageRef = format!("docker://[::1]:5000/app@{d}").parse().unwrap();
        assert_eq!(r.to_string(), format!("docker://[::1]:5000/app@{d}"));
        assert!(
            "docker://host/app"
                .parse::<ImageRef>()
                .unwrap()
                .to_string()
                .ends_with(":latest")
        );
        for bad in [
            "docker://host",
            "docker://h/UPPER:v1",
            "docker://h/a@sha256:zz",
            "nope:x",
            "oci:",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad}");
        }
    }
}
