//! HTTP fetching for every feed: conditional requests (ETag,
//! Last-Modified) and bodies read under a size cap.

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use serde::{Deserialize, Serialize};

use crate::FeedError;

/// What a server said identifies a response's content, sent back on the
/// next request so an unchanged file costs no body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The `ETag` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The `Last-Modified` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// For a listing: the entries it named (so an unchanged listing still
    /// says what to fetch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// For a feed of deltas: the time of the last change applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A response to a conditional GET.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the previous content stands.
    NotModified,
    /// 404: the file does not exist.
    Missing,
    /// New content.
    Body {
        /// The bytes.
        bytes: Vec<u8>,
        /// Its validators.
        validators: Validators,
    },
}

/// The HTTP client the updaters share.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: u64,
}

impl Fetcher {
    /// A client that refuses bodies over `max_body` bytes.
    pub fn new(max_body: u64) -> Result<Fetcher, FeedError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|e| FeedError::Http(e.to_string()))?;
        Ok(Fetcher { client, max_body })
    }

    /// GET `url`, conditional on `previous`.
    pub async fn get(&self, url: &str, previous: Option<&Validators>) -> Result<Fetched, FeedError> {
        let mut request = self.client.get(url);
        if let Some(p) = previous {
            if let Some(etag) = &p.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &p.last_modified {
                request = request.header(IF_MODIFIED_SINCE, lm);
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| FeedError::Http(format!("{url}: {e}")))?;
        match response.status() {
            StatusCode::NOT_MODIFIED if previous.is_some() => return Ok(Fetched::NotModified),
            StatusCode::NOT_FOUND => return Ok(Fetched::Missing),
            s if !s.is_success() => return Err(FeedError::Http(format!("{url}: status {s}"))),
            _ => {}
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
            members: Vec::new(),
            cursor: None,
        };
        if response.content_length().is_some_and(|n| n > self.max_body) {
            return Err(FeedError::TooLarge(url.to_owned(), self.max_body));
        }
        let mut bytes = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| FeedError::Http(format!("{url}: {e}")))?;
            if bytes.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(FeedError::TooLarge(url.to_owned(), self.max_body));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { bytes, validators })
    }
}
