//! Distribution detection from `os-release`, with the older release files
//! as fallbacks for images that lack it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::LayerError;
use crate::layer::Finding;
use crate::path::resolve_link;

/// Release files in the order they are consulted.
const RELEASE_FILES: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/alpine-release",
    "etc/debian_version",
    "etc/redhat-release",
    "etc/centos-release",
    "etc/system-release",
    "etc/lsb-release",
];

/// As the kernel's limit on nested symbolic links (`MAXSYMLINKS`).
const MAX_LINK_HOPS: usize = 40;

/// The distribution an image is built on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    /// Lowercase identifier (`debian`, `alpine`, `rhel`, ...).
    pub id: String,
    /// Release version (`12`, `3.20.3`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Release code name (`bookworm`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_codename: Option<String>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
}

/// Whether the detectors keep this path as a release file.
pub(crate) fn is_release_file(path: &str) -> bool {
    RELEASE_FILES.contains(&path)
}

/// Fail a layer whose own symbolic links loop on the way to a release file.
pub(crate) fn check_links(files: &BTreeMap<String, Finding>) -> Result<(), LayerError> {
    for candidate in RELEASE_FILES {
        resolve(candidate, |p| files.get(p))?;
    }
    Ok(())
}

/// Detect the distribution in a merged file view (`lookup` gives the
/// topmost finding at a path).
pub(crate) fn detect<'a>(
    lookup: impl Fn(&str) -> Option<&'a Finding>,
) -> Result<Option<Distribution>, LayerError> {
    for candidate in RELEASE_FILES {
        let target = resolve(candidate, &lookup)?;
        if let Some(Finding::Release(text)) = lookup(&target)
            && let Some(d) = parse(candidate, text)
        {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

/// Follow symbolic links on every component of `path`, within the root.
fn resolve<'a>(path: &str, lookup: impl Fn(&str) -> Option<&'a Finding>) -> Result<String, LayerError> {
    let mut current = path.to_owned();
    let mut hops = 0;
    'restart: loop {
        let parts: Vec<&str> = current.split('/').collect();
        for i in 1..=parts.len() {
            let prefix = parts[..i].join("/");
            if let Some(Finding::Symlink(target)) = lookup(&prefix) {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(LayerError::SymlinkLoop(format!("/{path}")));
                }
                let mut next = resolve_link(&prefix, target);
                for rest in &parts[i..] {
                    next = if next.is_empty() {
                        (*rest).to_owned()
                    } else {
                        format!("{next}/{rest}")
                    };
                }
                current = next;
                continue 'restart;
            }
        }
        return Ok(current);
    }
}

/// Parse a release file found at `path` (its format depends on which one).
pub(crate) fn parse(path: &str, text: &str) -> Option<Distribution> {
    let first_line = text.lines().next().unwrap_or("").trim();
    match path {
        "etc/os-release" | "usr/lib/os-release" => parse_os_release(text),
        "etc/lsb-release" => {
            let fields = key_values(text);
            Some(Distribution {
                id: fields.get("DISTRIB_ID")?.to_lowercase(),
                version_id: fields.get("DISTRIB_RELEASE").cloned(),
                version_codename: fields.get("DISTRIB_CODENAME").cloned(),
                pretty_name: fields.get("DISTRIB_DESCRIPTION").cloned(),
            })
        }
        "etc/alpine-release" => simple("alpine", first_line),
        "etc/debian_version" => simple("debian", first_line),
        _ => parse_redhat_release(first_line),
    }
}

fn simple(id: &str, version: &str) -> Option<Distribution> {
    (!version.is_empty()).then(|| Distribution {
        id: id.to_owned(),
        version_id: Some(version.to_owned()),
        ..Default::default()
    })
}

/// `Red Hat Enterprise Linux release 9.4 (Plow)`, `CentOS Linux release 7.9.2009 (Core)`.
fn parse_redhat_release(line: &str) -> Option<Distribution> {
    let (name, rest) = line.split_once(" release ")?;
    let version = rest.split_whitespace().next()?;
    let lower = name.to_lowercase();
    let id = if lower.starts_with("red hat") {
        "rhel"
    } else if lower.starts_with("centos") {
        "centos"
    } else if lower.starts_with("fedora") {
        "fedora"
    } else if lower.starts_with("rocky") {
        "rocky"
    } else if lower.starts_with("almalinux") {
        "almalinux"
    } else if lower.starts_with("amazon") {
        "amzn"
    } else {
        return None;
    };
    Some(Distribution {
        id: id.to_owned(),
        version_id: Some(version.to_owned()),
        version_codename: None,
        pretty_name: Some(line.to_owned()),
    })
}

/// Parse `os-release(5)`: `KEY=value` lines, values optionally quoted.
pub fn parse_os_release(text: &str) -> Option<Distribution> {
    let fields = key_values(text);
    let id = fields.get("ID").filter(|s| !s.is_empty())?.clone();
    Some(Distribution {
        id,
        version_id: fields.get("VERSION_ID").cloned(),
        version_codename: fields.get("VERSION_CODENAME").cloned(),
        pretty_name: fields.get("PRETTY_NAME").cloned(),
    })
}

fn key_values(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        out.insert(k.trim().to_owned(), unquote(v.trim()));
    }
    out
}

fn unquote(v: &str) -> String {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_os_release() {
        let d = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        )
        .unwrap();
        assert_eq!(d.id, "debian");
        assert_eq!(d.version_id.as_deref(), Some("12"));
        assert_eq!(d.version_codename.as_deref(), Some("bookworm"));
        assert_eq!(d.pretty_name.as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert!(parse_os_release("NAME=x\n").is_none());
    }

    #[test]
    fn parses_fallbacks() {
        assert_eq!(
            parse("etc/alpine-release", "3.20.3\n")
                .unwrap()
                .version_id
                .as_deref(),
            Some("3.20.3")
        );
        let rh = parse(
            "etc/redhat-release",
            "Red Hat Enterprise Linux release 9.4 (Plow)\n",
        )
        .unwrap();
        assert_eq!((rh.id.as_str(), rh.version_id.as_deref()), ("rhel", Some("9.4")));
        let lsb = parse("etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=24.04\n").unwrap();
        assert_eq!(lsb.id, "ubuntu");
        assert!(parse("etc/redhat-release", "nonsense").is_none());
    }

    #[test]
    fn follows_links_and_detects_loops() {
        let mut files = BTreeMap::new();
        files.insert(
            "etc/os-release".to_owned(),
            Finding::Symlink("../usr/lib/os-release".into()),
        );
        files.insert(
            "usr/lib/os-release".to_owned(),
            Finding::Release("ID=debian\n".into()),
        );
        let d = detect(|p| files.get(p)).unwrap().unwrap();
        assert_eq!(d.id, "debian");
        files.insert("etc".to_owned(), Finding::Symlink("etc2".into()));
        files.insert("etc2".to_owned(), Finding::Symlink("/etc".into()));
        assert!(matches!(check_links(&files), Err(LayerError::SymlinkLoop(_))));
    }
}
