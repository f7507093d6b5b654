//! Helpers of the `/api/v1` tests: calling as someone, asserting Quay's
//! error bodies, and setting up an organization with users.
#![allow(dead_code, clippy::unwrap_used)]

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Server, basic_auth, random_bytes, sha256, unique_seed};

/// Who calls: the superuser `admin`, another user, or nobody.
#[derive(Clone, Copy)]
pub enum As {
    Admin,
    User(&'static str),
    Anon,
}
pub use As::{Admin, Anon};
pub const ALICE: As = As::User("alice");
pub const BOB: As = As::User("bob");
pub const CAROL: As = As::User("carol");

/// An expected refusal: status and Quay `error_type`.
pub type Refusal = (u16, &'static str);
pub const BAD: Refusal = (400, "invalid_request");
pub const UNAUTHENTICATED: Refusal = (401, "invalid_token");
pub const FORBIDDEN: Refusal = (403, "insufficient_scope");
pub const NOT_FOUND: Refusal = (404, "not_found");

/// Every test user's password is its name followed by this.
pub const PW: &str = "-password";

pub type Answer = (u16, Value);

/// Call the API; returns the status and the JSON body (`Null` if none).
pub async fn call(s: &Server, who: As, method: Method, path: &str, body: Option<Value>) -> Answer {
    let url = s.url(&format!("/api/v1{path}"));
    let mut req = match who {
        Admin => s.client.request(method, url),
        As::User(name) => s
            .anon
            .request(method, url)
            .header("authorization", basic_auth(name, &format!("{name}{PW}"))),
        Anon => s.anon.request(method, url),
    };
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = match text.as_str() {
        "" => Value::Null,
        t => serde_json::from_str(t).unwrap_or_else(|_| panic!("not JSON: {t}")),
    };
    (status, body)
}

pub async fn get(s: &Server, who: As, path: &str) -> Answer {
    call(s, who, Method::GET, path, None).await
}

pub async fn put(s: &Server, who: As, path: &str, body: Value) -> Answer {
    call(s, who, Method::PUT, path, Some(body)).await
}

pub async fn put_empty(s: &Server, who: As, path: &str) -> Answer {
    call(s, who, Method::PUT, path, None).await
}

pub async fn del(s: &Server, who: As, path: &str) -> Answer {
    call(s, who, Method::DELETE, path, None).await
}

/// PUT a raw (possibly malformed) JSON body as the superuser.
pub async fn put_raw(s: &Server, path: &str, body: &str) -> Answer {
    let r = s
        .client
        .put(s.url(&format!("/api/v1{path}")))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Assert a success status.
#[track_caller]
pub fn ok(got: &Answer, status: u16) {
    assert_eq!(got.0, status, "{}", got.1);
}

/// Assert a Quay error body for `refusal`.
#[track_caller]
pub fn refused(got: &Answer, (status, error_type): Refusal) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error_type"], error_type, "{}", got.1);
    assert_eq!(got.1["status"], status, "{}", got.1);
    assert!(
        got.1["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        got.1
    );
}

/// A server with organization `acme` (owned by `admin`) and users.
pub async fn setup(users: &[&str]) -> Server {
    let s = Server::start().await;
    for u in users {
        s.create_user(u, &format!("{u}{PW}"), false);
    }
    create_org(&s, "acme").await;
    s
}

pub async fn create_org(s: &Server, name: &str) {
    ok(
        &call(
            s,
            Admin,
            Method::POST,
            "/organization/",
            Some(json!({ "name": name })),
        )
        .await,
        201,
    );
}

pub async fn put_team(s: &Server, team: &str, role: &str) {
    ok(
        &put(
            s,
            Admin,
            &format!("/organization/acme/team/{team}"),
            json!({ "role": role }),
        )
        .await,
        200,
    );
}

pub async fn add_member(s: &Server, team: &str, member: &str) {
    ok(
        &put_empty(
            s,
            Admin,
            &format!("/organization/acme/team/{team}/members/{member}"),
        )
        .await,
        200,
    );
}

pub async fn create_repo(s: &Server, who: As, namespace: &str, name: &str) -> Answer {
    let body = json!({ "namespace": namespace, "repository": name, "visibility": "private" });
    call(s, who, Method::POST, "/repository", Some(body)).await
}

/// `user`'s Basic credentials.
pub fn auth(user: &str) -> String {
    basic_auth(user, &format!("{user}{PW}"))
}

/// Push one blob to `repo` over `/v2` as `user`; returns the status.
pub async fn push_as(s: &Server, user: &str, repo: &str) -> u16 {
    let blob = random_bytes(512, unique_seed());
    let url = s.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(&blob)));
    let r = s.anon.post(url).header("authorization", auth(user)).body(blob);
    r.send().await.unwrap().status().as_u16()
}

/// List `repo`'s tags over `/v2` as `user`; returns the status.
pub async fn pull_as(s: &Server, user: &str, repo: &str) -> u16 {
    let r = s
        .anon
        .get(s.url(&format!("/v2/{repo}/tags/list")))
        .header("authorization", auth(user));
    r.send().await.unwrap().status().as_u16()
}

pub fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect()
}
