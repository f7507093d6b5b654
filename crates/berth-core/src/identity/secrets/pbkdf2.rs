//! PBKDF2-HMAC-SHA256 secret hashes, the FIPS-approved password hash, in a
//! PHC string that names its parameters so they can change later:
//! `$pbkdf2-sha256$i=<iterations>,l=<length>$<salt>$<hash>` (base64
//! without padding).

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2::{PBKDF2_HMAC_SHA256, derive, verify as verify_derived};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;

use crate::crypto::random_bytes;

/// The PHC identifier.
const PREFIX: &str = "$pbkdf2-sha256$";
/// Iterations for new hashes (OWASP's figure for PBKDF2-HMAC-SHA256).
pub const ITERATIONS: u32 = 600_000;
/// Salt bytes (NIST SP 800-132 asks for at least 16).
const SALT_LEN: usize = 16;
/// Derived bytes (SHA-256's output).
const HASH_LEN: usize = 32;
/// Most iterations a stored hash may ask for, so a corrupted row cannot
/// make one login hash for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

/// Whether `hash` is one of these.
pub fn is_pbkdf2(hash: &str) -> bool {
    hash.starts_with(PREFIX)
}

/// The PHC string of `secret` with `iterations`.
pub fn hash(secret: &str, iterations: NonZeroU32) -> String {
    let mut salt = [0u8; SALT_LEN];
    random_bytes(&mut salt);
    let mut out = [0u8; HASH_LEN];
    derive(PBKDF2_HMAC_SHA256, iterations, &salt, secret.as_bytes(), &mut out);
    format!(
        "{PREFIX}i={iterations},l={HASH_LEN}${}${}",
        B64.encode(salt),
        B64.encode(out)
    )
}

/// Whether `secret` matches `hash` (false for a malformed hash).
pub fn verify(secret: &str, hash: &str) -> bool {
    let Some((iterations, salt, derived)) = parse(hash) else {
        return false;
    };
    verify_derived(PBKDF2_HMAC_SHA256, iterations, &salt, secret.as_bytes(), &derived).is_ok()
}

fn parse(hash: &str) -> Option<(NonZeroU32, Vec<u8>, Vec<u8>)> {
    let mut parts = hash.strip_prefix(PREFIX)?.split('$');
    let (params, salt, derived) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let mut iterations = None;
    let mut length = None;
    for param in params.split(',') {
        match param.split_once('=')? {
            ("i", v) => iterations = Some(v.parse::<u32>().ok()?),
            ("l", v) => length = Some(v.parse::<usize>().ok()?),
            _ => return None,
        }
    }
    let iterations = NonZeroU32::new(iterations?).filter(|i| i.get() <= MAX_ITERATIONS)?;
    let salt = B64.decode(salt).ok().filter(|s| !s.is_empty())?;
    let derived = B64.decode(derived).ok()?;
    (derived.len() == length? && (16..=64).contains(&derived.len())).then_some((iterations, salt, derived))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn few() -> NonZeroU32 {
        NonZeroU32::new(1000).unwrap()
    }

    #[test]
    fn hashes_describe_themselves_and_verify() {
        let h = hash("correct horse", few());
        assert!(h.starts_with("$pbkdf2-sha256$i=1000,l=32$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert_ne!(h, hash("correct horse", few()), "salted");
    }

    /// RFC 7914's PBKDF2-HMAC-SHA256 test vector (P="passwd", S="salt", c=1).
    #[test]
    fn matches_a_known_answer() {
        let derived = hex::decode(
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
        )
        .unwrap();
        let known = format!(
            "{PREFIX}i=1,l=64${}${}",
            B64.encode(b"salt"),
            B64.encode(&derived)
        );
        assert!(verify("passwd", &known));
        assert!(!verify("passwe", &known));
    }

    #[test]
    fn malformed_hashes_match_nothing() {
        let good = hash("pw", few());
        let (head, tail) = good.rsplit_once('$').unwrap();
        for bad in [
            "".to_owned(),
            PREFIX.to_owned(),
            good.replace("i=1000", "i=0"),
            good.replace("i=1000", "i=99999999999"),
            good.replace("i=1000", "i=20000000"),
            good.replace("l=32", "l=31"),
            good.replace(",l=32", ",x=1"),
            format!("{head}$!!!"),
            format!("{good}$extra"),
            format!("{head}${}", &tail[..10]),
        ] {
            assert!(!verify("pw", &bad), "{bad}");
        }
    }
}
