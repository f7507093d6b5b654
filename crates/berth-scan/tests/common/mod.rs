//! Building layers for tests: tar archives written with the `tar` crate,
//! optionally compressed, with raw headers where a hostile entry is needed.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::process::Command;

use berth_oci::{Algorithm, Digest};

/// One entry of a test layer.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    /// A file with mode 0755.
    Executable(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Dir(&'a str),
    Hardlink(&'a str, &'a str),
}

/// A tar stream holding `entries`, in order.
pub fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        match e {
            Entry::File(path, data) | Entry::Executable(path, data) => {
                if matches!(e, Entry::Executable(..)) {
                    h.set_mode(0o755);
                }
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                raw_path(&mut h, path);
                b.append(&h, *data).unwrap();
            }
            Entry::Symlink(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                raw_path(&mut h, path);
                h.set_link_name(target).unwrap();
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            Entry::Hardlink(path, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                raw_path(&mut h, path);
                h.set_link_name(target).unwrap();
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            Entry::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                raw_path(&mut h, path);
                b.append(&h, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Write the name field directly: the builder refuses `..`, which is
/// exactly what hostile-layer tests need.
fn raw_path(h: &mut tar::Header, path: &str) {
    let name = &mut h.as_old_mut().name;
    name.fill(0);
    name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_cksum();
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 1).unwrap()
}

pub fn digest(bytes: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, bytes)
}

/// A dpkg status stanza for an installed package.
pub fn dpkg_stanza(name: &str, version: &str) -> String {
    format!("Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n")
}

/// Run a tool the comparison needs; panic with its output if it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (scripts/test.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
