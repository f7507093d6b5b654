//! A minimal registry client speaking exactly the requests the workloads
//! need, checking every status so a failing server can never look fast.

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::{Body, StatusCode};

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
}

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A client bound to one registry's base URL.
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
}

async fn expect(
    r: reqwest::Response,
    expected: StatusCode,
    what: &str,
) -> Result<reqwest::Response, BenchError> {
    if r.status() == expected {
        return Ok(r);
    }
    let got = r.status().as_u16();
    let body: String = r.text().await.unwrap_or_default().chars().take(300).collect();
    Err(BenchError::Status {
        what: what.to_owned(),
        expected: expected.as_u16(),
        got,
        body,
    })
}

impl RegistryClient {
    /// A client for `base` (e.g. `http://127.0.0.1:5000`).
    pub fn new(base: &str) -> Result<RegistryClient, BenchError> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
        Ok(RegistryClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base)
        }
    }

    fn with_param(url: &str, param: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{param}")
    }

    /// `GET /v2/`.
    pub async fn ping(&self) -> Result<(), BenchError> {
        let r = self.http.get(format!("{}/v2/", self.base)).send().await?;
        expect(r, StatusCode::OK, "GET /v2/").await.map(drop)
    }

    /// Open an upload session; returns its absolute URL.
    pub async fn start_upload(&self, repo: &str) -> Result<String, BenchError> {
        let what = format!("POST /v2/{repo}/blobs/uploads/");
        let r = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.base))
            .send()
            .await?;
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
        let r = self
            .http
            .put(Self::with_param(&session, &format!("digest={digest}")))
            .header("content-type", "application/octet-stream")
            .header("content-length", len.to_string())
            .body(body)
            .send()
            .await?;
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
            let r = self
                .http
                .patch(&location)
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{offset}-{}", offset + len - 1))
                .header("content-length", len.to_string())
                .body(chunk)
                .send()
                .await?;
            let r = expect(r, StatusCode::ACCEPTED, "PATCH chunk").await?;
            let next = r.headers().get("location").and_then(|v| v.to_str().ok());
            location = self.absolute(next.ok_or_else(|| BenchError::NoLocation("PATCH".into()))?);
            offset += len;
        }
        let r = self
            .http
            .put(Self::with_param(&location, &format!("digest={digest}")))
            .send()
            .await?;
        expect(r, StatusCode::CREATED, "PUT chunked blob").await.map(drop)
    }

    /// Upload a small blob held in memory.
    pub async fn push_bytes(&self, repo: &str, bytes: Bytes) -> Result<String, BenchError> {
        let digest = crate::data::sha256(&bytes);
        self.push_monolithic(repo, &digest, bytes.len() as u64, Body::from(bytes))
            .await?;
        Ok(digest)
    }

    /// Download a blob, counting (not keeping) its bytes.
    pub async fn get_blob(&self, repo: &str, digest: &str) -> Result<u64, BenchError> {
        let r = self
            .http
            .get(format!("{}/v2/{repo}/blobs/{digest}", self.base))
            .send()
            .await?;
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
        let r = self
            .http
            .get(format!("{}/v2/{repo}/blobs/{digest}", self.base))
            .send()
            .await?;
        Ok(expect(r, StatusCode::OK, "GET blob").await?.bytes().await?)
    }

    /// `HEAD` a blob.
    pub async fn head_blob(&self, repo: &str, digest: &str) -> Result<(), BenchError> {
        let r = self
            .http
            .head(format!("{}/v2/{repo}/blobs/{digest}", self.base))
            .send()
            .await?;
        expect(r, StatusCode::OK, "HEAD blob").await.map(drop)
    }

    /// `PUT` an OCI image manifest under `reference`.
    pub async fn put_manifest(&self, repo: &str, reference: &str, manifest: Bytes) -> Result<(), BenchError> {
        let r = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.base))
            .header("content-type", OCI_MANIFEST)
            .body(manifest)
            .send()
            .await?;
        expect(r, StatusCode::CREATED, "PUT manifest").await.map(drop)
    }

    /// `GET` a manifest; returns its length.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<usize, BenchError> {
        let r = self
            .http
            .get(format!("{}/v2/{repo}/manifests/{reference}", self.base))
            .header("accept", OCI_MANIFEST)
            .send()
            .await?;
        Ok(expect(r, StatusCode::OK, "GET manifest")
            .await?
            .bytes()
            .await?
            .len())
    }

    /// Walk `tags/list` with page size `n`, following `Link` headers;
    /// returns the number of tags seen and of requests made.
    pub async fn list_all_tags(&self, repo: &str, n: usize) -> Result<(usize, usize), BenchError> {
        let mut next = Some(format!("{}/v2/{repo}/tags/list?n={n}", self.base));
        let mut seen = 0;
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let r = self.http.get(&url).send().await?;
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
