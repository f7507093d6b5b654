//! Generating and checking secrets. Passwords and tokens are stored only as
//! argon2id hashes; tokens shown to users carry a clear lookup prefix that
//! finds their row, so checking one costs one hash, not a scan.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use rand::RngExt;

/// Length of the clear lookup prefix of app and OAuth tokens.
pub const LOOKUP_LEN: usize = 8;
/// Length of the secret part after the prefix.
const SECRET_LEN: usize = 32;
/// Robot tokens: 64 characters from `[A-Z0-9]`, as Quay makes them.
const ROBOT_TOKEN_LEN: usize = 64;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Hashing failed (only on resource exhaustion).
#[derive(Debug, thiserror::Error)]
#[error("hashing a secret failed: {0}")]
pub struct HashError(String);

/// The argon2id hash (PHC string) of `secret`.
pub fn hash_secret(secret: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `secret` matches the PHC string `hash` (false for a malformed
/// hash).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash that matches nothing, checked when an account does not exist so
/// a failed login takes as long either way.
pub fn verify_against_nothing(secret: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_secret(&random_string(ALNUM, 24)).unwrap_or_default());
    let _ = verify_secret(secret, hash);
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A new robot token.
pub fn robot_token() -> String {
    random_string(UPPER_DIGITS, ROBOT_TOKEN_LEN)
}

/// A new random password for a generated account.
pub fn random_password() -> String {
    random_string(ALNUM, 24)
}

/// A new public identifier (client ids and the like).
pub fn random_id(len: usize) -> String {
    random_string(UPPER_DIGITS, len)
}

/// A token made of a clear lookup prefix and a secret part.
pub struct LookupToken {
    /// Finds the row.
    pub lookup: String,
    /// The whole token, shown once.
    pub token: String,
}

impl LookupToken {
    /// A new random token.
    pub fn generate() -> LookupToken {
        let lookup = random_string(ALNUM, LOOKUP_LEN);
        let token = format!("{lookup}{}", random_string(ALNUM, SECRET_LEN));
        LookupToken { lookup, token }
    }
}

/// Split a presented token into its lookup prefix and the whole token, or
/// `None` if it cannot be one of ours.
pub fn split_lookup(token: &str) -> Option<&str> {
    (token.len() == LOOKUP_LEN + SECRET_LEN && token.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| &token[..LOOKUP_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_secret() {
        let h = hash_secret("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_secret("correct horse", &h));
        assert!(!verify_secret("correct horsf", &h));
        assert!(!verify_secret("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_have_their_shape() {
        let t = robot_token();
        assert_eq!(t.len(), 64);
        assert!(t.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        let l = LookupToken::generate();
        assert_eq!(split_lookup(&l.token), Some(l.lookup.as_str()));
        assert_eq!(split_lookup("short"), None);
        assert_eq!(split_lookup(&format!("{}!", &l.token[1..])), None);
    }
}
