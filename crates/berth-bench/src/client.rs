//! A minimal registry client speaking exactly the requests the workloads
//! need, checking every status so a failing server can never look fast.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::AUTHORIZATION;
use reqwest::{Body, RequestBuilder, Response, StatusCode};

use crate::auth::{Credentials, TokenAuth, parse_challenge};

/// A request that did not get the status the protocol requires.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Transport failure.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// Wrong status.
    #[error("{what}: expected {expected}, got {got}: {body}")]
    Status {
        /// The request.
        what: String,
        /// The status wanted.
        expected: u16,
        /// The status received.
        got: u16,
        /// Start of the response body.
        body: String,
    },
    /// A response missing a header the protocol requires.
    #[error("{0}: missing Location header")]
    NoLocation(String),
    /// Local I/O (reading a blob file, running a tool).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Content that came back different from what went in.
    #[error("{0}")]
    Mismatch(String),
    /// A challenge or token the client cannot use.
    #[error("auth: {0}")]
    Auth(String),
}

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A client bound to one registry's base URL; cheap to clone (clones
/// share connections and tokens).
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    credentials: Option<Credentials>,
    /// Decided by the registry's first answer to `GET /v2/`.
    mode: tokio::sync::OnceCell<Mode>,
}

/// How requests are authorized.
enum Mode {
    /// The registry asks for nothing (CNCF Distribution): send nothing.
    Open,
    /// The registry challenged with a token realm.
    Bearer(Box<TokenAuth>),
}

/// The error for a response that does not have the `expected` status.
pub(crate) async fn status_error(r: Response, expected: StatusCode, what: &str) -> BenchError {
    let got = r.status().as_u16();
    let body: String = r.text().await.unwrap_or_default().chars().take(300).collect();
    BenchError::Status {
        what: what.to_owned(),
        expected: expected.as_u16(),
        got,
        body,
    }
}

async fn expect(r: Response, expected: StatusCode, what: &str) -> Result<Response, BenchError> {
    if r.status() == expected {
        Ok(r)
    } else {
        Err(status_error(r, expected, what).await)
    }
}

impl RegistryClient {
    /// An anonymous client for `base` (e.g. `http://127.0.0.1:5000`).
    pub fn new(base: &str) -> Result<RegistryClient, BenchError> {
        RegistryClient::build(base, None)
    }

    /// A client for `base` that, if the registry challenges for a token,
    /// fetches tokens with these credentials (and otherwise sends nothing).
    pub fn with_credentials(base: &str, user: &str, password: &str) -> Result<RegistryClient, BenchError> {
        let credentials = Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
        };
        RegistryClient::build(base, Some(credentials))
    }

    fn build(base: &str, credentials: Option<Credentials>) -> Result<RegistryClient, BenchError> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
        Ok(RegistryClient {
            http,
            inner: Arc::new(Inner {
                base: base.trim_end_matches('/').to_owned(),
                credentials,
                mode: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.inner.base
    }

    /// Registry tokens fetched so far (one per repository used, plus one
    /// per refresh; 0 against a registry without authentication).
    pub fn token_fetches(&self) -> u64 {
        match self.inner.mode.get() {
            Some(Mode::Bearer(auth)) => auth.fetches(),
            _ => 0,
        }
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.inner.base)
        }
    }

    fn with_param(url: &str, param: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{param}")
    }

    /// `GET /v2/` without credentials: fine when the registry answers 200,
    /// or 401 with a Bearer challenge and this client has credentials. The
    /// first such answer decides how every later request is authorized.
    pub async fn ping(&self) -> Result<(), BenchError> {
        let mode = self.probe().await?;
        // Already decided (by an earlier ping or request): keep that.
        let _ = self.inner.mode.set(mode);
        Ok(())
    }

    async fn probe(&self) -> Result<Mode, BenchError> {
        let r = self.http.get(format!("{}/v2/", self.inner.base)).send().await?;
        if r.status() == StatusCode::OK {
            return Ok(Mode::Open);
        }
        let challenge = r
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        match (r.status(), challenge, &self.inner.credentials) {
            (StatusCode::UNAUTHORIZED, Some(challenge), Some(credentials)) => Ok(Mode::Bearer(Box::new(
                TokenAuth::new(challenge, credentials.clone())?,
            ))),
            _ => Err(status_error(r, StatusCode::OK, "GET /v2/").await),
        }
    }

    async fn mode(&self) -> Result<&Mode, BenchError> {
        self.inner.mode.get_or_try_init(|| self.probe()).await
    }

    /// Send a request of `repo` built by `build`, authorized as the
    /// registry wants. A 401 in token mode (the token expired, or grants
    /// less than the registry now would) gets one new token and one more
    /// try.
    async fn send(&self, repo: &str, build: impl Fn() -> RequestBuilder) -> Result<Response, BenchError> {
        let Mode::Bearer(auth) = self.mode().await? else {
            return Ok(build().send().await?);
        };
        let token = auth.token(&self.http, repo).await?;
        let r = build().header(AUTHORIZATION, token.clone()).send().await?;
        if r.status() != StatusCode::UNAUTHORIZED {
            return Ok(r);
        }
        let fresh = auth.refresh(&self.http, repo, &token).await?;
        Ok(build().header(AUTHORIZATION, fresh).send().await?)
    }

    /// Send a request of `repo` whose body streams and so cannot be sent
    /// twice: a 401 is reported, not retried.
    async fn send_once(&self, repo: &str, request: RequestBuilder) -> Result<Response, BenchError> {
        Ok(match self.mode().await? {
            Mode::Bearer(auth) => request.header(AUTHORIZATION, auth.token(&self.http, repo).await?),
            Mode::Open => request,
        }
        .send()
        .await?)
    }

    /// Open an upload session; returns its absolute URL.
    pub async fn start_upload(&self, repo: &str) -> Result<String, BenchError> {
        let what = format!("POST /v2/{repo}/blobs/uploads/");
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.inner.base);
        let r = self.send(repo, || self.http.post(&url)).await?;
        let r = expect(r, StatusCode::ACCEPTED, &what).await?;
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or(BenchError::NoLocation(what))?;
        Ok(self.absolute(location))
    }

    /// Upload a blob as one `PUT` after `POST` (the monolithic upload every
    /// registry supports).
    pub async fn push_monolithic(
        &self,
        repo: &str,
        digest: &str,
        len: u64,
        body: Body,
    ) -> Result<(), BenchError> {
        let session = self.start_upload(repo).await?;
        let request = self
            .http
            .put(Self::with_param(&session, &format!("digest={digest}")))
            .header("content-type", "application/octet-stream")
            .header("content-length", len.to_string())
            .body(body);
        let r = self.send_once(repo, request).await?;
        expect(r, StatusCode::CREATED, "PUT monolithic blob")
            .await
            .map(drop)
    }

    /// Upload a blob in `PATCH` chunks with `Content-Range`, then `PUT`.
    pub async fn push_chunked(
        &self,
        repo: &str,
        digest: &str,
        chunks: impl IntoIterator<Item = Bytes>,
    ) -> Result<(), BenchError> {
        let mut location = self.start_upload(repo).await?;
        let mut offset = 0u64;
        for chunk in chunks {
            let len = chunk.len() as u64;
            let range = format!("{offset}-{}", offset + len - 1);
            let r = self
                .send(repo, || {
                    self.http
                        .patch(&location)
                        .header("content-type", "application/octet-stream")
                        .header("content-range", &range)
                        .header("content-length", len)
                        .body(chunk.clone())
                })
                .await?;
            let r = expect(r, StatusCode::ACCEPTED, "PATCH chunk").await?;
            let next = r.headers().get("location").and_then(|v| v.to_str().ok());
            location = self.absolute(next.ok_or_else(|| BenchError::NoLocation("PATCH".into()))?);
            offset += len;
        }
        let url = Self::with_param(&location, &format!("digest={digest}"));
        let r = self.send(repo, || self.http.put(&url)).await?;
        expect(r, StatusCode::CREATED, "PUT chunked blob").await.map(drop)
    }

    /// Upload a small blob held in memory.
    pub async fn push_bytes(&self, repo: &str, bytes: Bytes) -> Result<String, BenchError> {
        let digest = crate::data::sha256(&bytes);
        let session = self.start_upload(repo).await?;
        let url = Self::with_param(&session, &format!("digest={digest}"));
        let r = self
            .send(repo, || {
                self.http
                    .put(&url)
                    .header("content-type", "application/octet-stream")
                    .body(bytes.clone())
            })
            .await?;
        expect(r, StatusCode::CREATED, "PUT monolithic blob").await?;
        Ok(digest)
    }

    fn blob_url(&self, repo: &str, digest: &str) -> String {
        format!("{}/v2/{repo}/blobs/{digest}", self.inner.base)
    }

    /// Download a blob, counting (not keeping) its bytes.
    pub async fn get_blob(&self, repo: &str, digest: &str) -> Result<u64, BenchError> {
        let url = self.blob_url(repo, digest);
        let r = self.send(repo, || self.http.get(&url)).await?;
        let r = expect(r, StatusCode::OK, "GET blob").await?;
        let mut stream = r.bytes_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            n += chunk?.len() as u64;
        }
        Ok(n)
    }

    /// Download a blob into memory.
    pub async fn get_blob_bytes(&self, repo: &str, digest: &str) -> Result<Bytes, BenchError> {
        let url = self.blob_url(repo, digest);
        let r = self.send(repo, || self.http.get(&url)).await?;
        Ok(expect(r, StatusCode::OK, "GET blob").await?.bytes().await?)
    }

    /// `HEAD` a blob.
    pub async fn head_blob(&self, repo: &str, digest: &str) -> Result<(), BenchError> {
        let url = self.blob_url(repo, digest);
        let r = self.send(repo, || self.http.head(&url)).await?;
        expect(r, StatusCode::OK, "HEAD blob").await.map(drop)
    }

    /// `PUT` an OCI image manifest under `reference`.
    pub async fn put_manifest(&self, repo: &str, reference: &str, manifest: Bytes) -> Result<(), BenchError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.inner.base);
        let r = self
            .send(repo, || {
                self.http
                    .put(&url)
                    .header("content-type", OCI_MANIFEST)
                    .body(manifest.clone())
            })
            .await?;
        expect(r, StatusCode::CREATED, "PUT manifest").await.map(drop)
    }

    /// `GET` a manifest; returns its length.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<usize, BenchError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.inner.base);
        let r = self
            .send(repo, || self.http.get(&url).header("accept", OCI_MANIFEST))
            .await?;
        Ok(expect(r, StatusCode::OK, "GET manifest")
            .await?
            .bytes()
            .await?
            .len())
    }

    /// Whether a manifest is there (`HEAD`: 200 yes, 404 no).
    pub async fn manifest_exists(&self, repo: &str, reference: &str) -> Result<bool, BenchError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.inner.base);
        let r = self
            .send(repo, || self.http.head(&url).header("accept", OCI_MANIFEST))
            .await?;
        if r.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        expect(r, StatusCode::OK, "HEAD manifest").await.map(|_| true)
    }

    /// Walk `tags/list` with page size `n` (without, the registry's
    /// choice), following `Link` headers; returns the number of tags seen
    /// and of requests made.
    pub async fn list_all_tags(&self, repo: &str, n: Option<usize>) -> Result<(usize, usize), BenchError> {
        let query = n.map(|n| format!("?n={n}")).unwrap_or_default();
        let mut next = Some(format!("{}/v2/{repo}/tags/list{query}", self.inner.base));
        let mut seen = 0;
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let r = self.send(repo, || self.http.get(&url)).await?;
            let r = expect(r, StatusCode::OK, "GET tags/list").await?;
            next = r
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split_once('<').and_then(|(_, rest)| rest.split_once('>')))
                .map(|(target, _)| self.absolute(target));
            let page: serde_json::Value = r.json().await?;
            seen += page["tags"].as_array().map_or(0, Vec::len);
        }
        Ok((seen, pages))
    }
}
