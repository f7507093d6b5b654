//! Python: core metadata of installed distributions (`*.dist-info/METADATA`
//! from wheels, `*.egg-info/PKG-INFO` or a bare `*.egg-info` file from
//! setuptools).

use super::{DetectError, control};
use crate::package::{Ecosystem, Package};

/// Whether `path` is a distribution's metadata file.
pub(crate) fn is_metadata_path(path: &str) -> bool {
    let (dir, name) = crate::path::split_last(path);
    (name == "METADATA" && dir.ends_with(".dist-info"))
        || (name == "PKG-INFO" && dir.ends_with(".egg-info"))
        || (name.ends_with(".egg-info") && dir.ends_with("-packages"))
}

/// Parse core metadata; `None` when it names no distribution.
pub fn parse_metadata(data: &[u8]) -> Result<Option<Package>, DetectError> {
    let text = String::from_utf8_lossy(data);
    let stanza = control::parse(&text, true)
        .pop()
        .ok_or_else(|| DetectError::Malformed("empty metadata".into()))?;
    let (Some(name), Some(version)) = (stanza.get("Name"), stanza.get("Version")) else {
        return Err(DetectError::Malformed("metadata lacks Name or Version".into()));
    };
    Ok(Some(Package {
        ecosystem: Ecosystem::Pypi,
        name: name.to_owned(),
        version: version.to_owned(),
        arch: None,
        source: None,
    }))
}

/// PEP 503 normalized name (`Foo_Bar.baz` → `foo-bar-baz`).
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_metadata_paths() {
        assert!(is_metadata_path(
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"
        ));
        assert!(is_metadata_path("app/foo.egg-info/PKG-INFO"));
        assert!(is_metadata_path("usr/lib/python3/dist-packages/foo-1.0.egg-info"));
        assert!(!is_metadata_path(
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD"
        ));
    }

    #[test]
    fn parses_headers_not_body() {
        let m = "Metadata-Version: 2.1\nName: Requests\nVersion: 2.32.3\nSummary: x\n\nName: not-this\n";
        let p = parse_metadata(m.as_bytes()).unwrap().unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("Requests", "2.32.3"));
        assert!(parse_metadata(b"Summary: x\n").is_err());
        assert_eq!(normalize_name("Foo__Bar.baz"), "foo-bar-baz");
    }
}
