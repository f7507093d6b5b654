//! Alpine: `/lib/apk/db/installed`, one-letter fields per package.

use super::DetectError;
use crate::package::{Ecosystem, Package, SourcePackage};

/// Parse apk's installed database.
pub fn parse_installed(data: &[u8]) -> Result<Vec<Package>, DetectError> {
    let text =
        std::str::from_utf8(data).map_err(|_| DetectError::Malformed("apk database is not UTF-8".into()))?;
    let mut out = Vec::new();
    let mut fields: [Option<&str>; 4] = [None; 4];
    let mut flush = |fields: &mut [Option<&str>; 4]| {
        if let [Some(name), Some(version), arch, origin] = *fields {
            out.push(Package {
                ecosystem: Ecosystem::Apk,
                name: name.to_owned(),
                version: version.to_owned(),
                arch: arch.map(str::to_owned),
                source: Some(SourcePackage {
                    name: origin.unwrap_or(name).to_owned(),
                    version: version.to_owned(),
                }),
            });
        }
        *fields = [None; 4];
    };
    for line in text.lines() {
        if line.is_empty() {
            flush(&mut fields);
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "P" => fields[0] = Some(value),
            "V" => fields[1] = Some(value),
            "A" => fields[2] = Some(value),
            "o" => fields[3] = Some(value),
            _ => {}
        }
    }
    flush(&mut fields);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_packages_and_origins() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\no:musl\nF:lib\nR:libc.musl-x86_64.so.1\n\nP:libcrypto3\nV:3.3.2-r0\nA:x86_64\no:openssl\n";
        let p = parse_installed(db.as_bytes()).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[1].name.as_str(), p[1].version.as_str()),
            ("libcrypto3", "3.3.2-r0")
        );
        assert_eq!(p[1].source.as_ref().unwrap().name, "openssl");
        assert!(parse_installed(b"P:x\n\n").unwrap().is_empty());
    }
}
