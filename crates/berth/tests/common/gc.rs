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

/// What `berth gc --dry-run` reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcPreview {
    /// What a pass would remove (`objects`: always 0, see `queued`).
    pub removes: GcCounts,
    /// Blob rows and bytes stored.
    pub physical: (u64, u64),
    /// Blob rows and bytes a pass keeps.
    pub referenced: (u64, u64),
    /// Objects already queued for deletion.
    pub queued: u64,
}

/// Run `berth gc --dry-run`.
pub fn preview_gc(s: &Server) -> GcPreview {
    let out = super::run(gc_command(s).arg("--dry-run"));
    let mut p = GcPreview::default();
    let mut removes = String::new();
    for line in out.lines() {
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("bad dry-run line {line:?}"));
        let n = || value.trim().parse::<u64>().unwrap();
        match key {
            "physical blobs" => p.physical.0 = n(),
            "physical bytes" => p.physical.1 = n(),
            "referenced blobs" => p.referenced.0 = n(),
            "referenced bytes" => p.referenced.1 = n(),
            "queued object deletions" => p.queued = n(),
            // A pass's own lines, in its format.
            _ => removes.push_str(&format!("{line}\n")),
        }
    }
    p.removes = parse_report(&removes);
    p
}

/// Run `berth gc --dry-run`, then a pass, and check the dry run told
/// exactly what the pass removed and what it left; returns the pass's
/// report. Only for servers whose sole collector is `berth gc`.
pub fn previewed_gc(s: &Server) -> GcCounts {
    let before = preview_gc(s);
    assert_eq!(
        (
            before.physical.0 - before.removes.blobs,
            before.physical.1 - before.removes.bytes
        ),
        before.referenced,
        "physical = referenced + reclaimable: {before:?}"
    );
    let removed = run_gc(s);
    assert_eq!(
        GcCounts {
            objects: before.removes.blobs + before.queued,
            ..before.removes
        },
        removed,
        "the dry run foretold the pass"
    );
    let after = preview_gc(s);
    assert_eq!(
        after.physical, before.referenced,
        "the pass left what the dry run called referenced"
    );
    assert_eq!(after.queued, 0);
    removed
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
