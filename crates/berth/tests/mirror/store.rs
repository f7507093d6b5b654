//! What a mirror test reads of the server's database, to search it for
//! secrets in clear.
#![allow(dead_code, clippy::unwrap_used)]

use crate::common::Server;

/// Everything the database holds, as bytes: the SQLite files, or a
/// PostgreSQL dump.
pub fn database_bytes(s: &Server) -> Vec<u8> {
    match s.db_uri() {
        Some(uri) => crate::common::run(std::process::Command::new("pg_dump").arg(uri)).into_bytes(),
        None => {
            let mut all = Vec::new();
            for f in crate::common::files_under(s.data_dir.path()) {
                let name = f.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with("metadata.db") {
                    all.extend(std::fs::read(&f).unwrap());
                }
            }
            assert!(!all.is_empty(), "no database file found");
            all
        }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
