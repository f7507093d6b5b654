//! Answering an upstream's `WWW-Authenticate` challenge: Basic with the
//! configured credentials, or a bearer token fetched from the challenge's
//! realm (checked by the guard like every other URL; the credentials are
//! sent to it, as registries expect, only over the realm the upstream
//! named).

use base64::Engine;
use reqwest::header::HeaderValue;

use super::{UpstreamClient, UpstreamError, describe};

/// The `Authorization` value answering `challenge`.
pub(super) async fn authorize(
    client: &UpstreamClient,
    challenge: &str,
) -> Result<HeaderValue, UpstreamError> {
    let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
    let creds = client.settings.credentials.as_ref();
    let target = client.target.to_string();
    if scheme.eq_ignore_ascii_case("basic") {
        let c = creds.ok_or_else(|| UpstreamError::Unauthorized(target.clone()))?;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
        return header(&format!("Basic {encoded}"));
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(UpstreamError::Unauthorized(target));
    }
    let mut realm = None;
    let mut query = Vec::new();
    for (k, v) in challenge_params(params) {
        match k.as_str() {
            "realm" => realm = Some(v),
            "service" | "scope" => query.push((k, v)),
            _ => {}
        }
    }
    let realm = realm.ok_or_else(|| UpstreamError::Invalid("bearer challenge without realm".into()))?;
    let url = reqwest::Url::parse_with_params(&realm, &query)
        .map_err(|e| UpstreamError::Invalid(format!("token realm {realm:?}: {e}")))?;
    let url = client.guard.check_url(url.as_str())?;
    let mut req = client.http.get(url.clone()).timeout(client.settings.timeout);
    if let Some(c) = creds {
        req = req.basic_auth(&c.username, Some(&c.password));
    }
    let resp = req.send().await.map_err(|e| UpstreamError::Unreachable {
        url: url.to_string(),
        why: describe(&e),
    })?;
    if !resp.status().is_success() {
        return Err(UpstreamError::Unauthorized(target));
    }
    #[derive(serde::Deserialize)]
    struct Token {
        token: Option<String>,
        access_token: Option<String>,
    }
    let body = super::read_capped(resp, 64 * 1024, &url).await?;
    let t: Token = serde_json::from_slice(&body)
        .map_err(|e| UpstreamError::Invalid(format!("token answer of {realm}: {e}")))?;
    let token = t
        .token
        .or(t.access_token)
        .ok_or_else(|| UpstreamError::Invalid(format!("token answer of {realm} has no token")))?;
    header(&format!("Bearer {token}"))
}

fn header(value: &str) -> Result<HeaderValue, UpstreamError> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| UpstreamError::Invalid("credentials or token not usable in a header".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// The `key="value"` pairs of a `WWW-Authenticate` challenge, keys in
/// lower case; values may hold commas (a scope such as
/// `repository:ns/app:pull,push`). The one parser of every upstream client.
pub fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, n)) => (v.to_owned(), n),
                None => (quoted.to_owned(), ""),
            }
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v.trim().to_owned(), n),
                None => (after.trim().to_owned(), ""),
            }
        };
        out.push((key, value));
        rest = next.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::challenge_params;

    #[test]
    fn challenges_with_commas_in_values_parse() {
        let p = challenge_params(r#"Realm="http://h/v2/auth",service="h",scope="repository:a/b:pull,push""#);
        assert_eq!(
            p,
            [
                ("realm".to_owned(), "http://h/v2/auth".to_owned()),
                ("service".to_owned(), "h".to_owned()),
                ("scope".to_owned(), "repository:a/b:pull,push".to_owned()),
            ]
        );
        assert_eq!(
            challenge_params("realm=x, service=y"),
            [
                ("realm".to_owned(), "x".to_owned()),
                ("service".to_owned(), "y".to_owned()),
            ]
        );
        assert!(challenge_params("").is_empty());
    }
}
