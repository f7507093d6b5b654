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
pub(crate) mod tests {
    use super::*;

    /// A minimal little-endian ELF64 file with one named section.
    pub(crate) fn with_section(name: &str, content: &[u8]) -> Vec<u8> {
        let mut strtab = b"\0.shstrtab\0".to_vec();
        let name_off = strtab.len() as u32;
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        let content_off = f.len();
        f.extend_from_slice(content);
        let strtab_off = f.len();
        f.extend_from_slice(&strtab);
        let shoff = f.len();
        let mut header = |name: u32, off: usize, size: usize| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[24..32].copy_from_slice(&(off as u64).to_le_bytes());
            h[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            f.extend(h);
        };
        header(0, 0, 0);
        header(1, strtab_off, strtab.len());
        header(name_off, content_off, content.len());
        f[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        f[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        f[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        f[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        f
    }

    #[test]
    fn finds_a_built_section() {
        let f = with_section(".dep-v0", b"hello");
        assert_eq!(section(&f, ".dep-v0"), Some(&b"hello"[..]));
    }

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
