//! Semantic Versioning for cargo and Go. Build metadata never affects
//! precedence (SemVer 2.0 §10), unlike `semver::Version`'s `Ord`.

use std::cmp::Ordering;

/// Precedence order: major, minor, patch, then pre-release.
pub(super) fn cmp_semver(a: &semver::Version, b: &semver::Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

/// A Go module version: `v` + semver; `+incompatible` is build metadata.
pub(super) fn parse_go(v: &str) -> Option<semver::Version> {
    let rest = v.strip_prefix('v')?;
    semver::Version::parse(rest).ok()
}
