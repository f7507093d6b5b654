//! The PostgreSQL side of the harness: with `TEST_DB=postgres`, every
//! server (or cluster) gets a database of its own on the server named by
//! `TEST_PG_URI`, dropped again when the test ends.
#![allow(clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;

/// Which metadata database the suite runs against.
pub fn pg_base_uri() -> Option<String> {
    match std::env::var("TEST_DB").as_deref() {
        Ok("postgres") => Some(
            std::env::var("TEST_PG_URI")
                .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:55432".to_owned()),
        ),
        _ => None,
    }
}

/// A PostgreSQL database made for one server (or one cluster's servers),
/// dropped with the last server using it, also when the test panics.
pub struct PgDatabase {
    base: String,
    name: String,
    uri: String,
}

impl PgDatabase {
    /// Its connection URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE ends the sessions a killed server or a test's own pool may
        // still hold. A failure only leaves the database behind.
        let dropped = Command::new("psql")
            .args([
                &format!("{}/postgres", self.base),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
        match dropped {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "cannot drop test database {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot drop test database {}: {e}", self.name),
        }
    }
}

/// Create an empty PostgreSQL database for one server (or one cluster).
pub fn create_pg_database(base: &str) -> Arc<PgDatabase> {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new("psql")
        .args([
            &format!("{base}/postgres"),
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql must be installed to run the PostgreSQL suite");
    assert!(
        out.status.success(),
        "create database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Arc::new(PgDatabase {
        base: base.to_owned(),
        uri: format!("{base}/{name}"),
        name,
    })
}
