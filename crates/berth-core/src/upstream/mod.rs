//! A client of an upstream registry (the distribution API), for
//! repository mirroring and the proxy cache: tag lists, manifests as their
//! exact bytes (so digests never change), blobs as streams, Basic or bearer
//! token authentication.
//!
//! Every connection goes through the [`SsrfGuard`]: names resolve through
//! its resolver, IP literals are checked with the URL, redirects (blob
//! downloads to object storage) and token realms are followed only after
//! their URL passed the same check, and credentials go only to the
//! upstream's own host. This is why the client is ours on reqwest rather
//! than a general OCI client, whose connections cannot be guarded.

mod auth;
mod catalog;

pub use auth::challenge_params;
pub use catalog::{NamespaceLister, RegistryKind};

use std::time::Duration;

use berth_oci::{Algorithm, Digest, media_type};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::Mutex;

use crate::ssrf::{SsrfError, SsrfGuard};

/// Largest tag list page read.
const TAG_LIST_LIMIT: usize = 4 * 1024 * 1024;
/// Redirects followed for one blob.
const MAX_REDIRECTS: usize = 5;

/// Why an upstream operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The reference cannot name an upstream repository.
    #[error("invalid upstream reference: {0}")]
    InvalidReference(String),
    /// The outbound guard refused the target.
    #[error(transparent)]
    Refused(#[from] SsrfError),
    /// The upstream could not be reached or answered garbage.
    #[error("upstream {url}: {why}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why it failed.
        why: String,
    },
    /// Credentials were refused, or needed and not given.
    #[error("upstream {0} refused the credentials (401)")]
    Unauthorized(String),
    /// The upstream has no such thing.
    #[error("upstream {0} not found")]
    NotFound(String),
    /// Any other failing status.
    #[error("upstream {url} answered {status}")]
    Status {
        /// What was asked.
        url: String,
        /// The status.
        status: u16,
    },
    /// The content is not what was asked for.
    #[error("upstream content invalid: {0}")]
    Invalid(String),
}

/// An upstream repository: its registry's host (with port) and the
/// repository's path there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRef {
    /// `host[:port]`.
    pub host: String,
    /// The repository path (`library/alpine`).
    pub repository: String,
}

impl UpstreamRef {
    /// Parse `host[:port]/path` (Quay's `external_reference`: no tag, no
    /// digest). A first component that is not a host (no `.`, no `:`, not
    /// `localhost`) means Docker Hub, as clients read it.
    pub fn parse(reference: &str) -> Result<UpstreamRef, UpstreamError> {
        let bad = |why: &str| UpstreamError::InvalidReference(format!("{reference}: {why}"));
        let reference = reference.trim();
        if reference.contains("://") {
            return Err(bad("give host/path without a scheme"));
        }
        if reference.contains('@') {
            return Err(bad("a digest or credentials are not allowed"));
        }
        let (first, rest) = reference
            .split_once('/')
            .ok_or_else(|| bad("no repository path"))?;
        let is_host = first.contains('.') || first.contains(':') || first == "localhost";
        let (host, path) = if is_host {
            (first.to_owned(), rest.to_owned())
        } else {
            ("registry-1.docker.io".to_owned(), reference.to_owned())
        };
        if path.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            return Err(bad("a tag is not allowed"));
        }
        // The path is a repository name: the distribution spec's grammar.
        berth_oci::validate_repository(&path).map_err(|e| bad(&e.to_string()))?;
        if host.is_empty() || host.contains(['/', ' ', '?', '#']) {
            return Err(bad("invalid host"));
        }
        Ok(UpstreamRef {
            host,
            repository: path,
        })
    }
}

impl std::fmt::Display for UpstreamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.repository)
    }
}

/// Credentials for the upstream.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ..)", self.username)
    }
}

/// How to reach an upstream.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Check the upstream's certificate; when false, invalid certificates
    /// and plain HTTP are accepted too.
    pub verify_tls: bool,
    /// Credentials, if any.
    pub credentials: Option<Credentials>,
    /// Bound on connecting and on each read; small requests (tags,
    /// manifests, tokens) are bounded whole by it.
    pub timeout: Duration,
    /// Largest manifest accepted.
    pub manifest_limit: usize,
}

/// A manifest as the upstream serves it.
#[derive(Debug, Clone)]
pub struct UpstreamManifest {
    /// The digest of `content`.
    pub digest: Digest,
    /// The `Content-Type` it came with.
    pub media_type: Option<String>,
    /// The exact bytes.
    pub content: Vec<u8>,
}

/// A client for one upstream repository.
pub struct UpstreamClient {
    http: reqwest::Client,
    guard: SsrfGuard,
    target: UpstreamRef,
    settings: UpstreamSettings,
    /// `https` or `http` (only without TLS verification), chosen on the
    /// first request.
    scheme: Mutex<Option<&'static str>>,
    /// The `Authorization` value the upstream accepted last.
    authorization: Mutex<Option<HeaderValue>>,
}

/// Every manifest type asked for.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// A reqwest error with its causes.
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl UpstreamClient {
    /// A client for `target`. Fails only if the HTTP client cannot be built.
    pub fn new(
        guard: SsrfGuard,
        target: UpstreamRef,
        settings: UpstreamSettings,
    ) -> Result<UpstreamClient, UpstreamError> {
        let http = guard
            .client_builder()
            .connect_timeout(settings.timeout)
            .read_timeout(settings.timeout)
            .danger_accept_invalid_certs(!settings.verify_tls)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Unreachable {
                url: target.host.clone(),
                why: describe(&e),
            })?;
        Ok(UpstreamClient {
            http,
            guard,
            target,
            settings,
            scheme: Mutex::new(None),
            authorization: Mutex::new(None),
        })
    }

    /// The upstream repository.
    pub fn target(&self) -> &UpstreamRef {
        &self.target
    }

    /// The URL of `path` under the repository (`tags/list`,
    /// `manifests/<ref>`, `blobs/<digest>`), checked by the guard.
    async fn url(&self, path: &str) -> Result<Url, UpstreamError> {
        let scheme = self.scheme().await?;
        let url = format!(
            "{scheme}://{}/v2/{}/{path}",
            self.target.host, self.target.repository
        );
        Ok(self.guard.check_url(&url)?)
    }

    /// `https`, or `http` when TLS is not verified and the upstream does
    /// not speak TLS. Decided once by asking `/v2/`.
    async fn scheme(&self) -> Result<&'static str, UpstreamError> {
        let mut chosen = self.scheme.lock().await;
        if let Some(s) = *chosen {
            return Ok(s);
        }
        let probe = |scheme: &str| format!("{scheme}://{}/v2/", self.target.host);
        let https = self.guard.check_url(&probe("https"))?;
        let scheme = match self
            .http
            .get(https.clone())
            .timeout(self.settings.timeout)
            .send()
            .await
        {
            Ok(_) => "https",
            Err(e) if self.settings.verify_tls || e.is_timeout() => {
                return Err(UpstreamError::Unreachable {
                    url: https.to_string(),
                    why: describe(&e),
                });
            }
            Err(_) => {
                let http = self.guard.check_url(&probe("http"))?;
                self.http
                    .get(http.clone())
                    .timeout(self.settings.timeout)
                    .send()
                    .await
                    .map_err(|e| UpstreamError::Unreachable {
                        url: http.to_string(),
                        why: describe(&e),
                    })?;
                "http"
            }
        };
        *chosen = Some(scheme);
        Ok(scheme)
    }

    /// Send a request to the upstream, authenticating when challenged
    /// (once per request: a second 401 is a refusal). Redirects are
    /// followed by the caller that expects them.
    async fn send(
        &self,
        method: Method,
        url: Url,
        accept: &str,
        bounded: bool,
    ) -> Result<reqwest::Response, UpstreamError> {
        let unreachable = |e: reqwest::Error| UpstreamError::Unreachable {
            url: url.to_string(),
            why: describe(&e),
        };
        let build = |auth: Option<HeaderValue>| {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, accept);
            if bounded {
                req = req.timeout(self.settings.timeout);
            }
            if let Some(a) = auth {
                req = req.header(AUTHORIZATION, a);
            }
            req
        };
        let known = self.authorization.lock().await.clone();
        let resp = build(known).send().await.map_err(unreachable)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let fresh = auth::authorize(self, &challenge).await?;
        let resp = build(Some(fresh.clone())).send().await.map_err(unreachable)?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(UpstreamError::Unauthorized(url.to_string()));
        }
        *self.authorization.lock().await = Some(fresh);
        Ok(resp)
    }

    /// Every tag of the repository (following `Link` pages).
    pub async fn list_tags(&self) -> Result<Vec<String>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let mut url = self.url("tags/list").await?;
        let mut tags = Vec::new();
        // A bound on pages, against an upstream that links in a circle.
        for _ in 0..10_000 {
            let resp = self
                .send(Method::GET, url.clone(), "application/json", true)
                .await?;
            let resp = check_status(resp, &url)?;
            let next = next_link(&resp, &url);
            let body = read_capped(resp, TAG_LIST_LIMIT, &url).await?;
            let page: TagList = serde_json::from_slice(&body)
                .map_err(|e| UpstreamError::Invalid(format!("tag list of {}: {e}", self.target)))?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) => url = self.guard.check_url(n.as_str())?,
                None => return Ok(tags),
            }
        }
        Err(UpstreamError::Invalid(format!(
            "tag list of {} never ends",
            self.target
        )))
    }

    /// The manifest `reference` (a tag or a digest) names, as its exact
    /// bytes; checked against the digest asked for, or against the
    /// `Docker-Content-Digest` the upstream sent.
    pub async fn manifest(&self, reference: &str) -> Result<UpstreamManifest, UpstreamError> {
        let url = self.url(&format!("manifests/{reference}")).await?;
        let resp = self.send(Method::GET, url.clone(), MANIFEST_ACCEPT, true).await?;
        let resp = check_status(resp, &url)?;
        let media_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|t| media_type::essence(t).to_owned());
        let announced = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|d| d.parse::<Digest>().ok());
        let content = read_capped(resp, self.settings.manifest_limit, &url).await?;
        let expected = reference.parse::<Digest>().ok().or(announced);
        let digest = match expected {
            Some(d) => {
                let actual = Digest::of(d.algorithm(), &content);
                if actual != d {
                    return Err(UpstreamError::Invalid(format!(
                        "manifest {reference} of {} has digest {actual}, not {d}",
                        self.target
                    )));
                }
                d
            }
            None => Digest::of(Algorithm::Sha256, &content),
        };
        Ok(UpstreamManifest {
            digest,
            media_type,
            content,
        })
    }

    /// Blob `digest` as a stream of its bytes, following redirects (each
    /// checked by the guard; credentials are not sent to other hosts). The
    /// caller verifies the digest while it stores the bytes.
    pub async fn blob(&self, digest: &Digest) -> Result<crate::ByteStream<'static>, UpstreamError> {
        let url = self.url(&format!("blobs/{digest}")).await?;
        let mut resp = self.send(Method::GET, url.clone(), "*/*", false).await?;
        for _ in 0..MAX_REDIRECTS {
            if !resp.status().is_redirection() {
                break;
            }
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| resp.url().join(l).ok())
                .ok_or_else(|| UpstreamError::Invalid(format!("blob {digest}: redirect without location")))?;
            let next = self.guard.check_url(location.as_str())?;
            let same_host = next.host_str() == url.host_str()
                && next.port_or_known_default() == url.port_or_known_default();
            resp = if same_host {
                self.send(Method::GET, next, "*/*", false).await?
            } else {
                self.http
                    .get(next.clone())
                    .send()
                    .await
                    .map_err(|e| UpstreamError::Unreachable {
                        url: next.to_string(),
                        why: describe(&e),
                    })?
            };
        }
        let resp = check_status(resp, &url)?;
        Ok(resp.bytes_stream().map_err(std::io::Error::other).boxed())
    }
}

/// The response if its status is a success, else the matching error.
fn check_status(resp: reqwest::Response, url: &Url) -> Result<reqwest::Response, UpstreamError> {
    match resp.status() {
        s if s.is_success() => Ok(resp),
        StatusCode::NOT_FOUND => Err(UpstreamError::NotFound(url.to_string())),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(UpstreamError::Unauthorized(url.to_string())),
        s => Err(UpstreamError::Status {
            url: url.to_string(),
            status: s.as_u16(),
        }),
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(resp: &reqwest::Response, base: &Url) -> Option<Url> {
    let link = resp.headers().get(reqwest::header::LINK)?.to_str().ok()?;
    let (target, params) = link.split_once(';')?;
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    let target = target.trim().trim_start_matches('<').trim_end_matches('>');
    base.join(target).ok()
}

/// A body read whole, refused past `limit` bytes.
async fn read_capped(resp: reqwest::Response, limit: usize, url: &Url) -> Result<Vec<u8>, UpstreamError> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| UpstreamError::Unreachable {
            url: url.to_string(),
            why: describe(&e),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::Invalid(format!(
                "{url}: answer larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_a_host_and_a_repository() {
        let r = UpstreamRef::parse("127.0.0.1:5000/ns/app").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "ns/app")
        );
        let r = UpstreamRef::parse("quay.io/org/app").unwrap();
        assert_eq!(r.host, "quay.io");
        let r = UpstreamRef::parse("library/alpine").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str()),
            ("registry-1.docker.io", "library/alpine")
        );
        for bad in [
            "alpine",
            "https://quay.io/org/app",
            "quay.io/org/app:latest",
            "quay.io/org/app@sha256:00",
            "quay.io/Org/App",
            "quay.io/",
        ] {
            assert!(UpstreamRef::parse(bad).is_err(), "{bad}");
        }
    }
}
