//! A registry client for one repository, enough to pull an image:
//! manifests with content negotiation, blobs as streams, basic credentials
//! and the bearer-token challenge.

use std::sync::Mutex;

use anyhow::{Context, anyhow, bail};
use berth_core::upstream::challenge_params;
use berth_oci::Digest;
use futures_util::TryStreamExt;
use serde::Deserialize;

use super::source::{LayerReader, MANIFEST_LIMIT};

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A registry client for one repository.
pub struct Registry {
    client: reqwest::Client,
    base: String,
    repo: String,
    pub(super) reference: String,
    creds: Option<(String, String)>,
    /// `Authorization: Bearer ...` once a token was issued; until then
    /// the credentials, if any, go as basic auth.
    auth: Mutex<Option<String>>,
}

impl Registry {
    pub(super) async fn connect(
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
        for (k, v) in challenge_params(params) {
            match k.as_str() {
                "realm" => realm = Some(v),
                "service" | "scope" => query.push((k, v)),
                _ => {}
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

    pub(super) async fn manifest(&self, reference: &str) -> anyhow::Result<(Digest, Vec<u8>)> {
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

    pub(super) async fn blob(&self, digest: &Digest) -> anyhow::Result<LayerReader> {
        let resp = self.get(&format!("blobs/{digest}"), "*/*").await?;
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        let reader = tokio_util::io::StreamReader::new(stream);
        Ok(Box::new(tokio_util::io::SyncIoBridge::new(reader)))
    }
}
