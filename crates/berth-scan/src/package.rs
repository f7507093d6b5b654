//! What the indexer reports: packages with their ecosystem's identity.

use serde::{Deserialize, Serialize};

/// The packaging system a package belongs to; decides version semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// Debian packages (dpkg).
    Deb,
    /// Alpine packages (apk).
    Apk,
    /// RPM packages.
    Rpm,
    /// Python distributions (PyPI).
    Pypi,
    /// Node.js packages (npm).
    Npm,
}

impl Ecosystem {
    /// The package-URL type for this ecosystem.
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
        }
    }
}

/// The source package a binary package was built from (dpkg, apk, rpm).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourcePackage {
    /// Source package name.
    pub name: String,
    /// Source package version (often equal to the binary's).
    pub version: String,
}

/// One installed package as its ecosystem's database describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    /// Ecosystem (decides version comparison).
    pub ecosystem: Ecosystem,
    /// Name as the ecosystem spells it.
    pub name: String,
    /// Version string exactly as recorded.
    pub version: String,
    /// Architecture, where the ecosystem records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Source package, where the ecosystem records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePackage>,
}
