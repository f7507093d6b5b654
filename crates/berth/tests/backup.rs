//! Backup and restore. The embedded default: a backup taken while several
//! clients push distinct images (and delete some) for 60 seconds, with
//! garbage collection running every second on a zero time-machine window,
//! restores into a fresh directory whose server serves every tag
//! acknowledged before the backup began, completely, also after `berth gc`
//! on it. A garbage collection hold keeps objects while a backup runs.
//! Restore refuses a non-empty target, a corrupt blob and a backup without
//! its manifest. With PostgreSQL and S3, the README's procedure
//! (`pg_dump`, a bucket copy under `berth backup -- ...`, `pg_restore`,
//! `berth gc`) is run as written.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::gc::{gc_command, open_db, parse_report, recorded_keys, stored_keys};
use common::storage::{TestStorage, on_s3};
use common::{
    OCI_MANIFEST, Server, berth_bin, image_manifest, pg_base_uri, random_bytes, run, sha256, unique_seed,
};

/// How long the clients push.
const LOAD: Duration = Duration::from_secs(60);
/// When the backup starts, after the clients began.
const BACKUP_AT: Duration = Duration::from_secs(25);
/// Pushing clients.
const CLIENTS: usize = 4;
/// The user whose namespace the clients push into.
const USER: &str = "alice";
const PASSWORD: &str = "alice-backup-password";
/// Garbage collection competes: every second, nothing kept for the time
/// machine, unreferenced uploads kept 10 seconds.
const GC_YAML: &str =
    "DEFAULT_TAG_EXPIRATION: 0s\nPUSH_TEMP_TAG_EXPIRATION_SEC: 10\nGARBAGE_COLLECTION_FREQUENCY: 1\n";

/// An image a client pushed and the registry acknowledged.
#[derive(Clone)]
struct Acked {
    repo: String,
    tag: String,
    digest: String,
    /// Config and layer digests.
    blobs: Vec<String>,
    at: Instant,
}

fn embedded_only() -> bool {
    if pg_base_uri().is_some() || on_s3() {
        eprintln!("skipped: berth backup --to copies the embedded default (SQLite and a directory)");
        return false;
    }
    true
}

fn berth(args: &[&str]) -> Command {
    let mut cmd = Command::new(berth_bin());
    cmd.args(args).env("RUST_LOG", "error");
    cmd
}

fn backup_command(s: &Server, to: &Path) -> Command {
    let mut cmd = berth(&["backup"]);
    cmd.arg("--data-dir")
        .arg(s.data_dir.path())
        .arg("--config")
        .arg(s.config_path())
        .arg("--to")
        .arg(to);
    cmd
}

fn restore(from: &Path, to: &Path) -> Output {
    berth(&["restore"])
        .arg("--from")
        .arg(from)
        .arg("--data-dir")
        .arg(to)
        .output()
        .unwrap()
}

/// Assert a command failed, saying `message` on standard error.
fn assert_refused(out: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected a failure mentioning {message:?}");
    assert!(stderr.contains(message), "expected {message:?} in: {stderr}");
}

/// Push one image of a config and two random layers, tagged `tag`;
/// `None` if any step was refused (garbage collection may take an
/// unreferenced upload of a slow push).
async fn push(s: &Server, client: &reqwest::Client, repo: &str, tag: &str) -> Option<Acked> {
    let seed = unique_seed();
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#).into_bytes();
    let layers = [random_bytes(2000, seed), random_bytes(70_000, seed + 1)];
    let mut blobs = Vec::new();
    for bytes in std::iter::once(&config).chain(layers.iter()) {
        let digest = sha256(bytes);
        let r = client
            .post(s.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(bytes.clone())
            .send()
            .await
            .ok()?;
        if r.status() != 201 {
            return None;
        }
        blobs.push(digest);
    }
    let descs: Vec<(String, usize)> = blobs[1..]
        .iter()
        .cloned()
        .zip(layers.iter().map(Vec::len))
        .collect();
    let manifest = image_manifest(&blobs[0], config.len(), &descs, None);
    let r = client
        .put(s.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .ok()?;
    (r.status() == 201).then(|| Acked {
        repo: repo.to_owned(),
        tag: tag.to_owned(),
        digest: sha256(&manifest),
        blobs,
        at: Instant::now(),
    })
}

/// Pull `image` by tag from `s` as its owner and check the manifest and
/// every blob.
async fn pull_complete(s: &Server, client: &reqwest::Client, image: &Acked) {
    let r = client
        .get(s.url(&format!("/v2/{}/manifests/{}", image.repo, image.tag)))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}:{} after restore", image.repo, image.tag);
    let body = r.bytes().await.unwrap();
    assert_eq!(sha256(&body), image.digest, "{}:{}", image.repo, image.tag);
    for digest in &image.blobs {
        let r = client
            .get(s.url(&format!("/v2/{}/blobs/{digest}", image.repo)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "blob {digest} of {}:{}", image.repo, image.tag);
        assert_eq!(&sha256(&r.bytes().await.unwrap()), digest);
    }
}

/// Every blob row of the server's database has its object.
async fn every_row_has_its_object(s: &Server) {
    let db = open_db(s).await;
    let recorded = recorded_keys(&db).await;
    db.close().await;
    let stored = stored_keys(s).await;
    let missing: Vec<_> = recorded.difference(&stored).collect();
    assert!(missing.is_empty(), "blob rows without objects: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_during_pushes_and_gc_restores_every_acknowledged_tag() {
    if !embedded_only() {
        return;
    }
    let s = Arc::new(Server::start_with_config(GC_YAML).await);
    s.create_user(USER, PASSWORD, false);
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let deleted: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let start = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (s, acked, deleted) = (s.clone(), acked.clone(), deleted.clone());
        clients.push(tokio::spawn(async move {
            let client = s.client_as(USER, PASSWORD);
            let repo = format!("{USER}/app{}", c % 2);
            let mut n = 0;
            while start.elapsed() < LOAD {
                n += 1;
                let tag = format!("c{c}-{n}");
                if let Some(image) = push(&s, &client, &repo, &tag).await {
                    acked.lock().unwrap().push(image);
                }
                // Every third tag goes again: its image becomes garbage.
                if n % 3 == 0 {
                    let r = client
                        .delete(s.url(&format!("/v2/{repo}/manifests/{tag}")))
                        .send()
                        .await
                        .unwrap();
                    deleted.lock().unwrap().push((repo.clone(), tag));
                    assert!(r.status() == 202 || r.status() == 404, "delete: {}", r.status());
                }
            }
        }));
    }
    tokio::time::sleep(BACKUP_AT).await;
    let backup_dir = tempfile::tempdir().unwrap();
    let to = backup_dir.path().join("backup");
    let began = Instant::now();
    let out = tokio::task::spawn_blocking({
        let mut cmd = backup_command(&s, &to);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "backup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.starts_with("backed up "), "{stdout}");
    for c in clients {
        c.await.unwrap();
    }
    let deleted = deleted.lock().unwrap().clone();
    let expected: Vec<Acked> = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.at < began && !deleted.contains(&(a.repo.clone(), a.tag.clone())))
        .cloned()
        .collect();
    let total = acked.lock().unwrap().len();
    assert!(
        expected.len() >= 10,
        "only {} of {total} images acknowledged before the backup",
        expected.len()
    );
    let collected = {
        let mut gc = gc_command(&s);
        parse_report(&run(&mut gc))
    };
    eprintln!(
        "{total} images pushed, {} deleted, {} expected in the backup; {stdout}; a gc pass afterwards removed {} objects",
        deleted.len(),
        expected.len(),
        collected.objects
    );

    // Restore into an empty directory and serve it.
    let data = tempfile::tempdir().unwrap();
    let out = restore(&to, data.path());
    assert!(
        out.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let storage = TestStorage::for_server(data.path());
    let restored = Server::start_member(data, None, storage, GC_YAML).await;
    every_row_has_its_object(&restored).await;
    assert!(restored.staged_uploads().await.is_empty());
    let owner = restored.client_as(USER, PASSWORD);
    for image in &expected {
        pull_complete(&restored, &owner, image).await;
    }
    // No upload of the running registry survives as a live session.
    let db = open_db(&restored).await;
    assert!(db.snapshot().await.unwrap().blobs.len() >= expected.len() * 3);
    db.close().await;

    // Garbage collection on the restored data removes nothing referenced.
    let report = parse_report(&run(&mut gc_command(&restored)));
    eprintln!("berth gc on the restored data: {report:?}");
    every_row_has_its_object(&restored).await;
    for image in &expected {
        pull_complete(&restored, &owner, image).await;
    }
}

#[tokio::test]
async fn gc_deletes_no_object_while_a_backup_holds_deletions() {
    let s = Server::start_with_config(
        "DEFAULT_TAG_EXPIRATION: 0s\nPUSH_TEMP_TAG_EXPIRATION_SEC: 0\nFEATURE_GARBAGE_COLLECTION: false\n",
    )
    .await;
    let (_, digest) = s.push_image("library/held", "v1", 2).await;
    let r = s.delete(&format!("/v2/library/held/manifests/{digest}")).await;
    assert_eq!(r.status(), 202);
    let before = stored_keys(&s).await;
    assert_eq!(before.len(), 3);
    // `berth gc` inside `berth backup -- ...`: rows go, objects stay.
    let gc = gc_command(&s);
    let mut held = berth(&["backup"]);
    held.arg("--data-dir")
        .arg(s.data_dir.path())
        .arg("--config")
        .arg(s.config_path());
    if let Some(uri) = s.db_uri() {
        held.arg("--db-uri").arg(uri);
    }
    held.arg("--").arg(gc.get_program());
    held.args(gc.get_args());
    let inside = parse_report(&run(&mut held));
    assert_eq!(inside.blobs, 3, "{inside:?}");
    assert_eq!(inside.objects, 0, "{inside:?}");
    assert_eq!(stored_keys(&s).await, before);
    // Released: the next pass deletes them.
    let after = parse_report(&run(&mut gc_command(&s)));
    assert_eq!(after.objects, 3, "{after:?}");
    assert!(stored_keys(&s).await.is_empty());
    // A failing command fails the backup.
    let mut failing = berth(&["backup"]);
    failing
        .arg("--data-dir")
        .arg(s.data_dir.path())
        .arg("--config")
        .arg(s.config_path());
    if let Some(uri) = s.db_uri() {
        failing.arg("--db-uri").arg(uri);
    }
    failing.args(["--", "sh", "-c", "exit 3"]);
    assert_refused(&failing.output().unwrap(), "sh failed");
}

#[tokio::test]
async fn restore_refuses_a_non_empty_target_a_corrupt_blob_and_a_missing_manifest() {
    if !embedded_only() {
        return;
    }
    let s = Server::start().await;
    s.push_image("library/app", "v1", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup");
    run(&mut backup_command(&s, &backup));
    // A backup needs a new or empty directory too.
    assert_refused(&backup_command(&s, &backup).output().unwrap(), "it is not empty");

    // A non-empty target.
    let busy = dir.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep"), b"x").unwrap();
    assert_refused(&restore(&backup, &busy), "it is not empty");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    // A corrupt blob: same size, other bytes.
    let corrupt = dir.path().join("corrupt");
    run(Command::new("cp").arg("-a").arg(&backup).arg(&corrupt));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corrupt.join("berth-backup.json")).unwrap()).unwrap();
    let digest = manifest["blobs"][1]["digest"].as_str().unwrap().to_owned();
    let (_, hex) = digest.split_once(':').unwrap();
    let blob = corrupt.join(format!("blobs/sha256/{}/{hex}", &hex[..2]));
    let len = std::fs::metadata(&blob).unwrap().len();
    std::fs::write(&blob, vec![b'x'; len as usize]).unwrap();
    let target = dir.path().join("from-corrupt");
    let out = restore(&corrupt, &target);
    assert_refused(&out, &format!("blob {digest} is corrupt"));
    // Nothing is left that looks like a data directory.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    assert_eq!(left_sorted, ["backup", "busy", "corrupt"], "{left:?}");

    // A missing manifest.
    let unfinished = dir.path().join("unfinished");
    run(Command::new("cp").arg("-a").arg(&backup).arg(&unfinished));
    std::fs::remove_file(unfinished.join("berth-backup.json")).unwrap();
    assert_refused(&restore(&unfinished, &target), "not a complete Berth backup");
    assert!(!target.exists());

    // The intact backup restores, and its blob rows agree with the manifest.
    let out = restore(&backup, &target);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let counts: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(manifest["counts"].clone()).unwrap();
    assert_eq!(counts["blobs"], 3);
    assert_eq!(counts["tags"], 1);
}

/// The README's PostgreSQL + S3 procedure, as a shell script: `pg_dump`
/// (without upload sessions, pins and holds) and a bucket copy with the
/// AWS CLI under `berth backup -- ...`; then `pg_restore` into a new
/// database, the copy back into a new prefix, and `berth gc`.
const PG_S3_BACKUP: &str = r#"berth backup --config config.yaml -- sh -c '
  pg_dump --format=custom --exclude-table-data=uploads --exclude-table-data=blob_pins \
    --exclude-table-data=gc_holds --file="$BACKUP/berth.pgdump" "$DB_URI" &&
  aws s3 sync --endpoint-url "$S3_ENDPOINT" "s3://$BUCKET/$PREFIX" "$BACKUP/bucket"'
"#;
const PG_S3_RESTORE: &str = r#"pg_restore --no-owner --exit-on-error --dbname="$NEW_DB_URI" "$BACKUP/berth.pgdump"
aws s3 sync --endpoint-url "$S3_ENDPOINT" "$BACKUP/bucket" "s3://$BUCKET/$NEW_PREFIX"
berth gc --config new-config.yaml
"#;

/// Run a procedure with `sh -e` in `dir`, `berth` on the PATH.
fn procedure(script: &str, dir: &Path, vars: &[(&str, &str)]) -> String {
    let bin_dir = berth_bin().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-ec", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("RUST_LOG", "error")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        // s3s-fs takes plain payloads; newer AWS CLIs add trailing checksums.
        .env("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
        .env("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_s3_backup_procedure_restores_every_tag() {
    let (Some(base), true) = (pg_base_uri(), on_s3()) else {
        eprintln!("skipped: the PostgreSQL + S3 procedure runs with TEST_DB=postgres TEST_STORAGE=s3");
        return;
    };
    let s = Server::start_with_config("DEFAULT_TAG_EXPIRATION: 0s\nPUSH_TEMP_TAG_EXPIRATION_SEC: 0\n").await;
    let mut images = Vec::new();
    for tag in ["v1", "v2", "v3"] {
        let (_, digest) = s.push_image("admin/app", tag, 2).await;
        images.push((tag, digest));
    }
    // Garbage the backup must not keep the copy from restoring around.
    let (_, gone) = s.push_image("admin/app", "gone", 2).await;
    assert_eq!(
        s.delete(&format!("/v2/admin/app/manifests/{gone}"))
            .await
            .status(),
        202
    );
    // An upload in progress is not part of the backup.
    let upload = s.start_upload("admin/app").await;
    assert_eq!(
        s.patch_chunk(&upload, 0, &random_bytes(5000, unique_seed()))
            .await
            .status(),
        202
    );

    let [endpoint, bucket, key, secret, prefix] = s.storage.s3_location().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::copy(s.config_path(), work.path().join("config.yaml")).unwrap();
    let backup = work.path().join("backup");
    std::fs::create_dir(&backup).unwrap();
    let db_uri = s.db_uri().unwrap().to_owned();
    let backup_dir = backup.display().to_string();
    let mut vars = vec![
        ("BACKUP", backup_dir.as_str()),
        ("DB_URI", db_uri.as_str()),
        ("S3_ENDPOINT", endpoint.as_str()),
        ("BUCKET", bucket.as_str()),
        ("PREFIX", prefix.as_str()),
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    // The configuration names the database (the harness passes it as a flag).
    let mut config = std::fs::read_to_string(work.path().join("config.yaml")).unwrap();
    config.push_str(&format!("DB_URI: {db_uri}\n"));
    std::fs::write(work.path().join("config.yaml"), &config).unwrap();
    procedure(PG_S3_BACKUP, work.path(), &vars);

    // Restore into a new database and a new prefix of the bucket.
    let new_db = common::create_pg_database(&base);
    let new_storage = TestStorage::for_server(work.path());
    let new_prefix = new_storage.s3_location().unwrap()[4].clone();
    std::fs::write(
        work.path().join("new-config.yaml"),
        format!("{}DB_URI: {}\n", new_storage.config_yaml(), new_db.uri()),
    )
    .unwrap();
    vars.push(("NEW_DB_URI", new_db.uri()));
    vars.push(("NEW_PREFIX", new_prefix.as_str()));
    let out = procedure(PG_S3_RESTORE, work.path(), &vars);
    // `berth gc`'s report is the last six lines, after the AWS CLI's.
    let lines: Vec<&str> = out.lines().collect();
    let report = parse_report(&lines[lines.len().saturating_sub(6)..].join("\n"));
    eprintln!("berth gc after the restore: {report:?}");

    let data = tempfile::tempdir().unwrap();
    let restored = Server::start_member(data, Some(new_db), new_storage, "").await;
    for (tag, digest) in &images {
        let r = restored
            .client
            .get(restored.url(&format!("/v2/admin/app/manifests/{tag}")))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "admin/app:{tag}");
        let body = r.bytes().await.unwrap();
        assert_eq!(&sha256(&body), digest);
        let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let blobs = std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap());
        for blob in blobs {
            let digest = blob["digest"].as_str().unwrap();
            let r = restored.get(&format!("/v2/admin/app/blobs/{digest}")).await;
            assert_eq!(r.status(), 200, "{digest}");
            assert_eq!(sha256(&r.bytes().await.unwrap()), digest);
        }
    }
    // The upload in progress did not come along.
    assert_eq!(restored.get(&upload).await.status(), 404);
    every_row_has_its_object(&restored).await;
}
