//! Registry tokens: the short-lived signed JWTs `/v2/auth` issues and `/v2`
//! accepts, in the Docker token format (Quay's claims). Keys are Ed25519,
//! generated on first start, kept in the database so every instance shares
//! them, and rotatable; retired keys keep verifying until the tokens they
//! signed have expired.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use berth_store::Db;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::IdentityError;

/// Clock skew tolerated between instances and clients.
const LEEWAY_S: u64 = 30;
/// Unknown key ids trigger a reload at most this often.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Verified tokens remembered at most (the memory is cleared when full).
const VERIFIED_ENTRIES: usize = 16_384;

/// One grant in a token: actions on a repository.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessClaim {
    /// Always `repository`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository as the client named it.
    pub name: String,
    /// `pull`, `push`, `*`.
    pub actions: Vec<String>,
}

/// Who the token was issued to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenContext {
    /// Format version (2).
    pub version: u32,
    /// `user`, `robot`, `appspecifictoken`, `oauthtoken` or `anonymous`.
    pub entity_kind: String,
    /// The account's id, empty for anonymous.
    pub entity_reference: String,
    /// `user` for accounts, `anonymous` otherwise.
    pub kind: String,
    /// The account's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Whether the account was a superuser when the token was issued (our
    /// addition: decisions made later from the token, such as creating a
    /// repository on push, need it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub super_user: bool,
    /// The scopes (space-separated) of the OAuth token the caller logged
    /// in with, for `oauthtoken` entities (our addition: listings filtered
    /// from the token must stay within them; missing means none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
}

/// The claims of a registry token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// The service (registry host) the token is for.
    pub aud: String,
    /// Account name, or `(anonymous)`.
    pub sub: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Not before (seconds).
    pub nbf: i64,
    /// Expires (seconds).
    pub exp: i64,
    /// Unique id.
    pub jti: String,
    /// What the token grants.
    pub access: Vec<AccessClaim>,
    /// Who it was issued to.
    pub context: TokenContext,
}

impl Claims {
    /// Whether the token grants `action` on `repository`. `*` includes
    /// everything; `push` does not include `pull`.
    pub fn grants(&self, repository: &str, action: &str) -> bool {
        self.access.iter().any(|a| {
            a.kind == "repository"
                && a.name == repository
                && a.actions.iter().any(|x| x == action || x == "*")
        })
    }
}

/// A requested scope: `repository:<name>:<actions>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedScope {
    /// The repository, without any host prefix.
    pub name: String,
    /// As the client spelled it (echoed in the token).
    pub spelled: String,
    /// Requested actions, deduplicated.
    pub actions: Vec<String>,
}

/// Parse a `scope` parameter. `Ok(None)` for scope types that grant nothing
/// here (such as `registry:catalog:*`; the catalog is filtered per caller).
pub fn parse_scope(scope: &str, host: &str) -> Result<Option<RequestedScope>, String> {
    let bad = || format!("invalid scope {scope:?}");
    let (kind, rest) = scope.split_once(':').ok_or_else(bad)?;
    let (spelled, actions) = rest.rsplit_once(':').ok_or_else(bad)?;
    match kind {
        "repository" => {}
        "registry" => return Ok(None),
        _ => return Err(bad()),
    }
    let name = spelled
        .strip_prefix(host)
        .and_then(|n| n.strip_prefix('/'))
        .unwrap_or(spelled);
    if berth_oci::validate_repository(name).is_err() {
        return Err(bad());
    }
    let mut list: Vec<String> = Vec::new();
    for a in actions.split(',') {
        if !matches!(a, "pull" | "push" | "delete" | "*") {
            return Err(bad());
        }
        if !list.iter().any(|x| x == a) {
            list.push(a.to_owned());
        }
    }
    Ok(Some(RequestedScope {
        name: name.to_owned(),
        spelled: spelled.to_owned(),
        actions: list,
    }))
}

/// A new Ed25519 key: (kid, PKCS#8 private key, raw public key).
pub fn generate_key() -> Result<(String, Vec<u8>, Vec<u8>), IdentityError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|e| IdentityError::Internal(format!("key generation: {e}")))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|e| IdentityError::Internal(format!("key generation: {e}")))?;
    let public = pair.public_key().as_ref().to_vec();
    // The kid names the key by its public half.
    let kid = hex::encode(&crate::crypto::sha256(&[&public])[..8]);
    Ok((kid, pkcs8.as_ref().to_vec(), public))
}

struct KeyRing {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
}

/// Issues and verifies registry tokens.
#[derive(Clone)]
pub struct TokenService {
    db: Db,
    issuer: String,
    lifetime: Duration,
    ring: Arc<RwLock<Arc<KeyRing>>>,
    last_reload: Arc<Mutex<Option<Instant>>>,
    /// Tokens whose signature was checked, by digest of token and
    /// audience: clients send the same token with every request, and a
    /// signature check costs far more than a lookup. Expiry is still
    /// checked on every use.
    verified: Arc<Mutex<HashMap<[u8; 32], Arc<Claims>>>>,
}

impl TokenService {
    /// A service that has no keys yet; call [`TokenService::start`].
    pub fn new(db: Db, issuer: String, lifetime: Duration) -> TokenService {
        TokenService {
            db,
            issuer,
            lifetime,
            ring: Arc::new(RwLock::new(Arc::new(KeyRing {
                signing: None,
                verifying: HashMap::new(),
            }))),
            last_reload: Arc::new(Mutex::new(None)),
            verified: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// How long tokens live.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Load the keys, generating the first one if none exists.
    pub async fn start(&self) -> Result<(), IdentityError> {
        self.reload().await?;
        if self.has_signing_key() {
            // Generating a key would seed the random generator, tens of
            // milliseconds of every start: only a first start does.
            return Ok(());
        }
        let (kid, private, public) = generate_key()?;
        self.db.add_first_signing_key(&kid, &private, &public).await?;
        self.reload().await
    }

    /// Retire the signing key and start signing with a new one. Tokens
    /// signed by the old key stay valid until they expire.
    pub async fn rotate(&self) -> Result<String, IdentityError> {
        let (kid, private, public) = generate_key()?;
        self.db.rotate_signing_key(&kid, &private, &public).await?;
        self.reload().await?;
        Ok(kid)
    }

    async fn reload(&self) -> Result<(), IdentityError> {
        let horizon = berth_store::now_ms() - (self.lifetime.as_millis() as i64) - (LEEWAY_S as i64 * 1000);
        let rows = self.db.signing_keys(horizon).await?;
        let mut ring = KeyRing {
            signing: None,
            verifying: HashMap::new(),
        };
        for row in rows {
            if ring.signing.is_none() && row.retired_ms.is_none() {
                ring.signing = Some((row.kid.clone(), EncodingKey::from_ed_der(&row.private_der)));
            }
            ring.verifying
                .insert(row.kid.clone(), DecodingKey::from_ed_der(&row.public_der));
        }
        if let Ok(mut guard) = self.ring.write() {
            *guard = Arc::new(ring);
        }
        if let Ok(mut last) = self.last_reload.lock() {
            *last = Some(Instant::now());
        }
        Ok(())
    }

    /// Sign a token for nobody and verify it: whether tokens can be issued
    /// and checked (the health check's `auth`).
    pub async fn self_test(&self) -> Result<(), IdentityError> {
        let context = TokenContext {
            version: 2,
            entity_kind: "anonymous".into(),
            entity_reference: String::new(),
            kind: "anonymous".into(),
            user: None,
            super_user: false,
            scopes: None,
        };
        let (token, _) = self.issue("berth-health", "", context, Vec::new()).await?;
        self.verify(&token, "berth-health").await.map(drop)
    }

    /// Whether a signing key is loaded (the health check's `service_key`).
    pub fn has_signing_key(&self) -> bool {
        self.current().is_some_and(|r| r.signing.is_some())
    }

    fn current(&self) -> Option<Arc<KeyRing>> {
        self.ring.read().ok().map(|g| Arc::clone(&g))
    }

    /// Sign a token for `sub` with `access`, valid for the configured
    /// lifetime.
    pub async fn issue(
        &self,
        audience: &str,
        sub: &str,
        context: TokenContext,
        access: Vec<AccessClaim>,
    ) -> Result<(String, Claims), IdentityError> {
        let now = (berth_store::now_ms() / 1000).max(0);
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: audience.to_owned(),
            sub: sub.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.lifetime.as_secs() as i64,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            access,
            context,
        };
        if self.current().is_none_or(|r| r.signing.is_none()) {
            self.reload().await?;
        }
        let ring = self
            .current()
            .ok_or_else(|| IdentityError::Internal("key ring unavailable".into()))?;
        let (kid, key) = ring
            .signing
            .as_ref()
            .ok_or_else(|| IdentityError::Internal("no signing key".into()))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| IdentityError::Internal(format!("signing a token: {e}")))?;
        Ok((token, claims))
    }

    /// Verify a token for `audience`: signature by one of our keys,
    /// issuer, audience, time window.
    pub async fn verify(&self, token: &str, audience: &str) -> Result<Arc<Claims>, IdentityError> {
        let key = crate::crypto::sha256(&[audience.as_bytes(), &[0], token.as_bytes()]);
        let known = self.verified.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some(claims) = known {
            let now = berth_store::now_ms() / 1000;
            if claims.exp + LEEWAY_S as i64 >= now {
                return Ok(claims);
            }
            return Err(IdentityError::InvalidToken("token expired".into()));
        }
        let claims = Arc::new(self.verify_signed(token, audience).await?);
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= VERIFIED_ENTRIES {
                m.clear();
            }
            m.insert(key, Arc::clone(&claims));
        }
        Ok(claims)
    }

    async fn verify_signed(&self, token: &str, audience: &str) -> Result<Claims, IdentityError> {
        let invalid = |why: &str| IdentityError::InvalidToken(why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid("unexpected signing algorithm"));
        }
        let kid = header.kid.ok_or_else(|| invalid("token names no key"))?;
        let mut key = self.current().and_then(|r| r.verifying.get(&kid).cloned());
        if key.is_none() && self.may_reload() {
            // Another instance may have rotated.
            self.reload().await?;
            key = self.current().and_then(|r| r.verifying.get(&kid).cloned());
        }
        let key = key.ok_or_else(|| invalid("token signed by an unknown key"))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        validation.set_audience(&[audience]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => invalid("token expired"),
                jsonwebtoken::errors::ErrorKind::InvalidAudience => invalid("token is for another service"),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => invalid("bad token signature"),
                _ => invalid("invalid token"),
            })
    }

    fn may_reload(&self) -> bool {
        self.last_reload
            .lock()
            .map(|last| last.is_none_or(|t| t.elapsed() >= RELOAD_INTERVAL))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse() {
        let s = parse_scope("repository:ns/repo:pull,push,pull", "h:5000")
            .unwrap()
            .unwrap();
        assert_eq!(s.name, "ns/repo");
        assert_eq!(s.actions, ["pull", "push"]);
        let s = parse_scope("repository:h:5000/ns/repo:pull", "h:5000")
            .unwrap()
            .unwrap();
        assert_eq!(s.name, "ns/repo");
        assert_eq!(s.spelled, "h:5000/ns/repo");
        assert_eq!(parse_scope("registry:catalog:*", "h").unwrap(), None);
        for bad in [
            "repository:ns/repo",
            "repository:ns/repo:fly",
            "nope:a:pull",
            "repository:UP/x:pull",
            "",
        ] {
            assert!(parse_scope(bad, "h").is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_sign_and_verify() {
        // Guards against a crypto backend mix-up, which would panic here.
        let (_, private, public) = generate_key().unwrap();
        let claims = serde_json::json!({"sub": "x", "exp": 4_000_000_000u64});
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims,
            &EncodingKey::from_ed_der(&private),
        )
        .unwrap();
        let mut v = Validation::new(Algorithm::EdDSA);
        v.required_spec_claims.clear();
        v.validate_aud = false;
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&token, &DecodingKey::from_ed_der(&public), &v).is_ok()
        );
        let (_, _, other) = generate_key().unwrap();
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&token, &DecodingKey::from_ed_der(&other), &v).is_err()
        );
    }
}
