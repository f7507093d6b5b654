//! A real Debian system: the root `debootstrap --variant=minbase bookworm`
//! installs from deb.debian.org (`scripts/test.sh` builds it once, as a tar
//! in `TEST_DEBIAN_ROOTFS`), pushed with skopeo as one layer. The security
//! API and `berth scan vulns` must report exactly the findings worked out
//! here from the tracker records in `tests/data/vulndata` and the root's
//! own dpkg database: each installed binary package under its source
//! package and source version, `fixed_version "0"` never affected, a
//! resolved entry affected only while the installed source version sorts
//! below the fix (as the host's real `dpkg --compare-versions` orders
//! them), open and no-dsa entries affected with no fix.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Server;
use common::feeds::FeedServer;
use common::layout::{gzip_layer, write_image_layers, write_layout_index};
use common::vulnimages::feed_config;
use common::vulnreport::{
    Findings, create_org, data, findings, json_findings, push, scan_against, scanned, vulndb,
};

/// The root's tar. Unset: CI must fail (the step that builds it is
/// missing); a developer's plain `cargo test` skips.
fn rootfs() -> Option<PathBuf> {
    match std::env::var_os("TEST_DEBIAN_ROOTFS") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "TEST_DEBIAN_ROOTFS={} is not a file",
                path.display()
            );
            Some(path)
        }
        None if std::env::var_os("CI").is_some_and(|v| v != "false" && !v.is_empty()) => {
            panic!(
                "TEST_DEBIAN_ROOTFS is not set: debootstrap a bookworm minbase root and tar it \
                 (scripts/test.sh does)"
            )
        }
        None => {
            eprintln!("TEST_DEBIAN_ROOTFS is not set; skipping");
            None
        }
    }
}

/// The file at `path` in the tar `tar`.
fn member(tar: &[u8], path: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy().trim_start_matches("./") == path {
            let mut out = Vec::new();
            entry.read_to_end(&mut out).unwrap();
            return out;
        }
    }
    panic!("{path} is not in the root");
}

/// An installed binary package: (name, source package, source version).
type Installed = (String, String, String);

/// The installed packages of a dpkg status file, with their source
/// package and version (`Source: name (version)` when it differs).
fn installed(status: &str) -> Vec<Installed> {
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .map(str::trim)
        };
        let (Some(package), Some(version)) = (field("Package"), field("Version")) else {
            continue;
        };
        if field("Status") != Some("install ok installed") {
            continue;
        }
        let (source, source_version) = match field("Source") {
            None => (package, version),
            Some(s) => match s.split_once(" (") {
                Some((name, v)) => (name, v.trim_end_matches(')')),
                None => (s, version),
            },
        };
        out.push((package.to_owned(), source.to_owned(), source_version.to_owned()));
    }
    out
}

/// Whether Debian orders `a` below `b`, by the host's own dpkg.
fn dpkg_lt(a: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, "lt", b])
        .status()
        .unwrap()
        .success()
}

/// The tracker's urgency on Clair's scale (`low**` is NVD's, asterisks
/// literal).
fn severity(urgency: &str) -> &'static str {
    match urgency.trim_end_matches('*') {
        "unimportant" => "Negligible",
        "low" => "Low",
        "medium" => "Medium",
        "high" => "High",
        _ => "Unknown",
    }
}

/// What the records say of the packages: binary package → sorted
/// (CVE, fixed by, severity); and how many resolved entries the installed
/// versions already have the fix of.
fn expected(tracker: &serde_json::Value, packages: &[Installed]) -> (Findings, usize) {
    let mut out = Findings::new();
    let mut fixed_here = 0;
    for (binary, source, version) in packages {
        let Some(cves) = tracker.get(source).and_then(|c| c.as_object()) else {
            continue;
        };
        for (cve, entry) in cves {
            let Some(release) = entry["releases"].get("bookworm") else {
                continue;
            };
            let fixed = release["fixed_version"].as_str().filter(|f| !f.is_empty());
            let status = release["status"].as_str().unwrap_or("open");
            let fixed_by = match (status, fixed) {
                (_, Some("0")) | ("resolved", None) => continue,
                (_, Some(f)) if !dpkg_lt(version, f) => {
                    fixed_here += 1;
                    continue;
                }
                (_, Some(f)) => f.to_owned(),
                (_, None) => String::new(),
            };
            let urgency = release["urgency"].as_str().unwrap_or_default();
            out.entry(binary.clone()).or_default().push((
                cve.clone(),
                fixed_by,
                severity(urgency).to_owned(),
            ));
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    (out, fixed_here)
}

/// The root as an OCI layout's `v1`: one gzip layer.
fn write_root_image(rootfs: &Path, layout: &Path) -> Vec<u8> {
    let tar = std::fs::read(rootfs).unwrap();
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&tar)]);
    write_layout_index(layout, &[("v1", &image)]);
    tar
}

#[tokio::test]
async fn a_debootstrapped_bookworm_root_gets_exactly_the_trackers_findings() {
    let Some(rootfs) = rootfs() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("bookworm");
    let tar = write_root_image(&rootfs, &layout);
    let status = String::from_utf8(member(&tar, "var/lib/dpkg/status")).unwrap();
    // `etc/os-release` is a link to it, as on every Debian system.
    let os_release = String::from_utf8(member(&tar, "usr/lib/os-release")).unwrap();
    assert!(os_release.contains("VERSION_CODENAME=bookworm"), "{os_release}");
    let packages = installed(&status);
    assert!(
        packages.len() > 50,
        "a minbase root has some 90 packages: {}",
        packages.len()
    );
    let records = data().join("vulndata/debian/tracker/data/json");
    let tracker: serde_json::Value = serde_json::from_slice(&std::fs::read(records).unwrap()).unwrap();
    let (want, fixed_here) = expected(&tracker, &packages);
    // The records reach the root's packages both ways: some entries affect
    // them, some are fixed in what debootstrap installed.
    assert!(want.len() >= 5, "{want:?}");
    assert!(
        fixed_here > 0,
        "no resolved entry is fixed in the installed versions"
    );
    // Binaries under another source's name are covered (libc6 → glibc).
    assert!(want.contains_key("libc6"), "{want:?}");

    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let s = Server::start_with_config(&feed_config(&feeds)).await;
    create_org(&s, "debian").await;
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let digest = push(&s, &layout, "debian/bookworm").await;
    let report = scanned(&s, "debian/bookworm", &digest).await;
    assert_eq!(findings(&report), want);
    // Every installed package is listed, with or without findings.
    let features = report["data"]["Layer"]["Features"].as_array().unwrap();
    let listed: std::collections::BTreeSet<&str> =
        features.iter().filter_map(|f| f["Name"].as_str()).collect();
    for (binary, _, _) in &packages {
        assert!(listed.contains(binary.as_str()), "{binary} is not in the report");
    }

    // The same findings through `berth scan vulns` on the layout, against
    // the registry's records.
    let out = scan_against(s.host(), &format!("oci:{}:v1", layout.display())).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_findings(&out.stdout), want);
}
