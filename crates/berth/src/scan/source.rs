//! Where images come from: an OCI layout directory or a registry, named
//! with the container tools' transports (`oci:DIR[:TAG]`,
//! `docker://HOST/REPO[:TAG|@DIGEST]`).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;

use anyhow::{Context, anyhow, bail};
use berth_oci::Digest;
use futures_util::TryStreamExt;
use serde::Deserialize;

/// A layer's bytes, read on a blocking thread.
pub type LayerReader = Box<dyn Read + Send>;

/// Largest manifest or index accepted (as the registry's default).
const MANIFEST_LIMIT: usize = 4 << 20;
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A parsed image name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `oci:DIR[:TAG]`.
    Oci { dir: PathBuf, tag: Option<String> },
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
        bail!("unsupported image name {s:?}: use oci:DIR[:TAG] or docker://HOST/REPO[:TAG]")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Oci { dir, tag: Some(t) } => write!(f, "oci:{}:{t}", dir.display()),
            ImageRef::Oci { dir, tag: None } => write!(f, "oci:{}", dir.display()),
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

/// An opened image source.
pub enum Source {
    /// An OCI layout directory.
    Oci { dir: PathBuf, tag: Option<String> },
    /// A registry speaking the distribution API.
    Registry(Registry),
}

impl Source {
    /// Open a source; for a registry, decide on the scheme and credentials.
    pub async fn open(image: &ImageRef, creds: Option<&str>, tls_verify: bool) -> anyhow::Result<Source> {
        Ok(match image {
            ImageRef::Oci { dir, tag } => Source::Oci {
                dir: dir.clone(),
                tag: tag.clone(),
            },
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
            Source::Oci { dir, tag } => {
                let index_bytes = std::fs::read(dir.join("index.json"))
                    .with_context(|| format!("reading {}/index.json", dir.display()))?;
                let index: RawManifest =
                    serde_json::from_slice(&index_bytes).context("parsing index.json")?;
                let entries = index.manifests.unwrap_or_default();
                let chosen = match tag {
                    Some(t) => entries
                        .iter()
                        .find(|d| d.annotations.get(REF_NAME) == Some(t))
                        .ok_or_else(|| anyhow!("no image tagged {t:?} in {}", dir.display()))?,
                    None if entries.len() == 1 => &entries[0],
                    None => bail!(
                        "{} holds {} images: name one with oci:DIR:TAG",
                        dir.display(),
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
                Source::Oci { .. } => self.blob_bytes(&digest).await?,
                Source::Registry(r) => r.manifest(&digest.to_string()).await?.1,
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
            Source::Oci { dir, .. } => {
                let path = dir
                    .join("blobs")
                    .join(digest.algorithm().as_str())
                    .join(digest.hex());
                let file =
                    std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
                Ok(Box::new(std::io::BufReader::with_capacity(256 << 10, file)))
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

/// A registry client for one repository.
pub struct Registry {
    client: reqwest::Client,
    base: String,
    repo: String,
    reference: String,
    creds: Option<(String, String)>,
    /// `Authorization: Bearer ...` once a token was issued; until then
    /// the credentials, if any, go as basic auth.
    auth: Mutex<Option<String>>,
}

impl Registry {
    async fn connect(
        host: &str,
        repo: &str,
        reference: &str,
        creds: Option<&str>,
        tls_verify: bool,
    ) -> anyhow::Result<Registry> {
        let client = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(!tls_verify)
            .build()
            .context("building the HTTP client")?;
        let creds = creds
            .map(|c| {
                c.split_once(':')
                    .map(|(u, p)| (u.to_owned(), p.to_owned()))
                    .ok_or_else(|| anyhow!("--creds must be USER:PASS"))
            })
            .transpose()?;
        // Like skopeo: HTTPS first; plain HTTP only when verification is off.
        let mut base = format!("https://{host}");
        if client.get(format!("{base}/v2/")).send().await.is_err() {
            if tls_verify {
                bail!("cannot reach https://{host}/v2/ (use --tls-verify=false for a plain-HTTP registry)");
            }
            base = format!("http://{host}");
        }
        Ok(Registry {
            client,
            base,
            repo: repo.to_owned(),
            reference: reference.to_owned(),
            auth: Mutex::new(None),
            creds,
        })
    }

    /// GET a path under `/v2/<repo>/`, answering one auth challenge.
    async fn get(&self, path: &str, accept: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repo);
        for attempt in 0..2 {
            let mut req = self.client.get(&url).header(reqwest::header::ACCEPT, accept);
            let bearer = self
                .auth
                .lock()
                .map_err(|_| anyhow!("auth lock poisoned"))?
                .clone();
            match (bearer, &self.creds) {
                (Some(token), _) => req = req.header(reqwest::header::AUTHORIZATION, token),
                (None, Some((u, p))) => req = req.basic_auth(u, Some(p)),
                (None, None) => {}
            }
            let resp = req.send().await.with_context(|| format!("GET {url}"))?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                let challenge = resp
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let token = self.token(&challenge).await?;
                *self.auth.lock().map_err(|_| anyhow!("auth lock poisoned"))? = Some(token);
                continue;
            }
            if !resp.status().is_success() {
                bail!("GET {url}: {}", resp.status());
            }
            return Ok(resp);
        }
        bail!("GET {url}: authentication failed")
    }

    /// Fetch a bearer token for a `WWW-Authenticate: Bearer ...` challenge.
    async fn token(&self, challenge: &str) -> anyhow::Result<String> {
        let params = challenge.strip_prefix("Bearer ").ok_or_else(|| {
            anyhow!("registry asks for authentication ({challenge:?}); pass --creds USER:PASS")
        })?;
        let mut realm = None;
        let mut query = Vec::new();
        for part in params.split(',') {
            if let Some((k, v)) = part.trim().split_once('=') {
                let v = v.trim_matches('"').to_owned();
                match k {
                    "realm" => realm = Some(v),
                    "service" | "scope" => query.push((k.to_owned(), v)),
                    _ => {}
                }
            }
        }
        let realm = realm.ok_or_else(|| anyhow!("bearer challenge without realm"))?;
        let url = reqwest::Url::parse_with_params(&realm, &query)
            .with_context(|| format!("token realm {realm:?}"))?;
        let mut req = self.client.get(url);
        if let Some((u, p)) = &self.creds {
            req = req.basic_auth(u, Some(p));
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = req
            .send()
            .await
            .context("token request")?
            .error_for_status()
            .context("token request")?
            .json()
            .await
            .context("token response")?;
        let token = t
            .token
            .or(t.access_token)
            .ok_or_else(|| anyhow!("token response has no token"))?;
        Ok(format!("Bearer {token}"))
    }

    async fn manifest(&self, reference: &str) -> anyhow::Result<(Digest, Vec<u8>)> {
        let resp = self
            .get(&format!("manifests/{reference}"), MANIFEST_TYPES)
            .await?;
        let mut bytes = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.try_next().await.context("reading manifest")? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MANIFEST_LIMIT {
                bail!("manifest is larger than {MANIFEST_LIMIT} bytes");
            }
        }
        let digest = match reference.parse::<Digest>() {
            Ok(d) => {
                if Digest::of(d.algorithm(), &bytes) != d {
                    bail!("manifest does not match digest {d}");
                }
                d
            }
            Err(_) => Digest::of(berth_oci::Algorithm::Sha256, &bytes),
        };
        Ok((digest, bytes))
    }

    async fn blob(&self, digest: &Digest) -> anyhow::Result<LayerReader> {
        let resp = self.get(&format!("blobs/{digest}"), "*/*").await?;
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        let reader = tokio_util::io::StreamReader::new(stream);
        Ok(Box::new(tokio_util::io::SyncIoBridge::new(reader)))
    }
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
