//! How long console pages take at scale: a namespace with 10,000
//! repositories, and a repository with 10,000 tags and 1,000 history
//! rows. Measures and prints (as JSON lines, for `bench/console.sh`);
//! asserts only that every page answers 200 with what it should list.
//! Ignored by default: `cargo test -p berth --test console_bench --
//! --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use berth_store::Db;
use common::{ADMIN, ADMIN_PASSWORD, Server};

/// Repositories in the big namespace; tags (and ended rows) in the big
/// repository.
const REPOSITORIES: i64 = 10_000;
const TAGS: i64 = 10_000;
const HISTORY: i64 = 1_000;
/// Requests per page measured.
const SAMPLES: usize = 25;

/// Run one statement on either database.
async fn execute(db: &Db, sql: String) {
    match db {
        Db::Sqlite { write, .. } => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(write)
                .await
                .unwrap();
        }
        Db::Postgres(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
        }
    }
}

/// The numbers 1..=n as a recursive CTE both databases run.
fn numbers(n: i64) -> String {
    format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})")
}

/// The value of cookie `name` set by `r`.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|v| v.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Sign the superuser in through the form; the cookie header to send.
async fn sign_in(s: &Server) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(s.url("/signin")).send().await.unwrap();
    let seed = set_cookie(&r, "berth_csrf").unwrap();
    let html = r.text().await.unwrap();
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let r = client
        .post(s.url("/signin"))
        .header("cookie", format!("berth_csrf={seed}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={token}&username={ADMIN}&password={ADMIN_PASSWORD}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    format!("berth_session={}", set_cookie(&r, "berth_session").unwrap())
}

#[tokio::test]
#[ignore = "a benchmark: run it with --ignored"]
async fn console_pages_at_scale() {
    let s = Server::start().await;
    // The namespaces, made the way clients make them.
    s.push_image("big/app", "base", 1).await;
    s.push_image("many/first", "base", 1).await;
    let db = common::gc::open_db(&s).await;
    execute(
        &db,
        format!(
            "{} INSERT INTO repositories (name, created_ms, updated_ms, is_public, description) \
             SELECT 'many/repo' || i, 0, 0, FALSE, '' FROM n",
            numbers(REPOSITORIES)
        ),
    )
    .await;
    execute(
        &db,
        format!(
            "{} INSERT INTO tags (repository_id, name, manifest_digest, start_ms, end_ms) \
             SELECT r.id, 'tag' || i, m.digest, 1000000 + i, NULL FROM n, repositories r \
             JOIN manifests m ON m.repository_id = r.id WHERE r.name = 'big/app'",
            numbers(TAGS)
        ),
    )
    .await;
    execute(
        &db,
        format!(
            "{} INSERT INTO tags (repository_id, name, manifest_digest, start_ms, end_ms) \
             SELECT r.id, 'tag' || i, m.digest, 1000 + i, 1000000 + i FROM n, repositories r \
             JOIN manifests m ON m.repository_id = r.id WHERE r.name = 'big/app'",
            numbers(HISTORY)
        ),
    )
    .await;
    // Statistics for the planner, as autovacuum keeps them in service.
    if let Db::Postgres(_) = &db {
        execute(&db, "ANALYZE".to_owned()).await;
    }

    let cookie = sign_in(&s).await;
    let pages: [(&str, &str, &str); 8] = [
        ("namespace, first page", "/?namespace=many", "many/first"),
        (
            "namespace, page at 5,000",
            "/?namespace=many&after=many/repo5000",
            "many/repo5001",
        ),
        (
            "namespace, name prefix",
            "/?namespace=many&filter=repo999",
            "many/repo9999",
        ),
        ("all repositories", "/", "big/app"),
        ("tags, first page", "/repository/big/app", "tag10000"),
        ("tags, filtered", "/repository/big/app?filter=tag999", "tag9999"),
        (
            "history, first page",
            "/repository/big/app?tab=history",
            "tag10000",
        ),
        (
            "history, page 200",
            "/repository/big/app?tab=history&page=200",
            "tag",
        ),
    ];
    let db_name = if s.db_uri().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    for (what, path, expect) in pages {
        let mut times = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let started = Instant::now();
            let r = s
                .anon
                .get(s.url(path))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status, 200, "{path}");
            assert!(body.contains(expect), "{path} lists {expect}");
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{{\"db\":\"{db_name}\",\"page\":\"{what}\",\"path\":\"{path}\",\"median_ms\":{:.1},\"max_ms\":{:.1}}}",
            times[SAMPLES / 2],
            times[SAMPLES - 1]
        );
    }
}
