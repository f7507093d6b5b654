//! Version comparison with each ecosystem's own semantics. Every scheme
//! parses hostile strings without panicking and orders them totally:
//! reflexive, antisymmetric and transitive (checked by property tests).

mod apk;
mod dpkg;
mod gem;
mod maven;
mod semantic;

use std::cmp::Ordering;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::package::Ecosystem;

/// A version ordering scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Debian `[epoch:]upstream[-revision]`, as `dpkg --compare-versions`.
    Dpkg,
    /// RPM `[epoch:]version[-release]`, as `rpmvercmp`.
    Rpm,
    /// Alpine, as apk-tools.
    Apk,
    /// Python, PEP 440.
    Pep440,
    /// Semantic Versioning 2.0 (cargo).
    Semver,
    /// npm's semver dialect (a leading `v` and `=` tolerated).
    Npm,
    /// Go modules (`v1.2.3`, pseudo-versions, `+incompatible`).
    Go,
    /// Maven's ComparableVersion.
    Maven,
    /// RubyGems' Gem::Version.
    RubyGems,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 9] = [
        Scheme::Dpkg,
        Scheme::Rpm,
        Scheme::Apk,
        Scheme::Pep440,
        Scheme::Semver,
        Scheme::Npm,
        Scheme::Go,
        Scheme::Maven,
        Scheme::RubyGems,
    ];

    /// The scheme an ecosystem's versions follow.
    pub fn for_ecosystem(e: Ecosystem) -> Scheme {
        match e {
            Ecosystem::Deb => Scheme::Dpkg,
            Ecosystem::Rpm => Scheme::Rpm,
            Ecosystem::Apk => Scheme::Apk,
            Ecosystem::Pypi => Scheme::Pep440,
            Ecosystem::Npm => Scheme::Npm,
            Ecosystem::Go => Scheme::Go,
            Ecosystem::Gem => Scheme::RubyGems,
            Ecosystem::Maven => Scheme::Maven,
            Ecosystem::Cargo => Scheme::Semver,
        }
    }
}

impl FromStr for Scheme {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "dpkg" | "deb" => Scheme::Dpkg,
            "rpm" => Scheme::Rpm,
            "apk" => Scheme::Apk,
            "pep440" | "pypi" => Scheme::Pep440,
            "semver" | "cargo" => Scheme::Semver,
            "npm" => Scheme::Npm,
            "go" | "golang" => Scheme::Go,
            "maven" => Scheme::Maven,
            "rubygems" | "gem" => Scheme::RubyGems,
            other => return Err(VersionError::UnknownScheme(crate::path::truncate(other))),
        })
    }
}

/// Why two versions could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The string is not a version in this scheme.
    #[error("{scheme:?} version {version:?} is invalid")]
    Invalid {
        /// The scheme.
        scheme: Scheme,
        /// The offending string (truncated).
        version: String,
    },
    /// No such scheme.
    #[error("unknown version scheme {0:?}")]
    UnknownScheme(String),
}

fn invalid(scheme: Scheme, version: &str) -> VersionError {
    VersionError::Invalid {
        scheme,
        version: crate::path::truncate(version),
    }
}

/// Compare two versions in `scheme`; an error if either is not valid there.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    match scheme {
        Scheme::Dpkg => {
            let parse = |v| dpkg::DebVersion::parse(v).ok_or_else(|| invalid(scheme, v));
            Ok(parse(a)?.cmp(&parse(b)?))
        }
        Scheme::Rpm => Ok(rpm_version::Evr::parse(a).cmp(&rpm_version::Evr::parse(b))),
        Scheme::Apk => apk::compare(a, b).ok_or_else(|| invalid(scheme, if apk::valid(a) { b } else { a })),
        Scheme::Pep440 => {
            let parse = |v: &str| pep440_rs::Version::from_str(v.trim()).map_err(|_| invalid(scheme, v));
            Ok(parse(a)?.cmp(&parse(b)?))
        }
        Scheme::Semver => {
            let parse = |v: &str| semver::Version::parse(v).map_err(|_| invalid(scheme, v));
            Ok(semantic::cmp_semver(&parse(a)?, &parse(b)?))
        }
        Scheme::Npm => {
            let parse = |v: &str| nodejs_semver::Version::parse(v).map_err(|_| invalid(scheme, v));
            Ok(parse(a)?.cmp(&parse(b)?))
        }
        Scheme::Go => {
            let parse = |v: &str| semantic::parse_go(v).ok_or_else(|| invalid(scheme, v));
            Ok(semantic::cmp_semver(&parse(a)?, &parse(b)?))
        }
        Scheme::Maven => Ok(maven::compare(a, b)),
        Scheme::RubyGems => {
            let parse = |v: &str| gem::GemVersion::parse(v).ok_or_else(|| invalid(scheme, v));
            Ok(parse(a)?.cmp(&parse(b)?))
        }
    }
}

#[cfg(test)]
mod tests;
