//! SHA-256 and SHA-512 computed by the AWS-LC FIPS module (FIPS builds).
//!
//! The module's safe Rust API cannot save a hash state, and uploads must
//! continue on another instance from the saved state. So this talks to the
//! module's own SHA-2 implementation through its C API and converts its
//! state to and from the layout `sha2` saves (chaining value little-endian,
//! complete blocks, buffered length, buffered bytes zero-padded): a state
//! saved by one build is restored by the other.
#![allow(unsafe_code)]

use aws_lc_fips_sys as ffi;

use super::DigestError;

/// Saved SHA-256 state: 32 (chaining value) + 8 (blocks) + 1 (buffered
/// length, below 64) + 63 (buffer).
const SHA256_STATE: usize = 32 + 8 + 1 + 63;
/// Saved SHA-512 state: 64 (chaining value) + 16 (blocks) + 1 + 127 (buffer).
const SHA512_STATE: usize = 64 + 16 + 1 + 127;

/// SHA-256 in the FIPS module.
#[derive(Clone)]
pub struct Sha256(ffi::SHA256_CTX);

impl Sha256 {
    pub(super) fn new() -> Sha256 {
        let mut ctx = ffi::SHA256_CTX {
            h: [0; 8],
            Nl: 0,
            Nh: 0,
            data: [0; 64],
            num: 0,
            md_len: 0,
        };
        // SAFETY: `ctx` is a valid, exclusively borrowed SHA256_CTX.
        unsafe { ffi::SHA256_Init(&mut ctx) };
        Sha256(ctx)
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        // SAFETY: the context was initialised by SHA256_Init (or restored
        // with `num < 64`), and `bytes` is valid for `bytes.len()` bytes.
        unsafe { ffi::SHA256_Update(&mut self.0, bytes.as_ptr().cast(), bytes.len()) };
    }

    pub(super) fn finalize(mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: `out` holds the 32 bytes SHA256_Final writes (`md_len` is
        // 32: set by SHA256_Init or by `deserialize`).
        unsafe { ffi::SHA256_Final(out.as_mut_ptr(), &mut self.0) };
        out
    }

    pub(super) fn serialize(&self) -> [u8; SHA256_STATE] {
        let c = &self.0;
        let mut s = [0u8; SHA256_STATE];
        for (dst, h) in s[..32].chunks_exact_mut(4).zip(c.h) {
            dst.copy_from_slice(&h.to_le_bytes());
        }
        // The module counts bits fed (buffered ones too); sha2 counts blocks.
        let bits = (u64::from(c.Nh) << 32) | u64::from(c.Nl);
        let blocks = (bits / 8) / 64;
        s[32..40].copy_from_slice(&blocks.to_le_bytes());
        let num = (c.num as usize).min(63);
        s[40] = num as u8;
        s[41..41 + num].copy_from_slice(&c.data[..num]);
        s
    }

    pub(super) fn deserialize(s: &[u8; SHA256_STATE]) -> Result<Sha256, DigestError> {
        let num = usize::from(s[40]);
        if num >= 64 || s[41 + num..].iter().any(|&b| b != 0) {
            return Err(DigestError::BadState);
        }
        let mut ctx = Sha256::new().0;
        for (h, src) in ctx.h.iter_mut().zip(s[..32].chunks_exact(4)) {
            *h = u32::from_le_bytes([src[0], src[1], src[2], src[3]]);
        }
        let mut blocks = [0u8; 8];
        blocks.copy_from_slice(&s[32..40]);
        let bits = u64::from_le_bytes(blocks)
            .checked_mul(64)
            .and_then(|b| b.checked_add(num as u64))
            .and_then(|b| b.checked_mul(8))
            .ok_or(DigestError::BadState)?;
        ctx.Nl = bits as u32;
        ctx.Nh = (bits >> 32) as u32;
        ctx.data[..num].copy_from_slice(&s[41..41 + num]);
        ctx.num = num as u32;
        Ok(Sha256(ctx))
    }
}

/// SHA-512 in the FIPS module.
#[derive(Clone)]
pub struct Sha512(ffi::SHA512_CTX);

impl Sha512 {
    pub(super) fn new() -> Sha512 {
        let mut ctx = ffi::SHA512_CTX {
            h: [0; 8],
            Nl: 0,
            Nh: 0,
            p: [0; 128],
            num: 0,
            md_len: 0,
        };
        // SAFETY: `ctx` is a valid, exclusively borrowed SHA512_CTX.
        unsafe { ffi::SHA512_Init(&mut ctx) };
        Sha512(ctx)
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        // SAFETY: as for SHA-256, with `num < 128`.
        unsafe { ffi::SHA512_Update(&mut self.0, bytes.as_ptr().cast(), bytes.len()) };
    }

    pub(super) fn finalize(mut self) -> [u8; 64] {
        let mut out = [0u8; 64];
        // SAFETY: `out` holds the 64 bytes SHA512_Final writes.
        unsafe { ffi::SHA512_Final(out.as_mut_ptr(), &mut self.0) };
        out
    }

    pub(super) fn serialize(&self) -> [u8; SHA512_STATE] {
        let c = &self.0;
        let mut s = [0u8; SHA512_STATE];
        for (dst, h) in s[..64].chunks_exact_mut(8).zip(c.h) {
            dst.copy_from_slice(&h.to_le_bytes());
        }
        let bits = (u128::from(c.Nh) << 64) | u128::from(c.Nl);
        let blocks = (bits / 8) / 128;
        s[64..80].copy_from_slice(&blocks.to_le_bytes());
        let num = (c.num as usize).min(127);
        s[80] = num as u8;
        s[81..81 + num].copy_from_slice(&c.p[..num]);
        s
    }

    pub(super) fn deserialize(s: &[u8; SHA512_STATE]) -> Result<Sha512, DigestError> {
        let num = usize::from(s[80]);
        if num >= 128 || s[81 + num..].iter().any(|&b| b != 0) {
            return Err(DigestError::BadState);
        }
        let mut ctx = Sha512::new().0;
        for (h, src) in ctx.h.iter_mut().zip(s[..64].chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(src);
            *h = u64::from_le_bytes(word);
        }
        let mut blocks = [0u8; 16];
        blocks.copy_from_slice(&s[64..80]);
        let bits = u128::from_le_bytes(blocks)
            .checked_mul(128)
            .and_then(|b| b.checked_add(num as u128))
            .and_then(|b| b.checked_mul(8))
            .ok_or(DigestError::BadState)?;
        ctx.Nl = bits as u64;
        ctx.Nh = (bits >> 64) as u64;
        ctx.p[..num].copy_from_slice(&s[81..81 + num]);
        ctx.num = num as u32;
        Ok(Sha512(ctx))
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest as _;
    use sha2::digest::common::hazmat::SerializableState;

    /// Lengths around block boundaries, saved mid-way by one implementation
    /// and finished by the other.
    #[test]
    fn states_cross_between_the_module_and_sha2() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for split in [0, 1, 55, 63, 64, 65, 127, 128, 129, 500, 1000] {
            let (a, b) = data.split_at(split);
            let want256 = sha2::Sha256::digest(&data).to_vec();
            let want512 = sha2::Sha512::digest(&data).to_vec();

            let mut m = super::Sha256::new();
            m.update(a);
            let mut r = sha2::Sha256::deserialize(&m.serialize().into()).unwrap();
            r.update(b);
            assert_eq!(r.finalize().to_vec(), want256, "module→sha2 at {split}");

            let mut r = sha2::Sha256::new();
            r.update(a);
            let saved: [u8; super::SHA256_STATE] = r.serialize().into();
            assert_eq!(saved, {
                let mut m = super::Sha256::new();
                m.update(a);
                m.serialize()
            });
            let mut m = super::Sha256::deserialize(&saved).unwrap();
            m.update(b);
            assert_eq!(m.finalize().to_vec(), want256, "sha2→module at {split}");

            let mut m = super::Sha512::new();
            m.update(a);
            let mut r = sha2::Sha512::deserialize(&m.serialize().into()).unwrap();
            r.update(b);
            assert_eq!(r.finalize().to_vec(), want512, "module→sha2 512 at {split}");

            let mut r = sha2::Sha512::new();
            r.update(a);
            let mut m = super::Sha512::deserialize(&r.serialize().into()).unwrap();
            m.update(b);
            assert_eq!(m.finalize().to_vec(), want512, "sha2→module 512 at {split}");
        }
    }

    #[test]
    fn impossible_states_are_refused() {
        let mut s = super::Sha256::new().serialize();
        s[40] = 64;
        assert!(super::Sha256::deserialize(&s).is_err());
        let mut s = super::Sha256::new().serialize();
        s[100] = 1;
        assert!(super::Sha256::deserialize(&s).is_err());
        let mut s = super::Sha512::new().serialize();
        s[80] = 200;
        assert!(super::Sha512::deserialize(&s).is_err());
        let mut s = super::Sha256::new().serialize();
        s[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(super::Sha256::deserialize(&s).is_err());
    }
}
