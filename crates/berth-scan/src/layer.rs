//! Reading one layer: detect the compression by magic bytes, walk the tar
//! entries in order without extracting anything, and keep only what the
//! detectors need (parsed package databases, release files, whiteouts and
//! the symbolic links that release-file lookup may follow).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Cursor, Read};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::detect::{self, FileKind};
use crate::error::{LayerError, LimitKind};
use crate::limits::Limits;
use crate::package::Package;
use crate::path::{self, normalize, split_last};

/// Symbolic links at most this deep are recorded, so that release files
/// reached through `/etc` or `/usr/lib` links resolve; deeper links are
/// irrelevant to detection.
const RECORDED_LINK_DEPTH: usize = 3;
/// Parse warnings kept per layer; more are counted, not stored.
const MAX_WARNINGS: usize = 100;

/// What one path in a layer contributes to the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// A package database or manifest, parsed.
    Packages(Vec<Package>),
    /// The text of a distribution release file (`os-release` and fallbacks).
    Release(String),
    /// A symbolic link and its target as stored.
    Symlink(String),
}

/// Everything the indexer keeps from one layer; small, and independent of
/// other layers, so it can be cached by the layer's digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerIndex {
    /// Paths this layer deletes from the layers below (`.wh.<name>`).
    pub whiteouts: Vec<String>,
    /// Directories whose lower-layer content this layer hides (`.wh..wh..opq`).
    pub opaque_dirs: Vec<String>,
    /// Interesting paths written by this layer, relative to the root.
    pub files: BTreeMap<String, Finding>,
    /// Files that looked like package metadata but did not parse.
    pub warnings: Vec<String>,
}

/// Index one layer read from `reader` (a tar stream, gzip or zstd
/// compressed or not). The whole stream is consumed, so a truncated or
/// corrupt compressed stream is reported even past the tar end marker.
pub fn index_layer<R: Read>(reader: R, limits: &Limits) -> Result<LayerIndex, LayerError> {
    let tripped = Rc::new(Cell::new(false));
    let result = decode(reader, limits, tripped.clone());
    match result {
        Err(_) if tripped.get() => Err(LayerError::Limit {
            kind: LimitKind::TotalBytes,
            limit: limits.max_total_bytes,
        }),
        other => other,
    }
}

fn decode<R: Read>(
    mut reader: R,
    limits: &Limits,
    tripped: Rc<Cell<bool>>,
) -> Result<LayerIndex, LayerError> {
    let mut magic = [0u8; 6];
    let n = read_prefix(&mut reader, &mut magic).map_err(corrupt)?;
    let head = Cursor::new(magic[..n].to_vec()).chain(reader);
    let decoded: Box<dyn Read + '_> = match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(head)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(zstd::stream::read::Decoder::new(head).map_err(corrupt)?),
        [b'B', b'Z', b'h', ..] => return Err(LayerError::UnsupportedCompression("bzip2")),
        [0xfd, b'7', b'z', b'X', b'Z', 0] => return Err(LayerError::UnsupportedCompression("xz")),
        _ => Box::new(head),
    };
    let bounded = Bounded {
        inner: decoded,
        read: 0,
        limit: limits.max_total_bytes,
        tripped,
    };
    walk(bounded, limits)
}

/// Fill `buf` as far as the stream allows (short reads are legal).
fn read_prefix(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn corrupt(e: io::Error) -> LayerError {
    LayerError::Corrupt(e.to_string())
}

/// Counts decompressed bytes and fails the stream past the limit, so a
/// small compressed layer cannot make the indexer read forever.
struct Bounded<R> {
    inner: R,
    read: u64,
    limit: u64,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            self.tripped.set(true);
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        Ok(n)
    }
}

/// Extension headers seen before the entry they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

fn walk<R: Read>(reader: R, limits: &Limits) -> Result<LayerIndex, LayerError> {
    let mut archive = tar::Archive::new(reader);
    let mut index = LayerIndex::default();
    let mut skipped_warnings = 0usize;
    let mut pending = Pending::default();
    let mut count = 0u64;
    // Raw mode: the tar crate would otherwise read extension headers of any
    // size into memory; here they are bounded by `max_header_bytes`.
    for entry in archive.entries().map_err(corrupt)?.raw(true) {
        let mut entry = entry.map_err(corrupt)?;
        count += 1;
        if count > limits.max_entries {
            return Err(LayerError::Limit {
                kind: LimitKind::Entries,
                limit: limits.max_entries,
            });
        }
        let kind = entry.header().entry_type();
        if kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_local_extensions() {
            let data = read_bounded(&mut entry, limits.max_header_bytes, LimitKind::HeaderBytes)?;
            if kind.is_gnu_longname() {
                pending.long_name = Some(trim_nul(data));
            } else if kind.is_gnu_longlink() {
                pending.long_link = Some(trim_nul(data));
            } else {
                pending.pax = Some(data);
            }
            continue;
        }
        if kind.is_pax_global_extensions() {
            continue;
        }
        let (raw_path, raw_link) = names(&entry, &mut pending)?;
        let path = normalize(&raw_path, limits.max_path_depth)?;
        let (dir, name) = split_last(&path);
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                index.opaque_dirs.push(dir.to_owned());
            } else if !hidden.starts_with(".wh.") && !hidden.is_empty() {
                index.whiteouts.push(join(dir, hidden));
            }
            continue;
        }
        let file_kind = detect::classify(&path);
        if kind.is_file() || kind == tar::EntryType::Continuous {
            let Some(file_kind) = file_kind else {
                index.files.remove(&path);
                let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
                if executable
                    && let Some(finding) = read_executable(&mut entry, &path, limits, &mut index.warnings)?
                {
                    index.files.insert(path, finding);
                }
                continue;
            };
            // Archives are ordinarily large: past the limit they are
            // skipped with a warning, while a package database that large
            // fails the layer.
            if file_kind == FileKind::JavaArchive && entry.size() > limits.max_file_bytes {
                if index.warnings.len() < MAX_WARNINGS {
                    index.warnings.push(format!(
                        "/{}: archive larger than the file size limit, not read",
                        path::truncate(&path)
                    ));
                }
                index.files.remove(&path);
                continue;
            }
            let data = read_bounded(&mut entry, limits.max_file_bytes, LimitKind::FileBytes)?;
            match detect::parse(file_kind, &data) {
                Ok(Some(finding)) => {
                    index.files.insert(path, finding);
                }
                Ok(None) => {
                    index.files.remove(&path);
                }
                Err(why) => {
                    index.files.remove(&path);
                    if index.warnings.len() < MAX_WARNINGS {
                        index.warnings.push(format!("/{}: {why}", path::truncate(&path)));
                    } else {
                        skipped_warnings += 1;
                    }
                }
            }
        } else if kind.is_hard_link() {
            // A hard link has the content of its (same-layer) target.
            let target = normalize(&raw_link.unwrap_or_default(), limits.max_path_depth)?;
            let copied = file_kind
                .filter(|k| detect::classify(&target) == Some(*k))
                .and_then(|_| index.files.get(&target).cloned());
            match copied {
                Some(f) => index.files.insert(path, f),
                None => index.files.remove(&path),
            };
        } else if kind.is_symlink() {
            let depth = path.split('/').count();
            if depth <= RECORDED_LINK_DEPTH || file_kind == Some(FileKind::Release) {
                let target = String::from_utf8_lossy(&raw_link.unwrap_or_default()).into_owned();
                index.files.insert(path, Finding::Symlink(target));
            } else {
                index.files.remove(&path);
            }
        } else {
            index.files.remove(&path);
        }
    }
    if skipped_warnings > 0 {
        index
            .warnings
            .push(format!("{skipped_warnings} more unparsable files"));
    }
    // Read to the end so compression trailers (gzip CRC and length) are
    // verified even when the tar end marker came first.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(corrupt)?;
    crate::distro::check_links(&index.files)?;
    Ok(index)
}

/// The entry's path and link target, with GNU long names and PAX records
/// applied.
fn names<R: Read>(
    entry: &tar::Entry<'_, R>,
    pending: &mut Pending,
) -> Result<(Vec<u8>, Option<Vec<u8>>), LayerError> {
    let header = entry.header();
    let mut path = pending
        .long_name
        .take()
        .unwrap_or_else(|| header.path_bytes().into_owned());
    let mut link = pending
        .long_link
        .take()
        .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
    if let Some(pax) = pending.pax.take() {
        for ext in tar::PaxExtensions::new(&pax) {
            let ext = ext.map_err(corrupt)?;
            match ext.key_bytes() {
                b"path" => path = ext.value_bytes().to_vec(),
                b"linkpath" => link = Some(ext.value_bytes().to_vec()),
                b"size" => {
                    // Raw iteration skips data by the header's size; a PAX
                    // size that disagrees would desynchronize the stream.
                    let pax_size = std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok());
                    if pax_size != Some(entry.size()) {
                        return Err(LayerError::Corrupt(
                            "PAX size record disagrees with the header (entries over 8 GiB are not supported)"
                                .into(),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok((path, link))
}

/// Read an executable whole when it starts like a binary the detectors
/// understand; larger than `max_file_bytes` is skipped, not an error, since
/// big binaries are ordinary.
fn read_executable(
    entry: &mut impl Read,
    path: &str,
    limits: &Limits,
    warnings: &mut Vec<String>,
) -> Result<Option<Finding>, LayerError> {
    let mut head = [0u8; 4];
    let n = read_prefix(entry, &mut head).map_err(corrupt)?;
    if !detect::is_binary_magic(&head[..n]) {
        return Ok(None);
    }
    let mut data = head[..n].to_vec();
    entry
        .take(limits.max_file_bytes.saturating_sub(n as u64) + 1)
        .read_to_end(&mut data)
        .map_err(corrupt)?;
    if data.len() as u64 > limits.max_file_bytes {
        if warnings.len() < MAX_WARNINGS {
            warnings.push(format!(
                "/{}: executable larger than the file size limit, not read",
                path::truncate(path)
            ));
        }
        return Ok(None);
    }
    match detect::parse_binary(&data) {
        Ok(finding) => Ok(finding),
        Err(why) => {
            if warnings.len() < MAX_WARNINGS {
                warnings.push(format!("/{}: {why}", path::truncate(path)));
            }
            Ok(None)
        }
    }
}

fn read_bounded(entry: &mut impl Read, limit: u64, kind: LimitKind) -> Result<Vec<u8>, LayerError> {
    let mut data = Vec::new();
    entry.take(limit + 1).read_to_end(&mut data).map_err(corrupt)?;
    if data.len() as u64 > limit {
        return Err(LayerError::Limit { kind, limit });
    }
    Ok(data)
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}
