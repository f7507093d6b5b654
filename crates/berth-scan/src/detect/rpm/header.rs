//! RPM header blobs, as rpm stores them in every database backend: an
//! index of (tag, type, offset, count) entries and a data store. Every
//! offset is checked against the blob; rpm's own limits on entry count and
//! data size apply.

use crate::detect::DetectError;
use crate::package::{Ecosystem, Package, SourcePackage};

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_ARCH: i32 = 1022;
const TAG_SOURCERPM: i32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm refuses headers with more entries or data than this (`hdrchkTags`,
/// `hdrchkData`).
const MAX_ENTRIES: usize = 0xffff;
const MAX_DATA: usize = 0x0fff_ffff;

fn malformed(why: &str) -> DetectError {
    DetectError::Malformed(format!("rpm header: {why}"))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// A parsed header: entries and the data store they point into.
pub(crate) struct Header<'a> {
    entries: Vec<(i32, u32, usize, u32)>,
    data: &'a [u8],
}

impl<'a> Header<'a> {
    /// Parse a header blob (without the lead or the 8-byte magic of a
    /// header in an `.rpm` file).
    pub(crate) fn parse(blob: &'a [u8]) -> Result<Header<'a>, DetectError> {
        let il = be32(blob, 0).ok_or_else(|| malformed("truncated"))? as usize;
        let dl = be32(blob, 4).ok_or_else(|| malformed("truncated"))? as usize;
        if il > MAX_ENTRIES || dl > MAX_DATA {
            return Err(malformed("too many entries or too much data"));
        }
        let data_start = 8 + il * 16;
        let data = blob
            .get(data_start..data_start + dl)
            .ok_or_else(|| malformed("shorter than its index says"))?;
        let mut entries = Vec::with_capacity(il);
        for i in 0..il {
            let at = 8 + i * 16;
            let field = |k: usize| be32(blob, at + 4 * k).ok_or_else(|| malformed("truncated index"));
            let (tag, ty, offset, count) = (field(0)? as i32, field(1)?, field(2)? as usize, field(3)?);
            entries.push((tag, ty, offset, count));
        }
        Ok(Header { entries, data })
    }

    fn entry(&self, tag: i32) -> Option<(u32, usize, u32)> {
        self.entries
            .iter()
            .find(|(t, ..)| *t == tag)
            .map(|&(_, ty, off, count)| (ty, off, count))
    }

    /// A string tag (the first string of an array or i18n table).
    pub(crate) fn string(&self, tag: i32) -> Result<Option<String>, DetectError> {
        let Some((ty, offset, _)) = self.entry(tag) else {
            return Ok(None);
        };
        if !matches!(ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Err(malformed("string tag of another type"));
        }
        let rest = self
            .data
            .get(offset..)
            .ok_or_else(|| malformed("offset out of range"))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| malformed("unterminated string"))?;
        Ok(Some(String::from_utf8_lossy(&rest[..end]).into_owned()))
    }

    /// The first value of an INT32 tag.
    pub(crate) fn int32(&self, tag: i32) -> Result<Option<u32>, DetectError> {
        let Some((ty, offset, count)) = self.entry(tag) else {
            return Ok(None);
        };
        if ty != TYPE_INT32 || count == 0 {
            return Err(malformed("int32 tag of another type"));
        }
        be32(self.data, offset)
            .map(Some)
            .ok_or_else(|| malformed("offset out of range"))
    }
}

/// The installed package a header describes; `None` for rpm's
/// `gpg-pubkey` pseudo-packages, which are keys, not software.
pub(crate) fn package(blob: &[u8]) -> Result<Option<Package>, DetectError> {
    let h = Header::parse(blob)?;
    let name = h.string(TAG_NAME)?.ok_or_else(|| malformed("no name"))?;
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    let version = h.string(TAG_VERSION)?.ok_or_else(|| malformed("no version"))?;
    let release = h.string(TAG_RELEASE)?.ok_or_else(|| malformed("no release"))?;
    let evr = match h.int32(TAG_EPOCH)? {
        Some(epoch) => format!("{epoch}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    let source = h.string(TAG_SOURCERPM)?.and_then(|s| source_from_rpm_name(&s));
    Ok(Some(Package {
        ecosystem: Ecosystem::Rpm,
        name,
        version: evr,
        arch: h.string(TAG_ARCH)?,
        source,
    }))
}

/// `openssl-3.0.7-27.el9.src.rpm` → (`openssl`, `3.0.7-27.el9`).
fn source_from_rpm_name(file: &str) -> Option<SourcePackage> {
    let stem = file
        .strip_suffix(".src.rpm")
        .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    Some(SourcePackage {
        name: name.to_owned(),
        version: format!("{version}-{release}"),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build a header blob from (tag, type, payload) entries.
    pub(crate) fn blob(entries: &[(i32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, payload) in entries {
            while *ty == TYPE_INT32 && data.len() % 4 != 0 {
                data.push(0);
            }
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&ty.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            data.extend_from_slice(payload);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    pub(crate) fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    pub(crate) fn openssl() -> Vec<u8> {
        blob(&[
            (TAG_NAME, TYPE_STRING, s("openssl-libs")),
            (TAG_VERSION, TYPE_STRING, s("3.0.7")),
            (TAG_RELEASE, TYPE_STRING, s("27.el9")),
            (TAG_EPOCH, TYPE_INT32, 1u32.to_be_bytes().to_vec()),
            (TAG_ARCH, TYPE_STRING, s("x86_64")),
            (TAG_SOURCERPM, TYPE_STRING, s("openssl-3.0.7-27.el9.src.rpm")),
        ])
    }

    #[test]
    fn reads_name_epoch_version_release_arch_and_source() {
        let p = package(&openssl()).unwrap().unwrap();
        assert_eq!(p.name, "openssl-libs");
        assert_eq!(p.version, "1:3.0.7-27.el9");
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        let src = p.source.unwrap();
        assert_eq!(
            (src.name.as_str(), src.version.as_str()),
            ("openssl", "3.0.7-27.el9")
        );
    }

    #[test]
    fn refuses_malformed_headers() {
        let good = openssl();
        for cut in [0, 4, 8, 20, good.len() - 1] {
            assert!(package(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&0x0100_0000u32.to_be_bytes());
        assert!(package(&huge).is_err());
        let mut bad_offset = good.clone();
        bad_offset[16..20].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
        assert!(package(&bad_offset).is_err());
        let key = blob(&[(TAG_NAME, TYPE_STRING, s("gpg-pubkey"))]);
        assert!(package(&key).unwrap().is_none());
    }
}
