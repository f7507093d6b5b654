//! Layer reading and stacking: compression detection, whiteouts, opaque
//! directories, attribution of packages to layers, distribution detection.
#![allow(clippy::unwrap_used)]

mod common;

use berth_scan::{Ecosystem, Finding, LayerError, Limits, assemble, index_layer};
use common::{Entry, digest, dpkg_stanza, gzip, tar, zstd};

fn index(bytes: &[u8]) -> berth_scan::LayerIndex {
    index_layer(bytes, &Limits::default()).unwrap()
}

#[test]
fn plain_gzip_and_zstd_layers_read_the_same() {
    let status = dpkg_stanza("bash", "5.2.15-2+b7");
    let raw = tar(&[
        Entry::Dir("var/lib/dpkg"),
        Entry::File("var/lib/dpkg/status", status.as_bytes()),
    ]);
    let plain = index(&raw);
    assert_eq!(plain, index(&gzip(&raw)));
    assert_eq!(plain, index(&zstd(&raw)));
    match &plain.files["var/lib/dpkg/status"] {
        Finding::Packages(p) => assert_eq!(p[0].name, "bash"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn packages_are_attributed_to_the_layer_that_introduced_them() {
    let l1 = gzip(&tar(&[Entry::File(
        "var/lib/dpkg/status",
        dpkg_stanza("libc6", "2.36-9").as_bytes(),
    )]));
    let s2 = dpkg_stanza("libc6", "2.36-9") + &dpkg_stanza("curl", "7.88.1-10");
    let l2 = gzip(&tar(&[Entry::File("./var/lib/dpkg/status", s2.as_bytes())]));
    let s3 = dpkg_stanza("libc6", "2.36-9+deb12u7") + &dpkg_stanza("curl", "7.88.1-10");
    let l3 = gzip(&tar(&[Entry::File("/var/lib/dpkg/status", s3.as_bytes())]));
    let layers: Vec<_> = [&l1, &l2, &l3]
        .iter()
        .map(|l| (digest(l), index_layer(&l[..], &Limits::default())))
        .collect();
    let inv = assemble(&layers);
    let find = |n: &str| inv.packages.iter().find(|e| e.package.name == n).unwrap();
    assert_eq!(inv.packages.len(), 2);
    assert_eq!(find("curl").layer, digest(&l2).to_string());
    assert_eq!(find("libc6").layer, digest(&l3).to_string());
    assert_eq!(find("libc6").package.version, "2.36-9+deb12u7");
    assert_eq!(find("curl").path, "/var/lib/dpkg/status");
}

fn metadata(name: &str, version: &str) -> String {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
}

#[test]
fn whiteouts_and_opaque_directories_hide_lower_content() {
    let site = "usr/lib/python3/dist-packages";
    let six = metadata("six", "1.16.0");
    let idna = metadata("idna", "3.7");
    let ms = br#"{"name":"ms","version":"2.1.3"}"#;
    let l1 = tar(&[
        Entry::File(&format!("{site}/six-1.16.0.dist-info/METADATA"), six.as_bytes()),
        Entry::File(&format!("{site}/idna-3.7.dist-info/METADATA"), idna.as_bytes()),
        Entry::File("app/node_modules/ms/package.json", ms),
    ]);
    let l2 = tar(&[
        // Whiteout of a directory removes everything below it.
        Entry::File(&format!("{site}/.wh.six-1.16.0.dist-info"), b""),
        // An opaque directory hides the lower node_modules entirely...
        Entry::File("app/node_modules/.wh..wh..opq", b""),
        // ...but not what this layer itself puts there.
        Entry::File(
            "app/node_modules/debug/package.json",
            br#"{"name":"debug","version":"4.3.7"}"#,
        ),
    ]);
    let layers = vec![
        (digest(&l1), index_layer(&l1[..], &Limits::default())),
        (digest(&l2), index_layer(&l2[..], &Limits::default())),
    ];
    let inv = assemble(&layers);
    let names: Vec<_> = inv
        .packages
        .iter()
        .map(|e| (e.package.ecosystem, e.package.name.as_str()))
        .collect();
    assert_eq!(names, vec![(Ecosystem::Pypi, "idna"), (Ecosystem::Npm, "debug")]);
}

#[test]
fn a_whiteout_does_not_hide_siblings_sharing_a_prefix() {
    let l1 = tar(&[
        Entry::File(
            "var/lib/dpkg/status.d/base",
            dpkg_stanza("base-files", "12.4").as_bytes(),
        ),
        Entry::File("var/lib/dpkg/status.d/base.md5sums", b"x"),
        Entry::File(
            "var/lib/dpkg/status.d/base-x",
            dpkg_stanza("tzdata", "2024a").as_bytes(),
        ),
    ]);
    let l2 = tar(&[Entry::File("var/lib/dpkg/status.d/.wh.base", b"")]);
    let inv = assemble::<LayerError>(&[(digest(&l1), Ok(index(&l1))), (digest(&l2), Ok(index(&l2)))]);
    let names: Vec<_> = inv.packages.iter().map(|e| e.package.name.as_str()).collect();
    assert_eq!(names, vec!["tzdata"]);
}

#[test]
fn detects_the_distribution_through_links_across_layers() {
    let l1 = tar(&[Entry::File(
        "usr/lib/os-release",
        b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
    )]);
    let l2 = tar(&[Entry::Symlink("etc/os-release", "../usr/lib/os-release")]);
    let inv = assemble::<LayerError>(&[(digest(&l1), Ok(index(&l1))), (digest(&l2), Ok(index(&l2)))]);
    let d = inv.distribution.unwrap();
    assert_eq!((d.id.as_str(), d.version_id.as_deref()), ("debian", Some("12")));

    let alpine = tar(&[
        Entry::File("etc/alpine-release", b"3.20.3\n"),
        Entry::File(
            "lib/apk/db/installed",
            b"P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\no:busybox\n",
        ),
    ]);
    let inv = assemble::<LayerError>(&[(digest(&alpine), Ok(index(&alpine)))]);
    assert_eq!(inv.distribution.unwrap().id, "alpine");
    assert_eq!(inv.packages.len(), 2);
}

#[test]
fn hard_links_carry_their_targets_content() {
    let m = metadata("six", "1.16.0");
    let l = tar(&[
        Entry::File("a/x-packages/six-1.16.0.dist-info/METADATA", m.as_bytes()),
        Entry::Hardlink(
            "b/x-packages/six-1.16.0.dist-info/METADATA",
            "a/x-packages/six-1.16.0.dist-info/METADATA",
        ),
    ]);
    assert_eq!(index(&l).files.len(), 2);
}

#[test]
fn unparsable_metadata_is_a_warning_not_a_failure() {
    let l = tar(&[
        Entry::File("app/node_modules/bad/package.json", b"{not json"),
        Entry::File(
            "app/node_modules/ms/package.json",
            br#"{"name":"ms","version":"2.1.3"}"#,
        ),
    ]);
    let idx = index(&l);
    assert_eq!(idx.warnings.len(), 1);
    assert_eq!(idx.files.len(), 1);
}
