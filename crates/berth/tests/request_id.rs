//! Request ids: taken from `X-Request-ID` when sane, made otherwise,
//! echoed in every answer and carried by the request's log lines; and
//! `LOGS_FORMAT: json` logs one JSON object per line.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

async fn id_of(server: &common::Server, sent: Option<&str>) -> String {
    let mut request = server.anon.get(server.url("/v2/"));
    if let Some(id) = sent {
        request = request.header("x-request-id", id);
    }
    let r = request.send().await.unwrap();
    r.headers()["x-request-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let server = common::Server::start().await;
    let mut made = HashSet::new();
    for _ in 0..5 {
        let id = id_of(&server, None).await;
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        made.insert(id);
    }
    assert_eq!(made.len(), 5, "each request gets its own id");
    assert_eq!(id_of(&server, Some("ci-run-42.step:7")).await, "ci-run-42.step:7");
    // Ids that could forge log structure, or are too long, are replaced.
    let long = "x".repeat(300);
    for hostile in ["two words", "{\"id\":1}", long.as_str()] {
        let id = id_of(&server, Some(hostile)).await;
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{hostile:?} gave {id}");
    }
    // API errors and 404s carry one too.
    let r = server.anon.get(server.url("/api/v1/user/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn json_logs_carry_the_request_id_on_every_line_of_the_request() {
    let mut server = common::Server::start_capturing_logs_with("LOGS_FORMAT: json\n").await;
    let id = "trace-me-0123";
    assert_eq!(id_of(&server, Some(id)).await, id);
    // A failed login logs within the request.
    let r = server
        .anon
        .get(server.url("/v2/"))
        .header("x-request-id", "failed-login-7")
        .basic_auth("admin", Some("wrong password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    server.stop();

    let log = std::fs::read_to_string(server.log_file.as_ref().unwrap()).unwrap();
    let mut lines_with_id = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.get("level").is_some() && v.get("fields").is_some(), "{line}");
        let spans = v["spans"].as_array().cloned().unwrap_or_default();
        if spans.iter().any(|s| s["name"] == "request" && s["id"] == id) {
            lines_with_id += 1;
        }
    }
    assert!(lines_with_id > 0, "no line of the request carries its id:\n{log}");
    assert!(log.contains("failed-login-7"), "{log}");
}
