//! Package detectors. Each one recognizes its files by path and parses one
//! file at a time, so a layer is indexed in one pass and the result depends
//! on that layer alone.

mod apk;
mod control;
mod dpkg;
mod elf;
mod golang;
mod java;
mod npm;
mod python;
mod rpm;
mod ruby;
mod rust;

use crate::layer::Finding;

/// Which detector a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `/var/lib/dpkg/status`.
    DpkgStatus,
    /// One file of `/var/lib/dpkg/status.d/` (distroless images).
    DpkgStatusD,
    /// `/lib/apk/db/installed`.
    Apk,
    /// An rpm database (`rpmdb.sqlite`, `Packages`, `Packages.db`) under
    /// `/var/lib/rpm` or `/usr/lib/sysimage/rpm`.
    RpmDatabase,
    /// `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` or a `*.egg-info` file.
    PythonMetadata,
    /// `node_modules/<name>/package.json`.
    NpmPackage,
    /// `specifications/<gem>.gemspec`.
    Gemspec,
    /// A Java archive (`.jar`, `.war`, ...).
    JavaArchive,
    /// A distribution release file.
    Release,
}

/// Why a package file did not parse (the layer itself stays valid).
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The file is not in the format its path promises.
    #[error("{0}")]
    Malformed(String),
}

/// Whether a file with these first bytes is worth reading whole as an
/// executable (by an executable's detectors).
pub(crate) fn is_binary_magic(head: &[u8]) -> bool {
    elf::is_elf(head)
}

/// Packages embedded in an executable (Go build information, cargo
/// auditable dependency trees).
pub(crate) fn parse_binary(data: &[u8]) -> Result<Option<Finding>, DetectError> {
    let mut packages = golang::packages(data)?;
    packages.extend(rust::packages(data)?);
    Ok((!packages.is_empty()).then_some(Finding::Packages(packages)))
}

/// The detector interested in `path`, if any.
pub(crate) fn classify(path: &str) -> Option<FileKind> {
    if path == "var/lib/dpkg/status" {
        return Some(FileKind::DpkgStatus);
    }
    if let Some(name) = path.strip_prefix("var/lib/dpkg/status.d/") {
        return (!name.contains('/') && !name.ends_with(".md5sums")).then_some(FileKind::DpkgStatusD);
    }
    if path == "lib/apk/db/installed" || path == "usr/lib/apk/db/installed" {
        return Some(FileKind::Apk);
    }
    if rpm::is_database(path) {
        return Some(FileKind::RpmDatabase);
    }
    if crate::distro::is_release_file(path) {
        return Some(FileKind::Release);
    }
    if python::is_metadata_path(path) {
        return Some(FileKind::PythonMetadata);
    }
    if npm::is_package_json(path) {
        return Some(FileKind::NpmPackage);
    }
    if ruby::is_gemspec_path(path) {
        return Some(FileKind::Gemspec);
    }
    if java::is_archive_path(path) {
        return Some(FileKind::JavaArchive);
    }
    None
}

/// Parse one file. `Ok(None)` means the file holds nothing to report.
pub(crate) fn parse(kind: FileKind, data: &[u8]) -> Result<Option<Finding>, DetectError> {
    let packages = match kind {
        FileKind::Release => return Ok(Some(Finding::Release(String::from_utf8_lossy(data).into_owned()))),
        FileKind::DpkgStatus => dpkg::parse_status(data, true)?,
        FileKind::DpkgStatusD => dpkg::parse_status(data, false)?,
        FileKind::Apk => apk::parse_installed(data)?,
        FileKind::RpmDatabase => rpm::parse_database(data)?,
        FileKind::PythonMetadata => python::parse_metadata(data)?.into_iter().collect(),
        FileKind::NpmPackage => npm::parse_package_json(data)?.into_iter().collect(),
        FileKind::Gemspec => ruby::parse_gemspec(data)?.into_iter().collect(),
        FileKind::JavaArchive => java::parse_archive(data)?,
    };
    Ok((!packages.is_empty()).then_some(Finding::Packages(packages)))
}

pub use apk::parse_installed as parse_apk_installed;
pub use dpkg::parse_status as parse_dpkg_status;
pub use golang::{BuildInfo as GoBuildInfo, parse_build_info as parse_go_build_info};
pub use java::parse_archive as parse_java_archive;
pub use npm::parse_package_json as parse_npm_package_json;
pub use python::normalize_name as normalize_python_name;
pub use python::parse_metadata as parse_python_metadata;
pub use rpm::parse_database as parse_rpm_database;
pub use ruby::parse_gemspec;
