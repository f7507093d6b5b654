//! rpm's legacy BerkeleyDB `Packages` file (rpm before 4.16, e.g. CentOS 7
//! and RHEL 8): a hash database whose values are header blobs, stored
//! inline on hash pages or in chains of overflow pages. Read from memory;
//! every page number, offset and chain length is checked.

use crate::detect::DetectError;

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
/// Page types (`db_page.h`).
const P_HASH_UNSORTED: u8 = 2;
const P_HASH: u8 = 13;
const P_OVERFLOW: u8 = 7;
/// Hash item types.
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

fn malformed(why: &str) -> DetectError {
    DetectError::Malformed(format!("rpm Berkeley DB: {why}"))
}

struct Db<'a> {
    data: &'a [u8],
    page_size: usize,
    big_endian: bool,
}

impl<'a> Db<'a> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.data.get(at..at + 2)?;
        Some(if self.big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn page(&self, no: u32) -> Option<&'a [u8]> {
        let start = (no as usize).checked_mul(self.page_size)?;
        self.data.get(start..start.checked_add(self.page_size)?)
    }

    /// A value stored in a chain of overflow pages.
    fn overflow(&self, first: u32, total: usize) -> Result<Vec<u8>, DetectError> {
        let mut out = Vec::with_capacity(total.min(self.data.len()));
        let mut no = first;
        let pages = self.data.len() / self.page_size;
        for _ in 0..pages {
            if no == 0 {
                break;
            }
            let page = self
                .page(no)
                .ok_or_else(|| malformed("overflow page out of range"))?;
            let base = no as usize * self.page_size;
            if page[25] != P_OVERFLOW {
                return Err(malformed("overflow chain reaches another page type"));
            }
            // On an overflow page the "free area offset" is the bytes used.
            let used = self.u16(base + 22).ok_or_else(|| malformed("truncated page"))? as usize;
            let chunk = page
                .get(PAGE_HEADER..PAGE_HEADER + used)
                .ok_or_else(|| malformed("overflow data out of page"))?;
            out.extend_from_slice(chunk);
            no = self.u32(base + 16).ok_or_else(|| malformed("truncated page"))?;
        }
        if no != 0 {
            return Err(malformed("overflow chain does not end"));
        }
        if out.len() != total {
            return Err(malformed("overflow chain length disagrees with its item"));
        }
        Ok(out)
    }
}

/// Whether the bytes start like a BerkeleyDB hash database.
pub(crate) fn is_hash_db(data: &[u8]) -> bool {
    data.get(12..16).is_some_and(|m| {
        [m[0], m[1], m[2], m[3]] == HASH_MAGIC.to_le_bytes()
            || [m[0], m[1], m[2], m[3]] == HASH_MAGIC.to_be_bytes()
    })
}

/// Every value (header blob) of a hash database.
pub(crate) fn values(data: &[u8]) -> Result<Vec<Vec<u8>>, DetectError> {
    if !is_hash_db(data) {
        return Err(malformed("not a hash database"));
    }
    let big_endian = data[12..16] == HASH_MAGIC.to_be_bytes();
    let mut db = Db {
        data,
        page_size: 0,
        big_endian,
    };
    let page_size = db.u32(20).ok_or_else(|| malformed("truncated metadata"))? as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(malformed("bad page size"));
    }
    db.page_size = page_size;
    let last = db.u32(32).ok_or_else(|| malformed("truncated metadata"))?;
    let pages = (data.len() / page_size) as u32;
    let mut out = Vec::new();
    for no in 1..=last.min(pages.saturating_sub(1)) {
        let Some(page) = db.page(no) else { break };
        if page[25] != P_HASH && page[25] != P_HASH_UNSORTED {
            continue;
        }
        let base = no as usize * page_size;
        let entries = db.u16(base + 20).ok_or_else(|| malformed("truncated page"))? as usize;
        if !entries.is_multiple_of(2) || PAGE_HEADER + entries * 2 > page_size {
            return Err(malformed("bad entry count"));
        }
        let index = |i: usize| db.u16(base + PAGE_HEADER + 2 * i).map(usize::from);
        // Keys and values alternate; values are the odd entries.
        for i in (1..entries).step_by(2) {
            let offset = index(i).ok_or_else(|| malformed("truncated index"))?;
            // Items are packed from the page end down: an item ends where
            // the previous one starts.
            let end = index(i - 1).ok_or_else(|| malformed("truncated index"))?;
            let item = page
                .get(offset..end.max(offset))
                .ok_or_else(|| malformed("item out of page"))?;
            match item.first() {
                Some(&H_KEYDATA) => out.push(item[1..].to_vec()),
                Some(&H_OFFPAGE) => {
                    let first = db
                        .u32(base + offset + 4)
                        .ok_or_else(|| malformed("truncated item"))?;
                    let len = db
                        .u32(base + offset + 8)
                        .ok_or_else(|| malformed("truncated item"))?;
                    out.push(db.overflow(first, len as usize)?);
                }
                _ => return Err(malformed("unknown item type")),
            }
        }
    }
    Ok(out)
}
