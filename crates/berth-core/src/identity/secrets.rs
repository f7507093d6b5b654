//! Generating and checking secrets. Passwords and tokens are stored only as
//! argon2id hashes, or in FIPS mode as PBKDF2-HMAC-SHA256 hashes (argon2 is
//! not FIPS-approved); either kind verifies in either mode, and FIPS mode
//! replaces an argon2 hash at the next successful login. Tokens shown to
//! users carry a clear lookup prefix that finds their row, so checking one
//! costs one hash, not a scan.

mod pbkdf2;

use std::num::NonZeroU32;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};

use crate::crypto::{fips_mode, random_bytes};

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

/// The hash (PHC string) of `secret`: PBKDF2 in FIPS mode, else argon2id.
pub fn hash_secret(secret: &str) -> Result<String, HashError> {
    if fips_mode() {
        return Ok(pbkdf2::hash(secret, pbkdf2_iterations()));
    }
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `secret` matches the PHC string `hash` (false for a malformed
/// hash).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    if pbkdf2::is_pbkdf2(hash) {
        return pbkdf2::verify(secret, hash);
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Whether a stored hash should be replaced by [`hash_secret`]'s after a
/// successful check: an argon2 hash in FIPS mode.
pub fn needs_rehash(hash: &str) -> bool {
    fips_mode() && !pbkdf2::is_pbkdf2(hash)
}

fn pbkdf2_iterations() -> NonZeroU32 {
    NonZeroU32::new(pbkdf2::ITERATIONS).unwrap_or(NonZeroU32::MIN)
}

/// A hash that matches nothing, checked when an account does not exist so
/// a failed login takes as long either way.
pub fn verify_against_nothing(secret: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_secret(&random_string(ALNUM, 24)).unwrap_or_default());
    let _ = verify_secret(secret, hash);
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 long),
/// from the module's random generator.
fn random_string(alphabet: &[u8], len: usize) -> String {
    // Bytes at or above the largest multiple of the alphabet's length are
    // dropped, so every character is equally likely.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        random_bytes(&mut buf);
        for &b in buf.iter().filter(|&&b| usize::from(b) < limit) {
            if out.len() == len {
                break;
            }
            out.push(alphabet[usize::from(b) % alphabet.len()] as char);
        }
    }
    out
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
        // FIPS mode (PBKDF2 for new hashes) is process-wide and stays off in
        // unit tests; tests/fips.rs covers it.
        let h = hash_secret("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_secret("correct horse", &h));
        assert!(!verify_secret("correct horsf", &h));
        assert!(!verify_secret("correct horse", "not a hash"));
    }

    /// Turning FIPS mode off must not lock out whoever logged in with it on.
    #[test]
    fn pbkdf2_and_argon2_hashes_both_verify() {
        let argon = Argon2::default().hash_password(b"pw").unwrap().to_string();
        let pbkdf = pbkdf2::hash("pw", pbkdf2_iterations());
        for h in [&argon, &pbkdf] {
            assert!(verify_secret("pw", h), "{h}");
            assert!(!verify_secret("px", h), "{h}");
        }
        assert!(!needs_rehash(&pbkdf));
        assert!(!needs_rehash(&argon), "outside FIPS mode");
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
