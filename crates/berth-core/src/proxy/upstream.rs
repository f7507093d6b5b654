//! The client of a proxy cache's upstream registry: manifests (exact
//! bytes), manifest digests (`HEAD`), blob streams, with Basic or Bearer
//! authentication as the upstream's challenge asks.
//!
//! Written on reqwest rather than `oci-client`: every connection must go
//! through the SSRF guard (its resolver, no redirects), and `oci-client`
//! builds its own HTTP client, which resolves names itself and follows
//! redirects.

use std::sync::Mutex;
use std::time::Duration;

use berth_oci::{Algorithm, Digest};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::UpstreamRegistry;
use crate::ssrf::SsrfGuard;
use crate::upstream::challenge_params;

/// Manifest media types asked for, most specific first.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Largest token answer read.
const TOKEN_LIMIT: usize = 64 * 1024;

/// Why the upstream did not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// It does not have it (404).
    #[error("not found upstream")]
    NotFound,
    /// It refused our credentials.
    #[error("the upstream registry refused the credentials ({0})")]
    Unauthorized(StatusCode),
    /// It could not be reached, or the connection broke.
    #[error("the upstream registry cannot be reached: {0}")]
    Unreachable(String),
    /// It answered something unusable (wrong digest, too large, bad
    /// status).
    #[error("the upstream registry answered badly: {0}")]
    Bad(String),
}

impl UpstreamError {
    fn from_reqwest(e: reqwest::Error) -> UpstreamError {
        // The chain carries the SSRF refusal or the connection failure.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        UpstreamError::Unreachable(text)
    }
}

/// A manifest as the upstream serves it.
#[derive(Debug, Clone)]
pub struct UpstreamManifest {
    /// Its digest, computed from `content`.
    pub digest: Digest,
    /// `Content-Type`.
    pub media_type: Option<String>,
    /// The exact bytes.
    pub content: Vec<u8>,
}

/// A blob body being received.
pub struct UpstreamBlob {
    /// `Content-Length`, when given.
    pub size: Option<u64>,
    /// The bytes.
    pub body: berth_store::ByteStream<'static>,
}

/// One upstream registry with its credentials.
pub struct Upstream {
    http: reqwest::Client,
    /// `https://host[:port]` or, for an insecure upstream that has no TLS,
    /// `http://host[:port]`; settled by the first request.
    base: Mutex<Option<String>>,
    api_host: String,
    insecure: bool,
    ssrf: SsrfGuard,
    credentials: Option<(String, String)>,
    /// The `Authorization` value that last worked.
    authorization: Mutex<Option<String>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("host", &self.api_host)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// A client of `registry`; `insecure` accepts any certificate and
    /// plain HTTP.
    pub fn new(
        registry: &UpstreamRegistry,
        insecure: bool,
        credentials: Option<(String, String)>,
        ssrf: &SsrfGuard,
        timeout: Duration,
    ) -> Result<Upstream, UpstreamError> {
        let http = ssrf
            .client_builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .tls_danger_accept_invalid_certs(insecure)
            .build()
            .map_err(UpstreamError::from_reqwest)?;
        Ok(Upstream {
            http,
            base: Mutex::new(None),
            api_host: registry.api_host(),
            insecure,
            ssrf: ssrf.clone(),
            credentials,
            authorization: Mutex::new(None),
        })
    }

    fn lock<T: Clone>(m: &Mutex<Option<T>>) -> Option<T> {
        m.lock().map(|g| g.clone()).unwrap_or(None)
    }

    fn store<T>(m: &Mutex<Option<T>>, value: T) {
        if let Ok(mut g) = m.lock() {
            *g = Some(value);
        }
    }

    /// The base URL, trying HTTPS first, then plain HTTP if insecure.
    async fn base(&self) -> Result<String, UpstreamError> {
        if let Some(base) = Self::lock(&self.base) {
            return Ok(base);
        }
        let https = format!("https://{}", self.api_host);
        self.ssrf
            .check_url(&https)
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let tried = self.http.get(format!("{https}/v2/")).send().await;
        let base = match tried {
            Ok(_) => https,
            Err(e) if self.insecure && !is_ssrf(&e) => {
                let http = format!("http://{}", self.api_host);
                self.http
                    .get(format!("{http}/v2/"))
                    .send()
                    .await
                    .map_err(UpstreamError::from_reqwest)?;
                http
            }
            Err(e) => return Err(UpstreamError::from_reqwest(e)),
        };
        Self::store(&self.base, base.clone());
        Ok(base)
    }

    /// Check that the upstream answers and accepts the credentials.
    pub async fn ping(&self) -> Result<(), UpstreamError> {
        let base = self.base().await?;
        let response = self.send(Method::GET, &format!("{base}/v2/"), None, "").await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            s => Err(UpstreamError::Bad(format!("GET /v2/ answered {s}"))),
        }
    }

    /// Send a request, answering an authentication challenge once.
    async fn send(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
        scope: &str,
    ) -> Result<reqwest::Response, UpstreamError> {
        let build = |authorization: Option<&str>| {
            let mut request = self.http.request(method.clone(), url);
            if let Some(a) = accept {
                request = request.header(ACCEPT, a);
            }
            if let Some(a) = authorization {
                request = request.header(AUTHORIZATION, a);
            }
            request
        };
        let known = Self::lock(&self.authorization);
        let response = build(known.as_deref())
            .send()
            .await
            .map_err(UpstreamError::from_reqwest)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let authorization = self.answer(&challenge, scope).await?;
        let response = build(Some(&authorization))
            .send()
            .await
            .map_err(UpstreamError::from_reqwest)?;
        if matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(UpstreamError::Unauthorized(response.status()));
        }
        Self::store(&self.authorization, authorization);
        Ok(response)
    }

    /// The `Authorization` value answering `challenge`.
    async fn answer(&self, challenge: &str, scope: &str) -> Result<String, UpstreamError> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let basic = self.credentials.as_ref().map(|(user, password)| {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        if scheme.eq_ignore_ascii_case("basic") {
            return basic.ok_or(UpstreamError::Unauthorized(StatusCode::UNAUTHORIZED));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(UpstreamError::Bad(format!(
                "unknown authentication scheme {scheme:?}"
            )));
        }
        let params = challenge_params(params);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| UpstreamError::Bad("a Bearer challenge without realm".into()))?;
        let mut url = self
            .ssrf
            .check_url(&realm)
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
                query.append_pair("service", service);
            }
            if !scope.is_empty() {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.http.get(url);
        if let Some(b) = &basic {
            request = request.header(AUTHORIZATION, b);
        }
        let response = request.send().await.map_err(UpstreamError::from_reqwest)?;
        if !response.status().is_success() {
            return Err(UpstreamError::Unauthorized(response.status()));
        }
        let body = read_capped(response, TOKEN_LIMIT).await?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| UpstreamError::Bad(format!("token answer: {e}")))?;
        answer
            .token
            .or(answer.access_token)
            .map(|t| format!("Bearer {t}"))
            .ok_or_else(|| UpstreamError::Bad("token answer without a token".into()))
    }

    /// Fetch manifest `reference` (a tag or digest) of `repo`, at most
    /// `limit` bytes, verifying its digest against a digest reference and
    /// against the upstream's `Docker-Content-Digest`.
    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        limit: usize,
    ) -> Result<UpstreamManifest, UpstreamError> {
        let base = self.base().await?;
        let url = format!("{base}/v2/{repo}/manifests/{reference}");
        let response = self
            .send(Method::GET, &url, Some(MANIFEST_ACCEPT), &pull_scope(repo))
            .await?;
        check_status(&response)?;
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_owned());
        let claimed = header_digest(&response);
        let content = read_capped(response, limit).await?;
        let expected = match reference.parse::<Digest>() {
            Ok(d) => Some(d),
            Err(_) => claimed,
        };
        let algorithm = expected.as_ref().map_or(Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::of(algorithm, &content);
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(UpstreamError::Bad(format!(
                "manifest {repo}:{reference} has digest {digest}, not {expected}"
            )));
        }
        Ok(UpstreamManifest {
            digest,
            media_type,
            content,
        })
    }

    /// The digest tag `tag` of `repo` points to now (`HEAD`), if the
    /// upstream tells it.
    pub async fn manifest_digest(&self, repo: &str, tag: &str) -> Result<Option<Digest>, UpstreamError> {
        let base = self.base().await?;
        let url = format!("{base}/v2/{repo}/manifests/{tag}");
        let response = self
            .send(Method::HEAD, &url, Some(MANIFEST_ACCEPT), &pull_scope(repo))
            .await?;
        check_status(&response)?;
        Ok(header_digest(&response))
    }

    /// Start receiving blob `digest` of `repo`.
    pub async fn blob(&self, repo: &str, digest: &Digest) -> Result<UpstreamBlob, UpstreamError> {
        let base = self.base().await?;
        let url = format!("{base}/v2/{repo}/blobs/{digest}");
        let response = self.send(Method::GET, &url, None, &pull_scope(repo)).await?;
        check_status(&response)?;
        let size = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response
            .bytes_stream()
            .map_err(|e| std::io::Error::other(UpstreamError::from_reqwest(e).to_string()))
            .boxed();
        Ok(UpstreamBlob { size, body })
    }
}

fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn is_ssrf(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<crate::ssrf::SsrfError>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

fn check_status(response: &reqwest::Response) -> Result<(), UpstreamError> {
    match response.status() {
        s if s.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Err(UpstreamError::NotFound),
        s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(UpstreamError::Unauthorized(s)),
        s if s.is_server_error() => Err(UpstreamError::Unreachable(format!("it answered {s}"))),
        s => Err(UpstreamError::Bad(format!("it answered {s}"))),
    }
}

fn header_digest(response: &reqwest::Response) -> Option<Digest> {
    response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// A response body of at most `limit` bytes.
async fn read_capped(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, UpstreamError> {
    if let Some(len) = response.content_length()
        && len > limit as u64
    {
        return Err(UpstreamError::Bad(format!(
            "the answer has {len} bytes, over the limit of {limit}"
        )));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(UpstreamError::from_reqwest)?;
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::Bad(format!(
                "the answer is over the limit of {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
