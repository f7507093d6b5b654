//! Helpers for `/api/v1` tests: Quay error bodies, tag listings, tag
//! resolution through `/v2`, and the usage log read from the database.

use reqwest::StatusCode;
use serde_json::Value;

use super::Server;

/// Seconds since the epoch.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `GET /api/v1/repository/{repo}/tag/?{query}` as the admin.
pub async fn tag_list(s: &Server, repo: &str, query: &str) -> Value {
    let r = s.get(&format!("/api/v1/repository/{repo}/tag/?{query}")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// The history rows of one tag, newest first.
pub async fn history(s: &Server, repo: &str, tag: &str) -> Vec<Value> {
    tag_list(s, repo, &format!("specificTag={tag}")).await["tags"]
        .as_array()
        .unwrap()
        .clone()
}

/// The digest `GET /v2/{repo}/manifests/{tag}` answers, or `None` on 404.
pub async fn resolve(s: &Server, repo: &str, tag: &str) -> Option<String> {
    let r = s.get(&format!("/v2/{repo}/manifests/{tag}")).await;
    match r.status() {
        StatusCode::OK => Some(r.headers()["docker-content-digest"].to_str().unwrap().to_owned()),
        StatusCode::NOT_FOUND => None,
        other => panic!("manifest GET answered {other}"),
    }
}

/// Check a Quay error body: status, `error_type`, and a detail containing
/// `detail`.
pub async fn assert_api_error(r: reqwest::Response, status: u16, error_type: &str, detail: &str) {
    assert_eq!(r.status().as_u16(), status);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], status, "{v}");
    assert_eq!(v["error_type"], error_type, "{v}");
    assert_eq!(v["type"], format!("/api/v1/error/{error_type}"), "{v}");
    assert!(v["detail"].as_str().unwrap().contains(detail), "{v}");
}

/// The usage log of a namespace, oldest first: (kind, metadata).
pub async fn usage_log(s: &Server, namespace: &str) -> Vec<(String, Value)> {
    let sql = "SELECT kind, metadata FROM audit_logs WHERE namespace = $1 ORDER BY id";
    macro_rules! fetch {
        ($pool:expr) => {{
            let pool = $pool;
            let rows: Vec<(String, String)> = sqlx::query_as(sql)
                .bind(namespace)
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            rows
        }};
    }
    let rows = match s.db_uri() {
        Some(uri) => fetch!(sqlx::PgPool::connect(uri).await.unwrap()),
        None => {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(s.data_dir.path().join("metadata.db"))
                .read_only(true);
            fetch!(sqlx::SqlitePool::connect_with(opts).await.unwrap())
        }
    };
    rows.into_iter()
        .map(|(kind, metadata)| (kind, serde_json::from_str(&metadata).unwrap()))
        .collect()
}

/// Whether the usage log of `namespace` has an entry of `kind` whose
/// metadata contains every field of `fields`.
pub async fn logged(s: &Server, namespace: &str, kind: &str, fields: Value) -> bool {
    usage_log(s, namespace).await.iter().any(|(k, m)| {
        k == kind
            && fields
                .as_object()
                .unwrap()
                .iter()
                .all(|(key, value)| m.get(key) == Some(value))
    })
}
