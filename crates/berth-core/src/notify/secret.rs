//! Webhook signing secrets: random, shown once, and stored encrypted
//! (AES-256-GCM under a key derived from `DATABASE_SECRET_KEY` with
//! HKDF-SHA256; the notification's id is the associated data, so a sealed
//! secret copied to another row does not open). They must stay usable to
//! sign every delivery, so they cannot be hashed like passwords.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::hmac;

/// Seals and opens signing secrets.
#[derive(Clone)]
pub struct SecretBox {
    key: std::sync::Arc<LessSafeKey>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// The key could not be derived (never for a non-empty configured key).
#[derive(Debug, thiserror::Error)]
#[error("cannot derive the notification secret key")]
pub struct KeyError;

impl SecretBox {
    /// The box of `database_secret_key`.
    pub fn new(database_secret_key: &str) -> Result<SecretBox, KeyError> {
        let salt = Salt::new(HKDF_SHA256, b"berth");
        let prk = salt.extract(database_secret_key.as_bytes());
        let okm = prk
            .expand(&[b"notification webhook secrets"], &AES_256_GCM)
            .map_err(|_| KeyError)?;
        let key = UnboundKey::from(okm);
        Ok(SecretBox {
            key: std::sync::Arc::new(LessSafeKey::new(key)),
        })
    }

    /// Encrypt `secret` for the notification `uuid`: nonce, then ciphertext
    /// and tag.
    pub fn seal(&self, uuid: &str, secret: &str) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::crypto::random_bytes(&mut nonce);
        let mut buf = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(uuid.as_bytes()),
                &mut buf,
            )
            .map_err(|_| KeyError)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypt what [`SecretBox::seal`] made for `uuid`; `None` if it was
    /// sealed under another key or for another notification.
    pub fn open(&self, uuid: &str, sealed: &[u8]) -> Option<String> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(uuid.as_bytes()), &mut buf)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// A new signing secret (64 hex characters).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    crate::crypto::random_bytes(&mut bytes);
    hex::encode(bytes)
}

/// `sha256=<hex HMAC-SHA256 of body under secret>`, the value of
/// `X-Berth-Signature-256`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_notification_and_key() {
        let b = SecretBox::new("key one").unwrap();
        let sealed = b.seal("n-1", "s3cret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(b.open("n-1", &sealed).as_deref(), Some("s3cret"));
        assert_eq!(b.open("n-2", &sealed), None);
        assert_eq!(SecretBox::new("key two").unwrap().open("n-1", &sealed), None);
        assert_eq!(b.open("n-1", &sealed[..5]), None);
    }

    #[test]
    fn the_signature_is_rfc_4231s_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
