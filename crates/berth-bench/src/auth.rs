//! Docker token authentication as real clients (podman, docker) do it: the
//! registry's `401` to `GET /v2/` names a token realm; a token per
//! repository is fetched there once with Basic credentials, cached, and
//! sent as `Authorization: Bearer` on every request of that repository.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderValue;

use crate::client::{BenchError, status_error};

/// A user name and password.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) user: String,
    pub(crate) password: String,
}

/// What a `WWW-Authenticate: Bearer ...` challenge names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) realm: String,
    pub(crate) service: Option<String>,
}

/// Parse a Bearer challenge (`Bearer realm="...",service="...",...`);
/// `None` for any other scheme or without a realm.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, mut rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let (mut realm, mut service) = (None, None);
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=')?;
        // Quoted values may hold commas (`scope="repository:a:pull,push"`).
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim(), &after[end..])
            }
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value.to_owned()),
            "service" => service = Some(value.to_owned()),
            _ => {}
        }
        rest = next;
    }
    Some(Challenge {
        realm: realm?,
        service,
    })
}

/// A token and when to fetch the next one.
struct Token {
    header: HeaderValue,
    refresh_at: Instant,
}

/// One repository's token.
#[derive(Default)]
struct RepoToken {
    /// Read on every request; written only after a fetch.
    current: RwLock<Option<Token>>,
    /// Held while fetching, so concurrent first requests fetch once.
    fetching: tokio::sync::Mutex<()>,
}

impl RepoToken {
    fn fresh(&self) -> Option<HeaderValue> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.header.clone())
    }
}

/// The token endpoint's answer (Docker token spec: `token` or
/// `access_token`, lifetime `expires_in`, 60 s when absent).
#[derive(serde::Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Tokens for one registry, per repository.
pub(crate) struct TokenAuth {
    realm: reqwest::Url,
    service: Option<String>,
    credentials: Credentials,
    /// Held only to find or add a repository's entry, never across a wait.
    repos: RwLock<HashMap<String, Arc<RepoToken>>>,
    fetches: AtomicU64,
}

impl TokenAuth {
    /// Token mode for the registry that sent `challenge`.
    pub(crate) fn new(challenge: Challenge, credentials: Credentials) -> Result<TokenAuth, BenchError> {
        let realm = reqwest::Url::parse(&challenge.realm)
            .map_err(|e| BenchError::Auth(format!("token realm {:?}: {e}", challenge.realm)))?;
        Ok(TokenAuth {
            realm,
            service: challenge.service,
            credentials,
            repos: RwLock::new(HashMap::new()),
            fetches: AtomicU64::new(0),
        })
    }

    /// How many tokens have been fetched.
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn slot(&self, repo: &str) -> Arc<RepoToken> {
        let found = self
            .repos
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(repo)
            .cloned();
        found.unwrap_or_else(|| {
            let mut repos = self.repos.write().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(repos.entry(repo.to_owned()).or_default())
        })
    }

    /// The `Authorization` value for `repo`, fetching a token the first
    /// time and when the cached one nears its end.
    pub(crate) async fn token(&self, http: &reqwest::Client, repo: &str) -> Result<HeaderValue, BenchError> {
        let slot = self.slot(repo);
        if let Some(header) = slot.fresh() {
            return Ok(header);
        }
        let _fetching = slot.fetching.lock().await;
        if let Some(header) = slot.fresh() {
            return Ok(header);
        }
        self.fetch(http, repo, &slot).await
    }

    /// A new token for `repo` after `stale` was refused, unless another
    /// request already replaced it.
    pub(crate) async fn refresh(
        &self,
        http: &reqwest::Client,
        repo: &str,
        stale: &HeaderValue,
    ) -> Result<HeaderValue, BenchError> {
        let slot = self.slot(repo);
        let _fetching = slot.fetching.lock().await;
        if let Some(header) = slot.fresh().filter(|h| h != stale) {
            return Ok(header);
        }
        self.fetch(http, repo, &slot).await
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        repo: &str,
        slot: &RepoToken,
    ) -> Result<HeaderValue, BenchError> {
        let mut url = self.realm.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &self.service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &format!("repository:{repo}:pull,push"));
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let r = http
            .get(url)
            .basic_auth(&self.credentials.user, Some(&self.credentials.password))
            .send()
            .await?;
        if r.status() != StatusCode::OK {
            return Err(status_error(r, StatusCode::OK, &format!("GET token for {repo}")).await);
        }
        let answer: TokenAnswer = r.json().await?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| BenchError::Auth(format!("token endpoint gave no token for {repo}")))?;
        let mut header = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| BenchError::Auth(format!("token for {repo} is no header value")))?;
        header.set_sensitive(true);
        let lifetime = Duration::from_secs(answer.expires_in.filter(|s| *s > 0).unwrap_or(60));
        // Renew before the end, so a streaming upload never meets a 401.
        let refresh_at = Instant::now() + lifetime.mul_f64(0.9);
        *slot.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Token {
            header: header.clone(),
            refresh_at,
        });
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        let c = parse_challenge(r#"Bearer realm="http://h:1/v2/auth",service="h:1""#).unwrap();
        assert_eq!(c.realm, "http://h:1/v2/auth");
        assert_eq!(c.service.as_deref(), Some("h:1"));
        let c = parse_challenge(
            r#"bearer service="h",scope="repository:a/b:pull,push",realm="http://h/auth",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(c.realm, "http://h/auth");
        assert_eq!(c.service.as_deref(), Some("h"));
        let c = parse_challenge("Bearer realm=http://h/auth").unwrap();
        assert_eq!((c.realm.as_str(), c.service), ("http://h/auth", None));
        for not in [
            r#"Basic realm="registry""#,
            r#"Bearer service="h""#,
            r#"Bearer realm="unterminated"#,
            "Bearer",
            "",
        ] {
            assert_eq!(parse_challenge(not), None, "{not}");
        }
    }
}
