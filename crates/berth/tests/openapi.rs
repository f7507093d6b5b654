//! The OpenAPI document at `/api/v1/discovery` describes every body: each
//! operation's request body and each of its answers with content name a
//! component schema, and every schema they name exists.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::Value;

/// The component schema a content object names, following arrays.
fn schema_ref(schema: &Value) -> Option<&str> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return Some(r);
    }
    if schema.get("type").and_then(Value::as_str) == Some("array") {
        return schema.get("items").and_then(schema_ref);
    }
    // `oneOf` of a schema and null (an optional body).
    schema
        .get("oneOf")
        .and_then(Value::as_array)
        .and_then(|alts| alts.iter().find_map(schema_ref))
}

#[tokio::test]
async fn every_request_and_response_body_has_a_component_schema() {
    let server = common::Server::start().await;
    let doc: Value = reqwest::get(server.url("/api/v1/discovery"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut problems = Vec::new();
    let mut bodies = 0;
    let check = |what: String, content: &Value, problems: &mut Vec<String>, bodies: &mut usize| {
        let Some(content) = content.as_object() else {
            return;
        };
        for (media_type, c) in content {
            match c.get("schema").and_then(schema_ref) {
                None => problems.push(format!("{what} ({media_type}): no component schema")),
                Some(r) => {
                    let name = r.trim_start_matches("#/components/schemas/");
                    if !schemas.contains_key(name) {
                        problems.push(format!("{what}: names {r}, which does not exist"));
                    }
                    *bodies += 1;
                }
            }
        }
    };
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let id = format!("{} {path}", method.to_uppercase());
            if let Some(body) = op.get("requestBody") {
                check(
                    format!("{id} request"),
                    &body["content"],
                    &mut problems,
                    &mut bodies,
                );
            }
            let responses = op["responses"].as_object().unwrap();
            let success = responses.iter().filter(|(status, _)| status.starts_with('2'));
            let mut described = false;
            for (status, response) in success {
                described = true;
                match response.get("content") {
                    Some(content) => check(format!("{id} {status}"), content, &mut problems, &mut bodies),
                    // Only answers without a body may go without content.
                    None if ["201", "202", "204"].contains(&status.as_str()) => {}
                    None => problems.push(format!("{id} {status}: no content described")),
                }
            }
            if !described {
                problems.push(format!("{id}: no success answer described"));
            }
            for status in ["400", "401", "403", "404", "429"] {
                if responses.get(status).and_then(|r| r.get("content")).is_none() {
                    problems.push(format!("{id}: error {status} without Quay's error body"));
                }
            }
        }
    }
    assert!(paths.len() > 60, "only {} paths documented", paths.len());
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(bodies > 100, "only {bodies} bodies");
}
