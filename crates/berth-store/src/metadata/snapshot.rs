//! Copies of the database (backups): a consistent copy of the embedded
//! database taken while servers write to it, the blobs and counts such a
//! copy records, and forgetting, in a restored copy, the state that
//! belonged to the instances that wrote it rather than to the registry's
//! content.

use std::path::Path;
use std::time::Duration;

use crate::{Db, StoreError, on_db};

/// The embedded database's file name in a data directory.
pub const SQLITE_FILE: &str = "metadata.db";

/// Every blob row, in digest order.
const BLOBS_SQL: &str = "SELECT digest, location, size FROM blobs ORDER BY digest";

/// Repositories, manifests, live tags, accounts.
const COUNTS_SQL: &str = "SELECT (SELECT COUNT(*) FROM repositories), (SELECT COUNT(*) FROM manifests), \
     (SELECT COUNT(*) FROM tags WHERE end_ms IS NULL), (SELECT COUNT(*) FROM accounts)";

/// A blob row as a backup copies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotBlob {
    /// Its digest.
    pub digest: String,
    /// Its object key when not the digest's content-addressed key.
    pub location: Option<String>,
    /// Its size in bytes.
    pub size: i64,
}

/// How much registry content a database holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContentCounts {
    /// Repositories.
    pub repositories: i64,
    /// Manifests.
    pub manifests: i64,
    /// Live tags.
    pub tags: i64,
    /// Accounts (users, organizations, robots).
    pub accounts: i64,
}

/// What a copy of the database records.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every blob row.
    pub blobs: Vec<SnapshotBlob>,
    /// Content counts.
    pub counts: ContentCounts,
}

/// Copy the SQLite database at `source` to a new file `target`, as of one
/// moment, while other connections (other processes) keep writing, and
/// read what the copy records.
///
/// All pages are copied in one step, i.e. within one read transaction: in
/// WAL mode that never blocks writers, and no write can restart the copy.
/// Blocking; run it off the async runtime.
pub fn copy_sqlite_online(source: &Path, target: &Path) -> Result<Snapshot, StoreError> {
    use rusqlite::{Connection, OpenFlags};
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(Duration::from_secs(30))?;
    let mut dst = Connection::open_with_flags(
        target,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    {
        use rusqlite::backup::{Backup, StepResult};
        let backup = Backup::new(&src, &mut dst)?;
        // -1: every page in this step; busy or locked only delays it.
        let mut waits = 0;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked if waits < 600 => {
                    waits += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => return Err(StoreError::Conflict("the database stayed busy; try again".into())),
            }
        }
    }
    drop(src);
    // A self-contained file: no WAL beside it, checked before it counts.
    dst.pragma_update(None, "journal_mode", "DELETE")?;
    let verdict: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt(format!(
            "the database copy fails its check: {verdict}"
        )));
    }
    let blobs = dst
        .prepare(BLOBS_SQL)?
        .query_map([], |r| {
            Ok(SnapshotBlob {
                digest: r.get(0)?,
                location: r.get(1)?,
                size: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let counts = dst.query_row(COUNTS_SQL, [], |r| {
        Ok(ContentCounts {
            repositories: r.get(0)?,
            manifests: r.get(1)?,
            tags: r.get(2)?,
            accounts: r.get(3)?,
        })
    })?;
    dst.close().map_err(|(_, e)| e)?;
    std::fs::File::open(target)?.sync_all()?;
    Ok(Snapshot { blobs, counts })
}

impl Db {
    /// What this database records: its blob rows and content counts.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        on_db!(self.reader(), pool => {
            let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(BLOBS_SQL).fetch_all(pool).await?;
            let (repositories, manifests, tags, accounts): (i64, i64, i64, i64) =
                sqlx::query_as(COUNTS_SQL).fetch_one(pool).await?;
            Ok(Snapshot {
                blobs: rows
                    .into_iter()
                    .map(|(digest, location, size)| SnapshotBlob { digest, location, size })
                    .collect(),
                counts: ContentCounts { repositories, manifests, tags, accounts },
            })
        })
    }

    /// Forget what only the instances that wrote this copy could finish:
    /// upload sessions (their staged bytes are not copied), blob pins,
    /// queued object deletions (their objects are not copied either) and
    /// holds. Console sessions go too: one signed out after the copy was
    /// made must not come back. Blob rows are pointed at their content-addressed keys, where
    /// a restore puts every object.
    pub async fn forget_instance_state(&self) -> Result<(), StoreError> {
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            for sql in [
                "DELETE FROM uploads",
                "DELETE FROM blob_pins",
                "DELETE FROM blob_deletions",
                "DELETE FROM gc_holds",
                "DELETE FROM web_sessions",
                "UPDATE blobs SET location = NULL WHERE location IS NOT NULL",
            ] {
                sqlx::query(sql).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_what_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.db");
        let writer = rusqlite::Connection::open(&source).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer
            .execute_batch(
                "CREATE TABLE blobs (digest TEXT, location TEXT, size BIGINT); \
                 CREATE TABLE repositories (id INTEGER); CREATE TABLE manifests (id INTEGER); \
                 CREATE TABLE tags (end_ms BIGINT); CREATE TABLE accounts (id INTEGER); \
                 INSERT INTO blobs VALUES ('sha256:b', NULL, 2), ('sha256:a', 'x', 1); \
                 INSERT INTO tags VALUES (NULL), (5);",
            )
            .unwrap();
        let target = dir.path().join("b.db");
        let snapshot = copy_sqlite_online(&source, &target).unwrap();
        assert_eq!(snapshot.blobs.len(), 2);
        assert_eq!(snapshot.blobs[0].digest, "sha256:a");
        assert_eq!(snapshot.blobs[0].location.as_deref(), Some("x"));
        assert_eq!(snapshot.counts.tags, 1);
        let copy = rusqlite::Connection::open(&target).unwrap();
        let n: i64 = copy
            .query_row("SELECT SUM(size) FROM blobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
        assert!(copy_sqlite_online(&dir.path().join("missing.db"), &dir.path().join("c.db")).is_err());
    }
}
