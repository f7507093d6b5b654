//! RPM: the package database (`rpmdb.sqlite`, rpm 4.16+ default) of
//! `/var/lib/rpm` or `/usr/lib/sysimage/rpm`, read from memory, never from
//! a file on disk; each row holds one header blob.

pub(crate) mod header;

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

/// Whether `path` is an rpm SQLite database.
pub(crate) fn is_sqlite_db(path: &str) -> bool {
    path == "var/lib/rpm/rpmdb.sqlite" || path == "usr/lib/sysimage/rpm/rpmdb.sqlite"
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
    let (mut out, mut bad) = (Vec::new(), 0usize);
    while let Some(row) = rows.next().map_err(sql)? {
        let blob: Vec<u8> = row.get(0).map_err(sql)?;
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
