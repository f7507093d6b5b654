//! Java: archives (`.jar`, `.war`, `.ear`, Jenkins `.hpi`/`.jpi`) and the
//! archives nested in them (`BOOT-INF/lib`, `WEB-INF/lib`), read from
//! memory. Each `META-INF/maven/<group>/<artifact>/pom.properties` names a
//! Maven artifact; an archive without one falls back to its manifest.

use std::io::{Cursor, Read};

use super::DetectError;
use crate::package::{Ecosystem, Package};

/// Archives nested deeper than this are not opened.
const MAX_NESTING: usize = 3;
/// Entries of one archive looked at (a large application has a few
/// thousand classes, far fewer metadata files).
const MAX_ENTRIES: usize = 200_000;
/// Bytes decompressed from one archive, nested ones included: a zip bomb
/// stops here.
const MAX_INFLATED: u64 = 512 << 20;
/// Largest metadata file read.
const MAX_METADATA: u64 = 1 << 20;

/// Whether `path` names a Java archive.
pub(crate) fn is_archive_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".jar", ".war", ".ear", ".hpi", ".jpi"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Maven artifacts in an archive and the archives nested in it.
pub fn parse_archive(data: &[u8]) -> Result<Vec<Package>, DetectError> {
    let mut budget = MAX_INFLATED;
    let mut out = Vec::new();
    scan(data, 0, &mut budget, &mut out)?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn malformed(e: impl std::fmt::Display) -> DetectError {
    DetectError::Malformed(format!("java archive: {e}"))
}

fn read_entry(entry: &mut impl Read, limit: u64, budget: &mut u64) -> Result<Vec<u8>, DetectError> {
    let mut data = Vec::new();
    entry
        .take(limit.min(*budget) + 1)
        .read_to_end(&mut data)
        .map_err(malformed)?;
    if data.len() as u64 > limit.min(*budget) {
        return Err(malformed("entry exceeds the decompression limit"));
    }
    *budget -= data.len() as u64;
    Ok(data)
}

fn scan(data: &[u8], depth: usize, budget: &mut u64, out: &mut Vec<Package>) -> Result<(), DetectError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(data)).map_err(malformed)?;
    if zip.len() > MAX_ENTRIES {
        return Err(malformed("too many entries"));
    }
    let mut found_pom = false;
    let mut manifest = None;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(malformed)?;
        let name = entry.name().map_err(malformed)?.into_owned();
        if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
            let text = read_entry(&mut entry, MAX_METADATA, budget)?;
            if let Some(p) = pom_properties(&String::from_utf8_lossy(&text)) {
                out.push(p);
                found_pom = true;
            }
        } else if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
            manifest = Some(read_entry(&mut entry, MAX_METADATA, budget)?);
        } else if depth < MAX_NESTING && is_archive_path(&name) && !entry.is_dir() {
            let inner = read_entry(&mut entry, *budget, budget)?;
            // A nested archive that does not open is skipped, as the JVM
            // would fail on it too; the outer archive's results stand.
            let _ = scan(&inner, depth + 1, budget, out);
        }
    }
    if !found_pom
        && let Some(m) = manifest
        && let Some(p) = from_manifest(&String::from_utf8_lossy(&m))
    {
        out.push(p);
    }
    Ok(())
}

fn maven(group: Option<&str>, artifact: &str, version: &str) -> Package {
    Package {
        ecosystem: Ecosystem::Maven,
        name: match group {
            Some(g) => format!("{g}:{artifact}"),
            None => artifact.to_owned(),
        },
        version: version.to_owned(),
        arch: None,
        source: None,
    }
}

/// `groupId`, `artifactId`, `version` from a Java properties file.
fn pom_properties(text: &str) -> Option<Package> {
    let mut group = None;
    let mut artifact = None;
    let mut version = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            continue;
        };
        match k.trim() {
            "groupId" => group = Some(v.trim()),
            "artifactId" => artifact = Some(v.trim()),
            "version" => version = Some(v.trim()),
            _ => {}
        }
    }
    Some(maven(group, artifact?, version?))
}

/// The main section of `MANIFEST.MF`: an OSGi bundle's symbolic name and
/// version, else the implementation title and version.
fn from_manifest(text: &str) -> Option<Package> {
    // The main section ends at the first blank line; a line starting with
    // one space continues the previous value with no separator.
    let mut main: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            break;
        }
        if let Some(more) = line.strip_prefix(' ') {
            if let Some((_, v)) = main.last_mut() {
                v.push_str(more);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            main.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let get = |key: &str| main.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let pick = |name: &str, version: &str| Some((get(name)?, get(version)?));
    let (name, version) = pick("Bundle-SymbolicName", "Bundle-Version")
        .or_else(|| pick("Implementation-Title", "Implementation-Version"))?;
    // `Bundle-SymbolicName: org.x.y;singleton:=true`.
    let name = name.split(';').next().unwrap_or(&name).trim().to_owned();
    Some(maven(None, &name, version.trim()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn jar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_pom_properties_in_nested_archives() {
        let inner = jar(&[(
            "META-INF/maven/org.slf4j/slf4j-api/pom.properties",
            b"#Generated\nversion=2.0.9\ngroupId=org.slf4j\nartifactId=slf4j-api\n",
        )]);
        let outer = jar(&[
            (
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\nImplementation-Title: app\n",
            ),
            (
                "META-INF/maven/com.example/app/pom.properties",
                b"groupId=com.example\nartifactId=app\nversion=1.0\n",
            ),
            ("BOOT-INF/lib/slf4j-api-2.0.9.jar", &inner),
        ]);
        let p = parse_archive(&outer).unwrap();
        let names: Vec<_> = p.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect();
        assert_eq!(
            names,
            vec![("com.example:app", "1.0"), ("org.slf4j:slf4j-api", "2.0.9")]
        );
    }

    #[test]
    fn falls_back_to_the_manifest() {
        let j = jar(&[(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\r\nBundle-SymbolicName: org.example.bun\r\n dle;singleton:=true\r\nBundle-Version: 3.1.0\r\n\r\nName: x\r\n",
        )]);
        let p = parse_archive(&j).unwrap();
        assert_eq!(
            (p[0].name.as_str(), p[0].version.as_str()),
            ("org.example.bundle", "3.1.0")
        );
    }

    #[test]
    fn refuses_garbage_and_bounds_nesting() {
        assert!(parse_archive(b"PK\x03\x04 not really").is_err());
        let mut nested = jar(&[(
            "META-INF/maven/g/a/pom.properties",
            b"groupId=g\nartifactId=a\nversion=1\n",
        )]);
        for _ in 0..6 {
            nested = jar(&[("lib/x.jar", &nested)]);
        }
        assert!(parse_archive(&nested).unwrap().is_empty());
    }
}
