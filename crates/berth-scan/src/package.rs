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
    /// Go modules compiled into a binary.
    Go,
    /// Ruby gems.
    Gem,
    /// Java artifacts (`group:artifact`).
    Maven,
    /// Rust crates compiled into a binary.
    Cargo,
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
            Ecosystem::Go => "golang",
            Ecosystem::Gem => "gem",
            Ecosystem::Maven => "maven",
            Ecosystem::Cargo => "cargo",
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

impl Package {
    /// The package URL (purl) naming this package. OS packages take their
    /// namespace and `distro` qualifier from the image's distribution.
    pub fn purl(&self, distro: Option<&crate::Distribution>) -> Option<String> {
        let (namespace, name) = match self.ecosystem {
            Ecosystem::Npm => match self.name.split_once('/') {
                Some((scope, name)) if scope.starts_with('@') => (Some(scope.to_owned()), name.to_owned()),
                _ => (None, self.name.clone()),
            },
            Ecosystem::Pypi => (None, crate::detect::normalize_python_name(&self.name)),
            Ecosystem::Gem | Ecosystem::Cargo => (None, self.name.clone()),
            Ecosystem::Maven => match self.name.split_once(':') {
                Some((group, artifact)) => (Some(group.to_owned()), artifact.to_owned()),
                None => (None, self.name.clone()),
            },
            Ecosystem::Go => match self.name.rsplit_once('/') {
                Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
                None => (None, self.name.clone()),
            },
            Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm => {
                let default = match self.ecosystem {
                    Ecosystem::Deb => "debian",
                    Ecosystem::Apk => "alpine",
                    _ => "redhat",
                };
                (
                    Some(distro.map_or(default, |d| d.id.as_str()).to_owned()),
                    self.name.clone(),
                )
            }
        };
        let mut purl = packageurl::PackageUrl::new(self.ecosystem.purl_type(), name).ok()?;
        if let Some(ns) = namespace {
            purl.with_namespace(ns).ok()?;
        }
        purl.with_version(self.version.clone()).ok()?;
        if let Some(arch) = &self.arch {
            purl.add_qualifier("arch", arch.clone()).ok()?;
        }
        if matches!(self.ecosystem, Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm)
            && let Some(d) = distro
        {
            let value = match &d.version_id {
                Some(v) => format!("{}-{v}", d.id),
                None => d.id.clone(),
            };
            purl.add_qualifier("distro", value).ok()?;
        }
        Some(purl.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_follow_the_spec() {
        let deb = Package {
            ecosystem: Ecosystem::Deb,
            name: "libc6".into(),
            version: "2.36-9+deb12u7".into(),
            arch: Some("amd64".into()),
            source: None,
        };
        let d = crate::Distribution {
            id: "debian".into(),
            version_id: Some("12".into()),
            ..Default::default()
        };
        assert_eq!(
            deb.purl(Some(&d)).unwrap(),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12"
        );
        let npm = Package {
            ecosystem: Ecosystem::Npm,
            name: "@babel/core".into(),
            version: "7.0.0".into(),
            arch: None,
            source: None,
        };
        assert_eq!(npm.purl(None).unwrap(), "pkg:npm/%40babel/core@7.0.0");
        let py = Package {
            ecosystem: Ecosystem::Pypi,
            name: "Typing_Extensions".into(),
            version: "4.12.2".into(),
            arch: None,
            source: None,
        };
        assert_eq!(py.purl(None).unwrap(), "pkg:pypi/typing-extensions@4.12.2");
    }
}
