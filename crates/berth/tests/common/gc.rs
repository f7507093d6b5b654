//! Garbage collection from tests: run `berth gc` against a server's data,
//! read the metadata database directly, and compare stored objects with
//! blob rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

use berth_store::{Db, PoolSettings};

use super::Server;

/// What one `berth gc` run reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcCounts {
    pub tag_rows: u64,
    pub manifests: u64,
    pub blob_links: u64,
    pub blobs: u64,
    pub bytes: u64,
    pub objects: u64,
}

impl GcCounts {
    pub fn add(&mut self, other: &GcCounts) {
        self.tag_rows += other.tag_rows;
        self.manifests += other.manifests;
        self.blob_links += other.blob_links;
        self.blobs += other.blobs;
        self.bytes += other.bytes;
        self.objects += other.objects;
    }
}

/// The `berth gc` command for this server's data (as `create_user` runs
/// `berth admin`).
pub fn gc_command(s: &Server) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("gc")
        .arg("--data-dir")
        .arg(s.data_dir.path())
        .arg("--config")
        .arg(s.config_path());
    if let Some(uri) = s.db_uri() {
        cmd.arg("--db-uri").arg(uri);
    }
    cmd.env("RUST_LOG", "error");
    cmd
}

/// Parse `berth gc`'s output.
pub fn parse_report(out: &str) -> GcCounts {
    let mut c = GcCounts::default();
    for line in out.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let value: u64 = value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad gc line {line:?}"));
        match key {
            "tag rows" => c.tag_rows = value,
            "manifests" => c.manifests = value,
            "blob links" => c.blob_links = value,
            "blobs" => c.blobs = value,
            "bytes" => c.bytes = value,
            "objects deleted" => c.objects = value,
            _ => panic!("unexpected gc line {line:?}"),
        }
    }
    c
}

/// Run one full `berth gc` pass; returns what it removed.
pub fn run_gc(s: &Server) -> GcCounts {
    parse_report(&super::run(&mut gc_command(s)))
}

/// The server's metadata database, opened from the test.
pub async fn open_db(s: &Server) -> Db {
    match s.db_uri() {
        Some(uri) => Db::open(uri, PoolSettings { max_connections: 2 }).await.unwrap(),
        None => Db::open_sqlite(s.data_dir.path(), PoolSettings { max_connections: 2 })
            .await
            .unwrap(),
    }
}

/// Run one SQL statement (tests only: e.g. set a namespace's window).
pub async fn execute(db: &Db, sql: &'static str, value: i64, name: &str) -> u64 {
    match db {
        Db::Sqlite { write, .. } => sqlx::query(sql)
            .bind(value)
            .bind(name)
            .execute(write)
            .await
            .unwrap()
            .rows_affected(),
        Db::Postgres(pool) => sqlx::query(sql)
            .bind(value)
            .bind(name)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
    }
}

/// An object key from `blobs/` on (a local path or an S3 key both end so).
fn from_blobs(key: &str) -> String {
    let at = key
        .find("blobs/")
        .unwrap_or_else(|| panic!("not a blob object: {key}"));
    key[at..].to_owned()
}

/// The content-addressed key of `alg:hex`.
pub fn canonical_key(digest: &str) -> String {
    let (alg, hex) = digest.split_once(':').unwrap();
    format!("blobs/{alg}/{}/{hex}", &hex[..2])
}

/// Stored blob objects, as keys from `blobs/`.
pub async fn stored_keys(s: &Server) -> BTreeSet<String> {
    s.stored_blobs().await.iter().map(|k| from_blobs(k)).collect()
}

fn keys(rows: Vec<(String, Option<String>)>) -> BTreeSet<String> {
    rows.into_iter()
        .map(|(digest, location)| location.unwrap_or_else(|| canonical_key(&digest)))
        .collect()
}

/// The objects the blob rows say exist, as keys from `blobs/`.
pub async fn recorded_keys(db: &Db) -> BTreeSet<String> {
    keys(db.blob_locations().await.unwrap())
}

/// The objects queued for deletion, as keys from `blobs/`.
pub async fn queued_keys(db: &Db) -> BTreeSet<String> {
    keys(db.queued_deletion_locations().await.unwrap())
}
