//! rpm's NDB `Packages.db` (rpm 4.15+ "ndb" backend, used by SUSE): slot
//! pages point at blobs, each blob holds one header. Little-endian; read
//! from memory with every offset checked.

use crate::detect::DetectError;

const HEADER_MAGIC: &[u8; 4] = b"RpmP";
const SLOT_MAGIC: &[u8; 4] = b"Slot";
const BLOB_MAGIC: &[u8; 4] = b"BlbS";
const PAGE_SIZE: usize = 4096;
const SLOT_SIZE: usize = 16;
const BLOCK_SIZE: usize = 16;
const BLOB_HEADER: usize = 16;
/// rpm refuses databases with more slot pages than this.
const MAX_SLOT_PAGES: usize = 2048;

fn malformed(why: &str) -> DetectError {
    DetectError::Malformed(format!("rpm NDB: {why}"))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// Whether the bytes start like an NDB package database.
pub(crate) fn is_ndb(data: &[u8]) -> bool {
    data.starts_with(HEADER_MAGIC)
}

/// Every header blob of an NDB database.
pub(crate) fn values(data: &[u8]) -> Result<Vec<Vec<u8>>, DetectError> {
    if !is_ndb(data) {
        return Err(malformed("bad magic"));
    }
    let version = u32_at(data, 4).ok_or_else(|| malformed("truncated"))?;
    let slot_pages = u32_at(data, 12).ok_or_else(|| malformed("truncated"))? as usize;
    if version != 0 || slot_pages == 0 || slot_pages > MAX_SLOT_PAGES {
        return Err(malformed("bad header"));
    }
    // The 32-byte database header takes the first two slots.
    let slots = slot_pages * PAGE_SIZE / SLOT_SIZE - 2;
    let mut out = Vec::new();
    for i in 0..slots {
        let at = 32 + i * SLOT_SIZE;
        let slot = data
            .get(at..at + SLOT_SIZE)
            .ok_or_else(|| malformed("truncated slots"))?;
        if &slot[..4] != SLOT_MAGIC {
            return Err(malformed("bad slot magic"));
        }
        let pkg = u32_at(slot, 4).unwrap_or(0);
        if pkg == 0 {
            continue;
        }
        let block = u32_at(slot, 8).unwrap_or(0) as usize;
        let start = block
            .checked_mul(BLOCK_SIZE)
            .ok_or_else(|| malformed("bad offset"))?;
        let head = data
            .get(start..start + BLOB_HEADER)
            .ok_or_else(|| malformed("blob out of range"))?;
        if &head[..4] != BLOB_MAGIC || u32_at(head, 4) != Some(pkg) {
            return Err(malformed("bad blob header"));
        }
        let len = u32_at(head, 12).unwrap_or(0) as usize;
        let blob = data
            .get(start + BLOB_HEADER..start + BLOB_HEADER + len)
            .ok_or_else(|| malformed("blob out of range"))?;
        out.push(blob.to_vec());
    }
    Ok(out)
}
