//! `/health/instance` and `/health/endtoend` in Quay's shape: every service
//! checked, 503 when one fails, no credentials needed.
#![allow(clippy::unwrap_used)]

mod common;

use common::storage::TestStorage;
use serde_json::{Value, json};

async fn health(server: &common::Server, path: &str) -> (u16, Value) {
    let r = server.anon.get(server.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_working_registry_is_healthy_in_both_scopes() {
    let server = common::Server::start().await;
    let instance = json!({
        "data": { "services": { "database": true, "service_key": true, "auth": true } },
        "status_code": 200,
    });
    assert_eq!(health(&server, "/health/instance").await, (200, instance.clone()));
    assert_eq!(health(&server, "/health").await, (200, instance));
    let endtoend = json!({
        "data": { "services": { "database": true, "storage": true, "auth": true } },
        "status_code": 200,
    });
    assert_eq!(health(&server, "/health/endtoend").await, (200, endtoend.clone()));
    assert_eq!(health(&server, "/status").await, (200, endtoend));
}

#[tokio::test]
async fn broken_storage_fails_the_end_to_end_check_only() {
    let server = common::Server::start().await;
    let TestStorage::Directory { dir, .. } = &server.storage else {
        // Breaking a shared S3 server would break the other tests.
        return;
    };
    // Where uploads are staged becomes a file: nothing can be written.
    let staging = dir.join("uploads");
    assert!(staging.is_dir(), "{}", staging.display());
    std::fs::remove_dir_all(&staging).unwrap();
    std::fs::write(&staging, b"not a directory").unwrap();

    let (status, body) = health(&server, "/health/endtoend").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({
            "data": { "services": { "database": true, "storage": false, "auth": true } },
            "status_code": 503,
        })
    );
    // The instance's own services still work.
    assert_eq!(health(&server, "/health/instance").await.0, 200);

    std::fs::remove_file(&staging).unwrap();
    std::fs::create_dir(&staging).unwrap();
    assert_eq!(health(&server, "/health/endtoend").await.0, 200);
}

#[tokio::test]
async fn read_only_mode_skips_the_storage_check() {
    let server = common::Server::start_with_config("REGISTRY_STATE: readonly\n").await;
    let (status, body) = health(&server, "/health/endtoend").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["services"],
        json!({ "database": true, "auth": true })
    );
}
