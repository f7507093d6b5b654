//! RPM: the package database of `/var/lib/rpm` or `/usr/lib/sysimage/rpm`
//! in each of rpm's backends: SQLite (`rpmdb.sqlite`, rpm 4.16+),
//! BerkeleyDB (`Packages`, older rpm) and NDB (`Packages.db`, SUSE). All are
//! read from memory, never from a file on disk; each record is one header
//! blob.

mod bdb;
pub(crate) mod header;
mod ndb;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use rusqlite::{Connection, OpenFlags};

use super::DetectError;
use crate::package::Package;

/// Most rows read from one database (a real one holds a few thousand).
const MAX_ROWS: usize = 200_000;
/// SQLite virtual-machine steps allowed, in units of 1000: bounds any
/// query plan a hostile database could force, whatever its schema says.
const MAX_KILO_STEPS: u32 = 200_000;

/// Whether `path` is an rpm package database (any backend).
pub(crate) fn is_database(path: &str) -> bool {
    let Some(name) = path
        .strip_prefix("var/lib/rpm/")
        .or_else(|| path.strip_prefix("usr/lib/sysimage/rpm/"))
    else {
        return false;
    };
    matches!(name, "rpmdb.sqlite" | "Packages" | "Packages.db")
}

/// Packages of an rpm database file, whichever backend wrote it (told
/// apart by content, not name).
pub fn parse_database(data: &[u8]) -> Result<Vec<Package>, DetectError> {
    if ndb::is_ndb(data) {
        from_blobs(ndb::values(data)?)
    } else if bdb::is_hash_db(data) {
        from_blobs(bdb::values(data)?)
    } else {
        parse_sqlite(data)
    }
}

/// Packages of header blobs; a few unreadable ones are skipped, all of
/// them unreadable fails the file.
fn from_blobs(blobs: Vec<Vec<u8>>) -> Result<Vec<Package>, DetectError> {
    let (mut out, mut bad) = (Vec::new(), 0usize);
    for blob in blobs {
        match header::package(&blob) {
            Ok(Some(p)) => out.push(p),
            Ok(None) => {}
            Err(_) => bad += 1,
        }
    }
    if bad > 0 && out.is_empty() {
        return Err(DetectError::Malformed(format!(
            "rpm database: {bad} unreadable headers"
        )));
    }
    Ok(out)
}

fn sql(e: rusqlite::Error) -> DetectError {
    DetectError::Malformed(format!("rpm database: {e}"))
}

/// Packages of an `rpmdb.sqlite` file given as bytes.
pub fn parse_sqlite(data: &[u8]) -> Result<Vec<Package>, DetectError> {
    let mut conn = Connection::open_with_flags(":memory:", OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql)?;
    let steps = Arc::new(AtomicU32::new(0));
    let counter = steps.clone();
    conn.progress_handler(
        1000,
        Some(move || counter.fetch_add(1, Ordering::Relaxed) > MAX_KILO_STEPS),
    )
    .map_err(sql)?;
    // rpm keeps its database in WAL mode, which SQLite cannot open from
    // memory; bytes 18 and 19 of the header select the journal mode, and
    // the legacy mode reads the same (checkpointed) pages.
    let reader: Box<dyn Read> = if data.len() >= 20 && data[18] == 2 && data[19] == 2 {
        Box::new(data[..18].chain(&[1u8, 1][..]).chain(&data[20..]))
    } else {
        Box::new(data)
    };
    conn.deserialize_read_exact("main", reader, data.len(), true)
        .map_err(sql)?;
    // Only a real table named Packages: a view could compute rows forever.
    let is_table: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'Packages'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql)?
        == 1;
    if !is_table {
        return Err(DetectError::Malformed(
            "rpm database has no Packages table".into(),
        ));
    }
    let mut stmt = conn
        .prepare(&format!("SELECT blob FROM Packages LIMIT {MAX_ROWS}"))
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut blobs = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        blobs.push(row.get::<_, Vec<u8>>(0).map_err(sql)?);
    }
    from_blobs(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An rpmdb.sqlite as rpm creates it, serialized to bytes.
    fn database(blobs: &[Vec<u8>]) -> Vec<u8> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
        )
        .unwrap();
        for b in blobs {
            conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [b])
                .unwrap();
        }
        conn.serialize("main").unwrap().to_vec()
    }

    #[test]
    fn reads_headers_from_a_database_in_memory() {
        let db = database(&[header::tests::openssl(), vec![1, 2, 3]]);
        let p = parse_sqlite(&db).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].version, "1:3.0.7-27.el9");
    }

    #[test]
    fn reads_ndb_slots_and_blobs() {
        let blob = header::tests::openssl();
        let mut db = vec![0u8; 4096];
        db[..4].copy_from_slice(b"RpmP");
        db[12..16].copy_from_slice(&1u32.to_le_bytes());
        for slot in 0..(4096 / 16 - 2) {
            db[32 + slot * 16..36 + slot * 16].copy_from_slice(b"Slot");
        }
        // Slot 0 -> package 7 at block 256 (byte 4096).
        db[36..40].copy_from_slice(&7u32.to_le_bytes());
        db[40..44].copy_from_slice(&256u32.to_le_bytes());
        let mut head = b"BlbS".to_vec();
        head.extend_from_slice(&7u32.to_le_bytes());
        head.extend_from_slice(&1u32.to_le_bytes());
        head.extend_from_slice(&(blob.len() as u32).to_le_bytes());
        db.extend(head);
        db.extend(&blob);
        let p = parse_database(&db).unwrap();
        assert_eq!(p[0].name, "openssl-libs");
        db[40..44].copy_from_slice(&9999u32.to_le_bytes());
        assert!(parse_database(&db).is_err());
        assert!(is_database("usr/lib/sysimage/rpm/Packages.db"));
        assert!(is_database("var/lib/rpm/Packages"));
        assert!(!is_database("var/lib/rpm/Index.db"));
    }

    #[test]
    fn refuses_what_is_not_an_rpm_database() {
        assert!(parse_sqlite(b"").is_err());
        assert!(parse_sqlite(b"SQLite format 3\0garbage").is_err());
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x AS blob FROM c;",
        )
        .unwrap();
        let view = conn.serialize("main").unwrap().to_vec();
        assert!(parse_sqlite(&view).is_err());
        assert!(parse_sqlite(&database(&[vec![0; 8]])).is_err());
    }
}
