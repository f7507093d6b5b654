//! npm: `package.json` of every package directory under `node_modules`.

use super::DetectError;
use crate::package::{Ecosystem, Package};

/// Whether `path` is `.../node_modules/<name>/package.json` or
/// `.../node_modules/@scope/<name>/package.json`.
pub(crate) fn is_package_json(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/package.json") else {
        return false;
    };
    let parts: Vec<&str> = dir.rsplitn(3, '/').collect();
    match parts.as_slice() {
        [name, "node_modules", ..] => !name.starts_with('@') && !name.starts_with('.'),
        [name, scope, rest] => {
            scope.starts_with('@')
                && !name.starts_with('.')
                && (*rest == "node_modules" || rest.ends_with("/node_modules"))
        }
        _ => false,
    }
}

#[derive(serde::Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
}

/// Parse a package's `package.json`; `None` when it has no name or version.
pub fn parse_package_json(data: &[u8]) -> Result<Option<Package>, DetectError> {
    let m: Manifest =
        serde_json::from_slice(data).map_err(|e| DetectError::Malformed(format!("package.json: {e}")))?;
    let (Some(name), Some(version)) = (m.name, m.version) else {
        return Ok(None);
    };
    Ok(Some(Package {
        ecosystem: Ecosystem::Npm,
        name,
        version,
        arch: None,
        source: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_package_dirs() {
        assert!(is_package_json("app/node_modules/ms/package.json"));
        assert!(is_package_json("node_modules/@babel/core/package.json"));
        assert!(is_package_json("a/node_modules/x/node_modules/y/package.json"));
        assert!(!is_package_json("app/node_modules/ms/lib/package.json"));
        assert!(!is_package_json("app/package.json"));
        assert!(!is_package_json("app/node_modules/.bin/package.json"));
        assert!(!is_package_json("x/@scope/y/package.json"));
    }

    #[test]
    fn parses_name_and_version() {
        let p = parse_package_json(br#"{"name":"ms","version":"2.1.3","x":[1]}"#)
            .unwrap()
            .unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("ms", "2.1.3"));
        assert!(parse_package_json(br#"{"private":true}"#).unwrap().is_none());
        assert!(parse_package_json(b"{").is_err());
    }
}
