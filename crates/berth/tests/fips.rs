//! FIPS mode (`FEATURE_FIPS: true`): a binary built without the FIPS module
//! refuses it; the FIPS build (`cargo build -p berth --features fips`, its
//! path in `TEST_FIPS_BIN`) takes over data a normal build wrote, serves
//! real clients, moves argon2 password hashes to PBKDF2 as users log in,
//! and a normal build still accepts those hashes afterwards.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::cli::skopeo_round_trip;
use common::{ADMIN, Server, random_bytes, sha256, unique_seed};

/// The FIPS build under test. Unset: CI must fail (the step that builds it
/// is missing); a developer's plain `cargo test` skips.
fn fips_bin() -> Option<PathBuf> {
    match std::env::var_os("TEST_FIPS_BIN") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "TEST_FIPS_BIN={} is not a file", path.display());
            Some(path)
        }
        None if std::env::var_os("CI").is_some_and(|v| v != "false" && !v.is_empty()) => {
            panic!(
                "TEST_FIPS_BIN is not set: build `cargo build -p berth --features fips` and point \
                 it at the binary (scripts/test.sh does)"
            )
        }
        None => {
            eprintln!("skipping: TEST_FIPS_BIN is not set (a FIPS build of berth)");
            None
        }
    }
}

/// The stored secret hash of account `name`.
async fn stored_hash(s: &Server, name: &str) -> String {
    let sql = "SELECT secret_hash FROM accounts WHERE name = $1";
    macro_rules! fetch {
        ($pool:expr) => {{
            let pool = $pool;
            let row: (String,) = sqlx::query_as(sql).bind(name).fetch_one(&pool).await.unwrap();
            pool.close().await;
            row.0
        }};
    }
    match s.db_uri() {
        Some(uri) => fetch!(sqlx::PgPool::connect(uri).await.unwrap()),
        None => {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(s.data_dir.path().join("metadata.db"))
                .read_only(true);
            fetch!(sqlx::SqlitePool::connect_with(opts).await.unwrap())
        }
    }
}

/// Status of `GET /api/v1/user/` with `user`'s password.
async fn login(s: &Server, user: &str, password: &str) -> u16 {
    s.client_as(user, password)
        .get(s.url("/api/v1/user/"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// PATCH `blob[range]` to the upload at `location`; returns the next location.
async fn patch(
    s: &Server,
    client: &reqwest::Client,
    location: &str,
    blob: &[u8],
    range: std::ops::Range<usize>,
) -> String {
    let r = client
        .patch(s.url(location))
        .header("content-range", format!("{}-{}", range.start, range.end - 1))
        .body(blob[range].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Rewrite the server's config with `FEATURE_FIPS` set as given.
fn set_fips(s: &Server, on: bool) {
    let path = s.config_path();
    let text = std::fs::read_to_string(path).unwrap();
    let mut kept: String = text
        .lines()
        .filter(|l| !l.starts_with("FEATURE_FIPS"))
        .map(|l| format!("{l}\n"))
        .collect();
    kept.push_str(&format!("FEATURE_FIPS: {on}\n"));
    std::fs::write(path, kept).unwrap();
}

/// Run `berth <args>` (`serve` or `gc`) with `FEATURE_FIPS: true` on a
/// fresh data directory and extra environment; returns (success, stderr).
fn run_in_fips_mode(bin: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "FEATURE_FIPS: true\n").unwrap();
    let out = Command::new(bin)
        .args(args)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_build_without_the_module_refuses_fips_mode() {
    for args in [&["serve", "--listen", "127.0.0.1:0"][..], &["gc"][..]] {
        let (ok, stderr) = run_in_fips_mode(&common::berth_bin(), args, &[]);
        assert!(!ok, "{args:?} started in FIPS mode without the module");
        assert!(
            stderr.contains("built without the FIPS module") && stderr.contains("--features fips"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn the_fips_build_refuses_s3_customer_keys() {
    let Some(fips) = fips_bin() else { return };
    // SSE-C sends the key's MD5 with every request.
    let env = [(
        "AWS_SSE_CUSTOMER_KEY_BASE64",
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    )];
    let (ok, stderr) = run_in_fips_mode(&fips, &["gc"], &env);
    assert!(!ok && stderr.contains("AWS_SSE_CUSTOMER_KEY_BASE64"), "{stderr}");
    let (ok, stderr) = run_in_fips_mode(&fips, &["gc"], &[]);
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn the_fips_build_serves_and_moves_passwords_to_pbkdf2() {
    let Some(fips) = fips_bin() else { return };
    // A normal build writes argon2 hashes, an image and half an upload.
    let mut s = Server::start().await;
    let password = "alice-password-1";
    s.create_user("alice", password, false);
    assert!(stored_hash(&s, "alice").await.starts_with("$argon2id$"));
    let alice = s.client_as("alice", password);
    let (_, before) = s.push_image_via(&alice, "alice/app", "v1", 2).await;
    let blob = random_bytes(100_000, unique_seed());
    let r = alice
        .post(s.url("/v2/alice/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let location = patch(&s, &alice, &location, &blob, 0..33_333).await;
    s.stop();

    // The FIPS build takes over the same data.
    s.bin = fips.clone();
    set_fips(&s, true);
    s.restart().await;
    assert!(stored_hash(&s, "alice").await.starts_with("$argon2id$"));
    assert_eq!(login(&s, "alice", "wrong").await, 401);
    assert!(stored_hash(&s, "alice").await.starts_with("$argon2id$"));
    assert_eq!(login(&s, "alice", password).await, 200);
    let moved = stored_hash(&s, "alice").await;
    assert!(moved.starts_with("$pbkdf2-sha256$i=600000,l=32$"), "{moved}");

    // The upload a normal build began (its hash state saved by sha2)
    // finishes through the module, in two more chunks.
    let alice = s.client_as("alice", password);
    let location = patch(&s, &alice, &location, &blob, 33_333..70_001).await;
    let location = patch(&s, &alice, &location, &blob, 70_001..blob.len()).await;
    let digest = sha256(&blob);
    let r = alice
        .put(s.url(&format!("{location}?digest={digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = alice
        .get(s.url(&format!("/v2/alice/app/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(sha256(&got.bytes().await.unwrap()), digest);

    // Pulls of what the normal build stored, pushes and pulls of new
    // images: by the test client and by skopeo (registry tokens).
    let r = alice
        .get(s.url("/v2/alice/app/manifests/v1"))
        .header("accept", common::OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sha256(&r.bytes().await.unwrap()), before);
    let (_, after) = s.push_image_via(&alice, "alice/app", "v2", 3).await;
    let r = alice
        .get(s.url(&format!("/v2/alice/app/manifests/{after}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    skopeo_round_trip(s.host(), &format!("{ADMIN}/fips"), &[3000, 200_000]);
    assert!(stored_hash(&s, ADMIN).await.starts_with("$pbkdf2-sha256$"));

    // Passwords made in FIPS mode are PBKDF2, and long enough for the
    // module to approve (14 bytes).
    let short = Command::new(&s.bin)
        .args([
            "admin",
            "user",
            "create",
            "carol",
            "--password-stdin",
            "--data-dir",
        ])
        .arg(s.data_dir.path())
        .arg("--config")
        .arg(s.config_path())
        .args(s.db_uri().map(|u| ["--db-uri", u]).into_iter().flatten())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    short.stdin.as_ref().unwrap().write_all(b"short-pw-11").unwrap();
    let out = short.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("at least 14 bytes"),
        "{stderr}"
    );
    // Passwords made in FIPS mode are PBKDF2.
    s.create_user("bob", "bob-password-1", false);
    assert!(
        stored_hash(&s, "bob")
            .await
            .starts_with("$pbkdf2-sha256$i=600000,l=32$")
    );
    assert_eq!(login(&s, "bob", "bob-password-1").await, 200);

    // The new hash verifies from the database after a restart (no cache).
    s.stop();
    s.restart().await;
    assert_eq!(login(&s, "alice", password).await, 200);
    assert_eq!(login(&s, "alice", "wrong").await, 401);
    assert_eq!(stored_hash(&s, "alice").await, moved);

    // Turning FIPS mode off locks nobody out.
    s.stop();
    s.bin = common::berth_bin();
    set_fips(&s, false);
    s.restart().await;
    assert_eq!(login(&s, "alice", password).await, 200);
    assert_eq!(login(&s, "bob", "bob-password-1").await, 200);
    assert_eq!(login(&s, "bob", "wrong").await, 401);
    assert_eq!(
        stored_hash(&s, "alice").await,
        moved,
        "not rehashed outside FIPS mode"
    );
}
