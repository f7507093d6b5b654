//! Go: the build information every Go 1.18+ binary embeds (the
//! `.go.buildinfo` section): the Go version, the main module and each
//! dependency module with its replacement, as `go version -m` prints them.

use super::{DetectError, elf};
use crate::package::{Ecosystem, Package};

const MAGIC: &[u8] = b"\xff Go buildinf:";
/// Flag bit of the 1.18+ layout, where the strings follow the header
/// inline instead of through pointers.
const FLAG_INLINE: u8 = 2;

/// What a Go binary says about how it was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The toolchain (`go1.19.8`).
    pub go_version: String,
    /// The main package's import path.
    pub path: Option<String>,
    /// The main module and version, when built in module mode.
    pub main: Option<(String, String)>,
    /// Dependencies (path, version), replacements applied.
    pub deps: Vec<(String, String)>,
}

/// A uvarint-prefixed string.
fn read_string(data: &[u8], at: &mut usize) -> Option<String> {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = *data.get(*at)?;
        *at += 1;
        len |= usize::from(b & 0x7f).checked_shl(shift)?;
        if b < 0x80 {
            break;
        }
        shift += 7;
        if shift > 35 {
            return None;
        }
    }
    let bytes = data.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// The header at 16-byte alignment: in `.go.buildinfo` it is at the start,
/// without section headers it is searched for as Go itself does.
fn find_header(data: &[u8]) -> Option<&[u8]> {
    if let Some(section) = elf::section(data, ".go.buildinfo")
        && section.starts_with(MAGIC)
    {
        return Some(section);
    }
    (0..data.len().saturating_sub(32))
        .step_by(16)
        .find(|&i| data[i..].starts_with(MAGIC))
        .map(|i| &data[i..])
}

/// Read a binary's build information; `None` when it is not a Go binary
/// (or one older than Go 1.18).
pub fn parse_build_info(data: &[u8]) -> Option<BuildInfo> {
    let header = find_header(data)?;
    if header.get(15)? & FLAG_INLINE == 0 {
        return None;
    }
    let mut at = 32;
    let go_version = read_string(header, &mut at)?;
    let mut modinfo = read_string(header, &mut at)?;
    // The module text is framed by 16-byte sentinels.
    if modinfo.len() >= 33 && modinfo.as_bytes()[modinfo.len() - 17] == b'\n' {
        modinfo = modinfo.get(16..modinfo.len() - 16)?.to_owned();
    }
    let mut info = BuildInfo {
        go_version,
        path: None,
        main: None,
        deps: Vec::new(),
    };
    for line in modinfo.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["path", p, ..] => info.path = Some((*p).to_owned()),
            ["mod", p, v, ..] => info.main = Some(((*p).to_owned(), (*v).to_owned())),
            ["dep", p, v, ..] => info.deps.push(((*p).to_owned(), (*v).to_owned())),
            ["=>", p, v, ..] => {
                if let Some(last) = info.deps.last_mut() {
                    let version = if v.is_empty() { "(devel)" } else { v };
                    *last = ((*p).to_owned(), version.to_owned());
                }
            }
            _ => {}
        }
    }
    Some(info)
}

/// `go1.19.8` → `v1.19.8`, the form Go's own module versions take (and
/// the vulnerability database's ranges of the standard library):
/// `go1.21` → `v1.21.0`, `go1.21rc2` → `v1.21.0-rc.2`; experiments after
/// a space (`go1.22.1 X:boringcrypto`) are left out.
fn toolchain_version(go: &str) -> String {
    let go = go.split_whitespace().next().unwrap_or(go);
    let v = go.strip_prefix("go").unwrap_or(go);
    let (release, pre) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&v[..i], Some(&v[i..])),
        None => (v, None),
    };
    let numeric = !release.is_empty() && release.chars().all(|c| c.is_ascii_digit() || c == '.');
    let release = if numeric && release.matches('.').count() == 1 {
        format!("{release}.0")
    } else {
        release.to_owned()
    };
    match pre {
        Some(pre) if numeric => match pre.find(|c: char| c.is_ascii_digit()) {
            Some(i) if i > 0 => format!("v{release}-{}.{}", &pre[..i], &pre[i..]),
            _ => format!("v{release}-{pre}"),
        },
        Some(pre) => format!("v{release}{pre}"),
        None => format!("v{release}"),
    }
}

/// Packages of a Go binary: the standard library at the toolchain's
/// version, the main module and every dependency.
pub(crate) fn packages(data: &[u8]) -> Result<Vec<Package>, DetectError> {
    let Some(info) = parse_build_info(data) else {
        return Ok(Vec::new());
    };
    let go = |name: &str, version: &str| Package {
        ecosystem: Ecosystem::Go,
        name: name.to_owned(),
        version: version.to_owned(),
        arch: None,
        source: None,
    };
    let mut out = vec![go("stdlib", &toolchain_version(&info.go_version))];
    if let Some((path, version)) = &info.main {
        out.push(go(path, version));
    }
    out.extend(info.deps.iter().map(|(p, v)| go(p, v)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint_string(s: &str) -> Vec<u8> {
        let mut out = vec![s.len() as u8];
        out.extend_from_slice(s.as_bytes());
        out
    }

    fn fake_binary(modinfo: &str) -> Vec<u8> {
        let mut data = vec![0u8; 64];
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&[8, FLAG_INLINE]);
        header.resize(32, 0);
        header.extend(varint_string("go1.22.1"));
        let framed = format!("{}{modinfo}{}", "0".repeat(16), "1".repeat(16));
        let mut len = framed.len();
        while len >= 0x80 {
            header.push((len as u8) | 0x80);
            len >>= 7;
        }
        header.push(len as u8);
        header.extend_from_slice(framed.as_bytes());
        data.extend(header);
        data
    }

    #[test]
    fn reads_modules_and_replacements() {
        let bin = fake_binary(
            "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\texample.com/lib\tv1.2.3\t\n=>\t./lib\t\t\ndep\tgolang.org/x/sys\tv0.1.0\th1:abc=\nbuild\tGOOS=linux\n",
        );
        let info = parse_build_info(&bin).unwrap();
        assert_eq!(info.go_version, "go1.22.1");
        assert_eq!(info.main, Some(("example.com/app".into(), "(devel)".into())));
        assert_eq!(
            info.deps,
            vec![
                ("./lib".into(), "(devel)".into()),
                ("golang.org/x/sys".into(), "v0.1.0".into())
            ]
        );
        let p = packages(&bin).unwrap();
        assert_eq!((p[0].name.as_str(), p[0].version.as_str()), ("stdlib", "v1.22.1"));
        assert_eq!(p.len(), 4);
        assert_eq!(toolchain_version("go1.21"), "v1.21.0");
        assert_eq!(toolchain_version("go1.21rc2"), "v1.21.0-rc.2");
        assert_eq!(toolchain_version("go1.19beta1"), "v1.19.0-beta.1");
        assert_eq!(toolchain_version("go1.22.1 X:boringcrypto"), "v1.22.1");
        assert!(parse_build_info(&bin[..70]).is_none());
        assert!(packages(b"\x7fELF not go").unwrap().is_empty());
    }
}
