//! Hostile layers: each must yield an error for that layer, never a panic,
//! a hang or unbounded memory, and leave the other layers' results intact.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use berth_scan::{LayerError, LimitKind, Limits, assemble, index_layer};
use common::{Entry, digest, dpkg_stanza, gzip, tar};
use proptest::prelude::*;

fn small_limits() -> Limits {
    Limits {
        max_entries: 1000,
        max_file_bytes: 1 << 20,
        max_total_bytes: 8 << 20,
        max_path_depth: 32,
        max_header_bytes: 64 << 10,
    }
}

#[test]
fn tar_bomb_hits_the_decompressed_size_limit() {
    // 256 MiB of zeros compresses to about 256 KiB; it must stop at 8 MiB.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut h = tar::Header::new_gnu();
    h.set_path("bomb").unwrap();
    h.set_size(256 << 20);
    h.set_cksum();
    enc.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let err = index_layer(&bomb[..], &small_limits()).unwrap_err();
    assert!(
        matches!(
            err,
            LayerError::Limit {
                kind: LimitKind::TotalBytes,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn too_many_entries_is_refused() {
    let names: Vec<String> = (0..1500).map(|i| format!("f{i}")).collect();
    let entries: Vec<Entry<'_>> = names.iter().map(|n| Entry::File(n, b"")).collect();
    let err = index_layer(&gzip(&tar(&entries))[..], &small_limits()).unwrap_err();
    assert!(
        matches!(
            err,
            LayerError::Limit {
                kind: LimitKind::Entries,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn path_traversal_entry_is_refused() {
    let layer = tar(&[Entry::File("../../etc/passwd", b"root:x:0:0")]);
    let err = index_layer(&layer[..], &small_limits()).unwrap_err();
    assert!(matches!(err, LayerError::PathTraversal(_)), "{err}");
    let layer = tar(&[Entry::File("var/lib/../../../../var/lib/dpkg/status", b"")]);
    assert!(matches!(
        index_layer(&layer[..], &small_limits()),
        Err(LayerError::PathTraversal(_))
    ));
}

#[test]
fn symlink_loop_is_refused() {
    let layer = tar(&[
        Entry::Symlink("etc/os-release", "os-release.d"),
        Entry::Symlink("etc/os-release.d", "/etc/os-release"),
    ]);
    let err = index_layer(&layer[..], &small_limits()).unwrap_err();
    assert!(matches!(err, LayerError::SymlinkLoop(_)), "{err}");
}

#[test]
fn symlink_loop_across_layers_is_reported_without_failing() {
    let l1 = tar(&[Entry::Symlink("etc/os-release", "/usr/lib/os-release")]);
    let l2 = tar(&[
        Entry::Symlink("usr/lib/os-release", "/etc/os-release"),
        Entry::File("var/lib/dpkg/status", dpkg_stanza("bash", "5.2").as_bytes()),
    ]);
    let layers = vec![
        (digest(&l1), index_layer(&l1[..], &small_limits())),
        (digest(&l2), index_layer(&l2[..], &small_limits())),
    ];
    let inv = assemble(&layers);
    assert!(inv.warnings[0].contains("loop"), "{:?}", inv.warnings);
    assert_eq!(inv.packages.len(), 1);
}

#[test]
fn truncated_gzip_is_refused() {
    let full = gzip(&tar(&[Entry::File(
        "var/lib/dpkg/status",
        dpkg_stanza("bash", "5.2").as_bytes(),
    )]));
    for cut in [full.len() - 4, full.len() / 2, 12] {
        let err = index_layer(&full[..cut], &small_limits()).unwrap_err();
        assert!(matches!(err, LayerError::Corrupt(_)), "cut at {cut}: {err}");
    }
}

#[test]
fn oversized_package_file_and_deep_paths_are_refused() {
    let big = vec![b'x'; (1 << 20) + 1];
    let layer = tar(&[Entry::File("var/lib/dpkg/status", &big)]);
    assert!(matches!(
        index_layer(&layer[..], &small_limits()),
        Err(LayerError::Limit {
            kind: LimitKind::FileBytes,
            ..
        })
    ));
    // The same size in a file no detector reads is only skipped.
    let layer = tar(&[Entry::File("usr/share/big", &big)]);
    assert!(index_layer(&layer[..], &small_limits()).is_ok());
    let deep = "d/".repeat(40) + "f";
    let layer = tar(&[Entry::File(&deep, b"")]);
    assert!(matches!(
        index_layer(&layer[..], &small_limits()),
        Err(LayerError::Limit {
            kind: LimitKind::PathDepth,
            ..
        })
    ));
}

#[test]
fn huge_extension_headers_are_refused() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("x").unwrap();
    h.set_size(0);
    h.set_cksum();
    let long = "a/".repeat(100_000) + "f";
    b.append_data(&mut h, &long, &[][..]).unwrap();
    let layer = b.into_inner().unwrap();
    let err = index_layer(&layer[..], &small_limits()).unwrap_err();
    assert!(
        matches!(
            err,
            LayerError::Limit {
                kind: LimitKind::HeaderBytes,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn other_compressions_are_named() {
    assert!(matches!(
        index_layer(&b"BZh91AY&SY"[..], &small_limits()),
        Err(LayerError::UnsupportedCompression("bzip2"))
    ));
    assert!(matches!(
        index_layer(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0][..], &small_limits()),
        Err(LayerError::UnsupportedCompression("xz"))
    ));
}

#[test]
fn a_bad_layer_leaves_the_others_intact() {
    let good = tar(&[Entry::File(
        "var/lib/dpkg/status",
        dpkg_stanza("bash", "5.2").as_bytes(),
    )]);
    let bad = tar(&[Entry::File("../x", b"")]);
    let layers = vec![
        (digest(&good), index_layer(&good[..], &small_limits())),
        (digest(&bad), index_layer(&bad[..], &small_limits())),
    ];
    let inv = assemble(&layers);
    assert!(inv.has_layer_errors());
    assert!(inv.layers[1].error.as_ref().unwrap().contains("escapes"));
    assert_eq!(inv.packages.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = index_layer(&bytes[..], &small_limits());
        let _ = index_layer(&gzip(&bytes)[..], &small_limits());
    }

    #[test]
    fn corrupted_layers_never_panic(flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..8)) {
        let mut layer = tar(&[
            Entry::File("var/lib/dpkg/status", dpkg_stanza("bash", "5.2").as_bytes()),
            Entry::Symlink("etc/os-release", "../usr/lib/os-release"),
            Entry::File("usr/lib/os-release", b"ID=debian\n"),
        ]);
        for (at, byte) in flips {
            let at = at % layer.len();
            layer[at] = byte;
        }
        let _ = index_layer(&layer[..], &small_limits());
    }
}
