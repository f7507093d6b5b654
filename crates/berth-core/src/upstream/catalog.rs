//! Listing the repositories of an upstream namespace, for organization
//! mirrors: Quay's `GET /api/v1/repository?namespace=` (which Berth
//! serves too), paged by `next_page`, or Harbor's `GET
//! /api/v2.0/projects/{project}/repositories`, paged by `page`. Through
//! the same [`SsrfGuard`] as the rest of the upstream client; credentials
//! are sent as Basic authentication, only to the configured host.

use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::{StatusCode, Url};

use super::{Credentials, UpstreamError, describe, read_capped};
use crate::ssrf::SsrfGuard;

/// Largest page read.
const PAGE_LIMIT: usize = 8 * 1024 * 1024;
/// Harbor page size (its maximum).
const HARBOR_PAGE: usize = 100;
/// Most pages read, against an upstream that pages forever.
const MAX_PAGES: usize = 10_000;

/// The kind of upstream registry an organization mirror lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryKind {
    /// Quay, or another Berth.
    Quay,
    /// Harbor.
    Harbor,
}

impl RegistryKind {
    /// Quay's name of the kind (`external_registry_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            RegistryKind::Quay => "quay",
            RegistryKind::Harbor => "harbor",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<RegistryKind> {
        match s {
            "quay" => Some(RegistryKind::Quay),
            "harbor" => Some(RegistryKind::Harbor),
            _ => None,
        }
    }
}

/// A client listing one upstream namespace.
pub struct NamespaceLister {
    http: reqwest::Client,
    guard: SsrfGuard,
    base: Url,
    kind: RegistryKind,
    namespace: String,
    credentials: Option<Credentials>,
    timeout: Duration,
}

impl NamespaceLister {
    /// A lister of `namespace` at `base` (`http[s]://host[:port]`, checked
    /// by the guard); `verify_tls: false` accepts any certificate.
    pub fn new(
        guard: SsrfGuard,
        kind: RegistryKind,
        base: &str,
        namespace: &str,
        verify_tls: bool,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> Result<NamespaceLister, UpstreamError> {
        let base = guard.check_url(base)?;
        let http = guard
            .client_builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .danger_accept_invalid_certs(!verify_tls)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Unreachable {
                url: base.to_string(),
                why: describe(&e),
            })?;
        Ok(NamespaceLister {
            http,
            guard,
            base,
            kind,
            namespace: namespace.to_owned(),
            credentials,
            timeout,
        })
    }

    /// Every repository of the namespace, as names within it (sorted,
    /// without duplicates).
    pub async fn list(&self) -> Result<Vec<String>, UpstreamError> {
        let mut names = match self.kind {
            RegistryKind::Quay => self.list_quay().await?,
            RegistryKind::Harbor => self.list_harbor().await?,
        };
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn get(&self, url: Url) -> Result<Vec<u8>, UpstreamError> {
        let url = self.guard.check_url(url.as_str())?;
        let mut req = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .timeout(self.timeout);
        if let Some(c) = &self.credentials {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let resp = req.send().await.map_err(|e| UpstreamError::Unreachable {
            url: url.to_string(),
            why: describe(&e),
        })?;
        match resp.status() {
            s if s.is_success() => read_capped(resp, PAGE_LIMIT, &url).await,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(UpstreamError::Unauthorized(url.to_string()))
            }
            StatusCode::NOT_FOUND => Err(UpstreamError::NotFound(url.to_string())),
            s => Err(UpstreamError::Status {
                url: url.to_string(),
                status: s.as_u16(),
            }),
        }
    }

    fn endpoint(&self, path: &str) -> Result<Url, UpstreamError> {
        self.base
            .join(path)
            .map_err(|e| UpstreamError::InvalidReference(format!("{}: {e}", self.base)))
    }

    async fn list_quay(&self) -> Result<Vec<String>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct Repo {
            namespace: Option<String>,
            name: String,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            repositories: Vec<Repo>,
            next_page: Option<String>,
        }
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self.endpoint("/api/v1/repository")?;
            url.query_pairs_mut().append_pair("namespace", &self.namespace);
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("next_page", t);
            }
            let body = self.get(url).await?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| UpstreamError::Invalid(format!("repository list of {}: {e}", self.namespace)))?;
            names.extend(
                page.repositories
                    .into_iter()
                    .filter(|r| r.namespace.as_deref().is_none_or(|n| n == self.namespace))
                    .map(|r| r.name),
            );
            match page.next_page.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(names),
            }
        }
        Err(UpstreamError::Invalid(format!(
            "repository list of {} never ends",
            self.namespace
        )))
    }

    async fn list_harbor(&self) -> Result<Vec<String>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct Repo {
            name: String,
        }
        let prefix = format!("{}/", self.namespace);
        let mut names = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = self.endpoint(&format!("/api/v2.0/projects/{}/repositories", self.namespace))?;
            url.query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair("page_size", &HARBOR_PAGE.to_string());
            let body = self.get(url).await?;
            let repos: Vec<Repo> = serde_json::from_slice(&body).map_err(|e| {
                UpstreamError::Invalid(format!("repository list of project {}: {e}", self.namespace))
            })?;
            let full = repos.len() >= HARBOR_PAGE;
            // Harbor names repositories with their project.
            names.extend(
                repos
                    .into_iter()
                    .map(|r| r.name.strip_prefix(&prefix).map_or(r.name.clone(), str::to_owned)),
            );
            if !full {
                return Ok(names);
            }
        }
        Err(UpstreamError::Invalid(format!(
            "repository list of project {} never ends",
            self.namespace
        )))
    }
}
