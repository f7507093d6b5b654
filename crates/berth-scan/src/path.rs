//! Path normalization for tar entries. Paths are kept relative to the image
//! root, `/`-separated, without `.` or empty components (`etc/os-release`).

use crate::error::LayerError;

/// Normalize a raw entry path; refuse any `..` component, since a layer
/// entry can never legitimately point outside the image root.
pub(crate) fn normalize(raw: &[u8], max_depth: usize) -> Result<String, LayerError> {
    let text = String::from_utf8_lossy(raw);
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(LayerError::PathTraversal(truncate(&text))),
            p => parts.push(p),
        }
        if parts.len() > max_depth {
            return Err(LayerError::Limit {
                kind: crate::LimitKind::PathDepth,
                limit: max_depth as u64,
            });
        }
    }
    Ok(parts.join("/"))
}

/// Resolve a symlink target relative to the directory holding the link,
/// clamping `..` at the root as the kernel does inside a chroot.
pub(crate) fn resolve_link(link_path: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        let mut p: Vec<&str> = link_path.split('/').collect();
        p.pop();
        p
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Whether `path` is `dir` itself or lies below it (`dir` empty = root).
pub(crate) fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// The parent directory and the final component.
pub(crate) fn split_last(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Bound a hostile string before it goes into an error message.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses_traversal() {
        assert_eq!(normalize(b"./etc//os-release", 10).unwrap(), "etc/os-release");
        assert_eq!(normalize(b"/usr/lib/", 10).unwrap(), "usr/lib");
        assert!(matches!(
            normalize(b"../../etc/passwd", 10),
            Err(LayerError::PathTraversal(_))
        ));
        assert!(matches!(
            normalize(b"a/../../b", 10),
            Err(LayerError::PathTraversal(_))
        ));
        assert!(matches!(normalize(b"a/b/c/d", 3), Err(LayerError::Limit { .. })));
    }

    #[test]
    fn resolves_links_inside_the_root() {
        assert_eq!(
            resolve_link("etc/os-release", "../usr/lib/os-release"),
            "usr/lib/os-release"
        );
        assert_eq!(
            resolve_link("etc/os-release", "/usr/lib/os-release"),
            "usr/lib/os-release"
        );
        assert_eq!(resolve_link("etc/x", "../../../../y"), "y");
        assert!(is_within("usr/lib/x", "usr/lib"));
        assert!(!is_within("usr/library", "usr/lib"));
        assert!(is_within("anything", ""));
    }
}
