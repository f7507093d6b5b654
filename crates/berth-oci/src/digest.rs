//! Content digests (`sha256:<hex>`, `sha512:<hex>`) and resumable hashers.

use std::fmt;
use std::str::FromStr;

// FIPS builds hash through the AWS-LC FIPS module; the saved state has the
// same layout either way.
#[cfg(feature = "fips")]
mod module;
#[cfg(feature = "fips")]
use module::{Sha256, Sha512};
#[cfg(not(feature = "fips"))]
use sha2::digest::common::hazmat::SerializableState;
#[cfg(not(feature = "fips"))]
use sha2::{Digest as _, Sha256, Sha512};

/// A digest algorithm the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// SHA-256, the default for everything.
    Sha256,
    /// SHA-512, accepted where clients ask for it.
    Sha512,
}

impl Algorithm {
    /// The name used in digest strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sha256" => Ok(Algorithm::Sha256),
            "sha512" => Ok(Algorithm::Sha512),
            other => Err(DigestError::UnsupportedAlgorithm(
                other.chars().take(32).collect(),
            )),
        }
    }
}

/// Why a digest string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error("digest must have the form algorithm:hex")]
    Malformed,
    /// An algorithm we do not implement.
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// Hex part of the wrong length or alphabet.
    #[error("digest hex must be {0} lowercase hex characters")]
    BadHex(usize),
    /// A stored hash state that cannot be restored.
    #[error("stored hash state is corrupt")]
    BadState,
}

/// A validated content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Digest of a byte slice with the given algorithm.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// The algorithm part.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex part.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex) = s.split_once(':').ok_or(DigestError::Malformed)?;
        let algorithm: Algorithm = alg.parse()?;
        let ok = hex.len() == algorithm.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(DigestError::BadHex(algorithm.hex_len()));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

/// An incremental hasher whose state can be saved and restored, so an upload
/// can continue after a restart or on another instance without re-reading
/// the bytes already received.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Which algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far (the hasher is left untouched).
    pub fn finish(&self) -> Digest {
        let (algorithm, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.clone().finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.clone().finalize())),
        };
        Digest { algorithm, hex }
    }

    /// The internal state as bytes, for storing with an upload session.
    pub fn save(&self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.serialize().to_vec(),
            Hasher::Sha512(h) => h.serialize().to_vec(),
        }
    }

    /// Restore a state saved by [`Hasher::save`].
    pub fn restore(algorithm: Algorithm, state: &[u8]) -> Result<Hasher, DigestError> {
        match algorithm {
            Algorithm::Sha256 => {
                let arr = state.try_into().map_err(|_| DigestError::BadState)?;
                Sha256::deserialize(arr)
                    .map(Hasher::Sha256)
                    .map_err(|_| DigestError::BadState)
            }
            Algorithm::Sha512 => {
                let arr = state.try_into().map_err(|_| DigestError::BadState)?;
                Sha512::deserialize(arr)
                    .map(Hasher::Sha512)
                    .map_err(|_| DigestError::BadState)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        assert_eq!(d, Digest::of(Algorithm::Sha256, b""));
        assert_eq!(d.to_string().len(), 71);
    }

    #[test]
    fn refuses_bad_digests() {
        assert_eq!("sha256".parse::<Digest>(), Err(DigestError::Malformed));
        assert!(matches!(
            "md5:abc".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert_eq!("sha256:ABC".parse::<Digest>(), Err(DigestError::BadHex(64)));
        let upper = format!("sha256:{}", "A".repeat(64));
        assert_eq!(upper.parse::<Digest>(), Err(DigestError::BadHex(64)));
    }

    #[test]
    fn state_survives_save_and_restore() {
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let mut h = Hasher::new(alg);
            h.update(b"hello ");
            let saved = h.save();
            let mut r = Hasher::restore(alg, &saved).unwrap();
            r.update(b"world");
            assert_eq!(r.finish(), Digest::of(alg, b"hello world"));
            assert_eq!(
                Hasher::restore(alg, &saved[1..]).err(),
                Some(DigestError::BadState)
            );
        }
    }
}
