//! The process's cryptography: FIPS mode, the TLS provider and the small
//! digests the services take. Everything here goes through aws-lc-rs, which
//! a build with the `fips` feature links to the AWS-LC FIPS 140-3 module.

use std::sync::atomic::{AtomicBool, Ordering};

use rustls::crypto::CryptoProvider;

/// FIPS mode, once [`enable_fips_mode`] succeeded. Process-wide like the
/// module itself: it decides how new secrets are hashed.
static FIPS: AtomicBool = AtomicBool::new(false);

/// Why FIPS mode cannot be turned on.
#[derive(Debug, thiserror::Error)]
pub enum FipsError {
    /// The binary does not contain the FIPS module.
    #[error(
        "FEATURE_FIPS is true, but this berth binary was built without the FIPS module; \
         build it with `cargo build --release --features fips` (needs cmake and Go)"
    )]
    NotBuilt,
    /// The module is there but did not enter FIPS mode or failed its self-tests.
    #[error("FEATURE_FIPS is true, but the FIPS module {0}")]
    Module(&'static str),
}

/// Whether this binary contains the FIPS module (`--features fips`).
pub const FIPS_BUILD: bool = cfg!(feature = "fips");

/// Turn FIPS mode on for this process: check that the FIPS module is linked,
/// in FIPS mode and passes its self-tests, and make its FIPS-approved TLS
/// provider the process default (outgoing TLS: PostgreSQL, S3). Call first
/// thing, before any secret is hashed or any TLS connection made.
pub fn enable_fips_mode() -> Result<(), FipsError> {
    check_module()?;
    let provider = tls_provider(true)?;
    // Refused only if a provider is already installed; it must be FIPS too.
    let _ = provider.install_default();
    if !CryptoProvider::get_default().is_some_and(|p| p.fips()) {
        return Err(FipsError::Module("is not what the TLS provider uses"));
    }
    FIPS.store(true, Ordering::SeqCst);
    Ok(())
}

/// The linked AWS-LC version (a FIPS release in a FIPS build).
pub fn module_version() -> &'static str {
    aws_lc_rs::awslc_version()
}

/// Whether the FIPS module is linked, in FIPS mode and passes its
/// self-tests (changes nothing).
pub fn check_module() -> Result<(), FipsError> {
    if !FIPS_BUILD {
        return Err(FipsError::NotBuilt);
    }
    aws_lc_rs::try_fips_mode().map_err(|_| FipsError::Module("is not in FIPS mode"))?;
    aws_lc_rs::try_fips_self_test().map_err(|_| FipsError::Module("failed its self-tests"))
}

/// Whether FIPS mode is on ([`enable_fips_mode`] succeeded).
pub fn fips_mode() -> bool {
    FIPS.load(Ordering::SeqCst)
}

/// The rustls crypto provider for TLS: with `fips`, the module's provider
/// restricted to FIPS-approved suites, key exchanges and signatures (an
/// error in a build without the module); without, aws-lc-rs's default.
pub fn tls_provider(fips: bool) -> Result<CryptoProvider, FipsError> {
    if fips {
        #[cfg(feature = "fips")]
        return Ok(rustls::crypto::default_fips_provider());
        #[cfg(not(feature = "fips"))]
        return Err(FipsError::NotBuilt);
    }
    Ok(rustls::crypto::aws_lc_rs::default_provider())
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Fill `buf` from the module's random generator (a DRBG in FIPS mode).
pub fn random_bytes(buf: &mut [u8]) {
    // Fails only if the system entropy source does, which leaves nothing
    // safe to do; the module itself aborts in that case in FIPS mode.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(buf).expect("the random generator failed");
}

/// Seed the module's random generator now. Its first use gathers CPU
/// jitter entropy for tens of milliseconds: a server pays that off its
/// start-up path rather than on the first request that needs randomness.
pub fn warm_up_random() {
    random_bytes(&mut [0u8; 1]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_answers() {
        assert_eq!(
            hex::encode(sha256(&[b"ab", b"c"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn fips_mode_needs_the_module() {
        let mut buf = [0u8; 32];
        random_bytes(&mut buf);
        assert_ne!(buf, [0u8; 32]);
        // FIPS mode itself stays off: it is process-wide, and the other
        // tests of this process hash secrets as a normal server does.
        if FIPS_BUILD {
            check_module().unwrap();
            assert!(tls_provider(true).unwrap().fips());
        } else {
            assert!(matches!(check_module(), Err(FipsError::NotBuilt)));
            assert!(matches!(enable_fips_mode(), Err(FipsError::NotBuilt)));
            assert!(!fips_mode());
            assert!(matches!(tls_provider(true), Err(FipsError::NotBuilt)));
            assert!(!tls_provider(false).unwrap().fips());
        }
    }
}
