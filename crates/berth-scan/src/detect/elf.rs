//! Just enough ELF to find a named section's bytes in an executable held
//! in memory (32/64-bit, either byte order); every offset is checked.

/// Whether the bytes start like an ELF file.
pub(crate) fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

struct Reader<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl Reader<'_> {
    fn uint(&self, at: usize, size: usize) -> Option<u64> {
        let bytes = self.data.get(at..at.checked_add(size)?)?;
        let mut v = 0u64;
        for i in 0..size {
            let b = if self.big_endian {
                bytes[i]
            } else {
                bytes[size - 1 - i]
            };
            v = (v << 8) | u64::from(b);
        }
        Some(v)
    }
}

/// The file bytes of the section called `name`, if the file has it.
pub(crate) fn section<'a>(data: &'a [u8], name: &str) -> Option<&'a [u8]> {
    if !is_elf(data) {
        return None;
    }
    let wide = match data.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let r = Reader {
        data,
        big_endian: *data.get(5)? == 2,
    };
    let (word, shoff_at, shentsize_at) = if wide { (8, 0x28, 0x3a) } else { (4, 0x20, 0x2e) };
    let shoff = usize::try_from(r.uint(shoff_at, word)?).ok()?;
    let shentsize = r.uint(shentsize_at, 2)? as usize;
    let shnum = r.uint(shentsize_at + 2, 2)? as usize;
    let shstrndx = r.uint(shentsize_at + 4, 2)? as usize;
    // (offset, size) of section `i`.
    let header = |i: usize| -> Option<(usize, usize, usize)> {
        let at = shoff.checked_add(i.checked_mul(shentsize)?)?;
        let name_off = r.uint(at, 4)? as usize;
        let (off, size) = if wide {
            (r.uint(at + 24, 8)?, r.uint(at + 32, 8)?)
        } else {
            (r.uint(at + 16, 4)?, r.uint(at + 20, 4)?)
        };
        Some((name_off, usize::try_from(off).ok()?, usize::try_from(size).ok()?))
    };
    let (_, strtab_off, strtab_size) = header(shstrndx)?;
    let strtab = data.get(strtab_off..strtab_off.checked_add(strtab_size)?)?;
    for i in 0..shnum {
        let (name_off, off, size) = header(i)?;
        let candidate = strtab.get(name_off..)?;
        let end = candidate.iter().position(|&b| b == 0)?;
        if &candidate[..end] == name.as_bytes() {
            return data.get(off..off.checked_add(size)?);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sections_in_this_test_binary() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(is_elf(&me));
        assert!(section(&me, ".text").is_some_and(|t| !t.is_empty()));
        assert!(section(&me, ".no-such-section").is_none());
        for cut in [0, 10, 64, 200] {
            assert!(section(&me[..cut], ".text").is_none());
        }
    }
}
