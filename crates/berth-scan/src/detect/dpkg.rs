//! dpkg: `/var/lib/dpkg/status` and distroless `status.d/` files.

use super::{DetectError, control};
use crate::package::{Ecosystem, Package, SourcePackage};

/// Package states in which a package's files are on disk (dpkg-query lists
/// these too; `not-installed` and `config-files` leave no binaries).
const PRESENT_STATES: &[&str] = &[
    "installed",
    "unpacked",
    "half-configured",
    "half-installed",
    "triggers-awaited",
    "triggers-pending",
];

/// Parse a dpkg status file. With `require_status`, stanzas must carry a
/// `Status` whose state means the files are present; `status.d` entries
/// (distroless) have no `Status` and are always installed.
pub fn parse_status(data: &[u8], require_status: bool) -> Result<Vec<Package>, DetectError> {
    let text =
        std::str::from_utf8(data).map_err(|_| DetectError::Malformed("status file is not UTF-8".into()))?;
    let mut out = Vec::new();
    for stanza in control::parse(text, false) {
        let (Some(name), Some(version)) = (stanza.get("Package"), stanza.get("Version")) else {
            continue;
        };
        match stanza.get("Status") {
            Some(status) => {
                let state = status.split_whitespace().nth(2).unwrap_or("");
                if !PRESENT_STATES.contains(&state) {
                    continue;
                }
            }
            None if require_status => continue,
            None => {}
        }
        let source = match stanza.get("Source") {
            // `Source: name (version)` when the source version differs.
            Some(s) => {
                let (sname, sversion) = match s.split_once('(') {
                    Some((n, v)) => (n.trim(), v.trim_end_matches(')').trim()),
                    None => (s.trim(), version),
                };
                SourcePackage {
                    name: sname.to_owned(),
                    version: sversion.to_owned(),
                }
            }
            None => SourcePackage {
                name: name.to_owned(),
                version: version.to_owned(),
            },
        };
        out.push(Package {
            ecosystem: Ecosystem::Deb,
            name: name.to_owned(),
            version: version.to_owned(),
            arch: stanza.get("Architecture").map(str::to_owned),
            source: Some(source),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u7\nDescription: GNU C Library\n multi-line\n .\n more\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl (3.0.13-1~deb12u1)\nVersion: 3.0.13-1~deb12u1+b1\n";

    #[test]
    fn parses_installed_packages_with_sources() {
        let p = parse_status(STATUS.as_bytes(), true).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "libc6");
        assert_eq!(p[0].source.as_ref().unwrap().name, "glibc");
        assert_eq!(p[0].source.as_ref().unwrap().version, "2.36-9+deb12u7");
        assert_eq!(p[1].version, "3.0.13-1~deb12u1+b1");
        assert_eq!(p[1].source.as_ref().unwrap().version, "3.0.13-1~deb12u1");
        assert_eq!(p[1].arch.as_deref(), Some("amd64"));
    }

    #[test]
    fn status_d_entries_need_no_status() {
        let p = parse_status(
            b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
            false,
        )
        .unwrap();
        assert_eq!(p.len(), 1);
        assert!(
            parse_status(b"Package: tzdata\nVersion: 1\n", true)
                .unwrap()
                .is_empty()
        );
        assert!(parse_status(&[0xff, 0xfe], true).is_err());
    }
}
