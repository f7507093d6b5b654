//! Robot accounts, app-specific tokens, OAuth applications and their
//! tokens, superuser user management and public user views under
//! `/api/v1`: shapes, refusals, secrets shown once, and logins with each
//! kind of credential at `/v2/auth`.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "api_robots/app_tokens.rs"]
mod app_tokens;
#[path = "api_robots/applications.rs"]
mod applications;
#[path = "api_robots/superuser.rs"]
mod superuser;

use std::io::Write;
use std::process::Stdio;

use base64::Engine;
use berth_store::Db;
use berth_store::metadata::AuditQuery;
use common::cli::{podman, skopeo};
use common::layout::{write_image, write_layout_index};
use common::{ADMIN, Server, basic_auth, unique_seed};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Send one API request with optional `Authorization` and JSON body.
pub(crate) async fn call(
    s: &Server,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let mut req = s.anon.request(method, s.url(&format!("/api/v1{path}")));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json, text)
}

pub(crate) fn admin() -> String {
    basic_auth(ADMIN, common::ADMIN_PASSWORD)
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Assert a Quay-style error body with `status`.
pub(crate) fn assert_quay_error(status: StatusCode, body: &Value, want: StatusCode) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["status"], want.as_u16(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    assert!(body["error_message"].is_string(), "{body}");
    assert!(body["title"].is_string(), "{body}");
    let kind = body["error_type"].as_str().unwrap();
    assert_eq!(body["type"], format!("/api/v1/error/{kind}"));
}

/// `GET /v2/auth` with Basic credentials for `scope`: the `access` claim of
/// the token, or the refusal's status.
pub(crate) async fn registry_access(
    s: &Server,
    user: &str,
    secret: &str,
    scope: &str,
) -> Result<Value, StatusCode> {
    let resp = s
        .anon
        .get(
            reqwest::Url::parse_with_params(&s.url("/v2/auth"), [("service", s.host()), ("scope", scope)])
                .unwrap(),
        )
        .header("authorization", basic_auth(user, secret))
        .send()
        .await
        .unwrap();
    if resp.status() != StatusCode::OK {
        return Err(resp.status());
    }
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    Ok(claims["access"].clone())
}

/// The one access entry expected for `repo` with `actions`.
pub(crate) fn access(repo: &str, actions: &[&str]) -> Value {
    json!([{ "type": "repository", "name": repo, "actions": actions }])
}

/// The server's database, for what the API under test cannot do itself
/// (granting repository roles) and for reading the usage log.
pub(crate) async fn database(s: &Server) -> Db {
    let pools = berth_store::PoolSettings::default();
    match s.db_uri() {
        Some(uri) => Db::open_postgres(uri, pools).await.unwrap(),
        None => Db::open_sqlite(s.data_dir.path(), pools).await.unwrap(),
    }
}

/// Grant `role` on `repo` to account `name` directly in the database.
pub(crate) async fn grant(db: &Db, repo: &str, name: &str, role: &str) {
    let repo_id = db.repository(repo).await.unwrap().unwrap().id;
    let account = db.account_by_name(name).await.unwrap().unwrap().id;
    db.set_account_permission(repo_id, account, role).await.unwrap();
}

/// The usage-log entries (kind, metadata) of namespace `ns`, oldest first.
pub(crate) async fn log_entries(db: &Db, ns: &str) -> Vec<(String, Value)> {
    let q = AuditQuery {
        namespace: Some(ns.to_owned()),
        start_ms: 0,
        end_ms: i64::MAX,
        ..AuditQuery::default()
    };
    let mut rows: Vec<(String, Value)> = db
        .audit_entries(&q, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.kind, serde_json::from_str(&r.metadata).unwrap()))
        .collect();
    rows.reverse();
    rows
}

pub(crate) fn kinds(entries: &[(String, Value)]) -> Vec<&str> {
    entries.iter().map(|(k, _)| k.as_str()).collect()
}

/// Create repository `ns/name` (private) as `auth`.
pub(crate) async fn create_repo(s: &Server, auth: &str, ns: &str, name: &str) {
    let (status, body, _) = call(
        s,
        Method::POST,
        "/repository",
        Some(auth),
        Some(json!({ "namespace": ns, "repository": name, "visibility": "private" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

pub(crate) async fn create_org(s: &Server, auth: &str, name: &str) {
    let (status, body, _) = call(
        s,
        Method::POST,
        "/organization/",
        Some(auth),
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// `podman login` with the given credentials; true if it succeeded.
pub(crate) fn podman_login(s: &Server, user: &str, secret: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let mut child = podman(dir.path())
        .args([
            "login",
            "--tls-verify=false",
            "-u",
            user,
            "--password-stdin",
            s.host(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(secret.as_bytes()).unwrap();
    child.wait().unwrap().success()
}

#[tokio::test]
async fn user_robots_are_made_shown_once_regenerated_and_deleted() {
    let s = Server::start().await;
    s.create_user("alice", "alice-password", false);
    let alice = basic_auth("alice", "alice-password");
    let db = database(&s).await;

    let (status, robot, _) = call(
        &s,
        Method::PUT,
        "/user/robots/ci",
        Some(&alice),
        Some(json!({ "description": "builds", "unstructured_metadata": { "team": "x", "n": 1 } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{robot}");
    assert_eq!(robot["name"], "alice+ci");
    assert_eq!(robot["description"], "builds");
    assert_eq!(robot["unstructured_metadata"], json!({ "team": "x", "n": 1 }));
    assert!(robot["created"].as_str().unwrap().ends_with("-0000"));
    assert_eq!(robot["last_accessed"], Value::Null);
    let token = robot["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );

    // A body is optional.
    let (status, bare, _) = call(&s, Method::PUT, "/user/robots/bare", Some(&alice), None).await;
    assert_eq!(status, StatusCode::CREATED, "{bare}");
    assert_eq!(bare["description"], "");
    assert_eq!(bare["unstructured_metadata"], json!({}));

    // Lists and single views never hold a token.
    for query in ["", "?token=true", "?permissions=true&token=true"] {
        let (status, list, text) = call(
            &s,
            Method::GET,
            &format!("/user/robots{query}"),
            Some(&alice),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = list["robots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alice+bare", "alice+ci"]);
        assert!(!text.contains(&token), "a list shows a token");
        assert!(list["robots"][0].get("token").is_none());
        assert_eq!(list["robots"][1]["description"], "builds");
        assert_eq!(
            list["robots"][0].get("teams").is_some(),
            query.contains("permissions")
        );
    }
    let (_, limited, _) = call(&s, Method::GET, "/user/robots?limit=1", Some(&alice), None).await;
    assert_eq!(limited["robots"].as_array().unwrap().len(), 1);
    let (status, one, text) = call(&s, Method::GET, "/user/robots/ci", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["name"], "alice+ci");
    assert_eq!(one["unstructured_metadata"], json!({ "team": "x", "n": 1 }));
    assert!(one.get("token").is_none() && !text.contains(&token));

    let (status, perms, _) = call(&s, Method::GET, "/user/robots/ci/permissions", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(perms, json!({ "permissions": [] }));

    // Bad input.
    let (status, body, _) = call(&s, Method::PUT, "/user/robots/ci", Some(&alice), None).await;
    assert_quay_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().unwrap().contains("Existing robot"),
        "{body}"
    );
    for bad in ["A", "x", "bad--name", "bad_", "a+b"] {
        let (status, body, _) = call(
            &s,
            Method::PUT,
            &format!("/user/robots/{bad}"),
            Some(&alice),
            None,
        )
        .await;
        assert_quay_error(status, &body, StatusCode::BAD_REQUEST);
    }
    let long = "d".repeat(256);
    for body in [
        json!({ "description": long }),
        json!({ "unstructured_metadata": [1, 2] }),
        json!({ "description": 5 }),
    ] {
        let (status, err, _) = call(&s, Method::PUT, "/user/robots/other", Some(&alice), Some(body)).await;
        assert_quay_error(status, &err, StatusCode::BAD_REQUEST);
    }
    let (status, body, _) = call(&s, Method::GET, "/user/robots/nobody", Some(&alice), None).await;
    assert_quay_error(status, &body, StatusCode::NOT_FOUND);

    // The robot logs in with its token, with podman too.
    assert!(
        registry_access(&s, "alice+ci", &token, "repository:alice/app:pull")
            .await
            .is_ok()
    );
    assert!(podman_login(&s, "alice+ci", &token));

    // Regenerating shows a new token once; the old one stops working at once.
    let (status, regen, _) = call(&s, Method::POST, "/user/robots/ci/regenerate", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{regen}");
    let new_token = regen["token"].as_str().unwrap().to_owned();
    assert_eq!(new_token.len(), 64);
    assert_ne!(new_token, token);
    assert_eq!(regen["name"], "alice+ci");
    assert_eq!(
        registry_access(&s, "alice+ci", &token, "repository:alice/app:pull").await,
        Err(StatusCode::UNAUTHORIZED)
    );
    assert!(
        !podman_login(&s, "alice+ci", &token),
        "podman logs in with a regenerated token"
    );
    assert!(podman_login(&s, "alice+ci", &new_token));
    let (_, one, text) = call(&s, Method::GET, "/user/robots/ci", Some(&alice), None).await;
    assert!(one.get("token").is_none() && !text.contains(&new_token));

    let resp = s
        .anon
        .delete(s.url("/api/v1/user/robots/ci"))
        .header("authorization", &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _, _) = call(&s, Method::GET, "/user/robots/ci", Some(&alice), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        registry_access(&s, "alice+ci", &new_token, "repository:alice/app:pull").await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let (status, _, _) = call(&s, Method::DELETE, "/user/robots/ci", Some(&alice), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let log = log_entries(&db, "alice").await;
    let robot_kinds: Vec<&str> = kinds(&log).into_iter().filter(|k| k.contains("robot")).collect();
    assert_eq!(
        robot_kinds,
        [
            "create_robot",
            "create_robot",
            "regenerate_robot_token",
            "delete_robot"
        ]
    );
    assert_eq!(
        log.iter().find(|(k, _)| k == "create_robot").unwrap().1["robot"],
        "ci"
    );
    let all = serde_json::to_string(&log).unwrap();
    assert!(
        !all.contains(&token) && !all.contains(&new_token),
        "a token reached the log"
    );
}

#[tokio::test]
async fn organization_robots_get_exactly_what_their_permissions_allow() {
    let s = Server::start().await;
    let db = database(&s).await;
    let admin = admin();
    create_org(&s, &admin, "acme").await;
    create_repo(&s, &admin, "acme", "app").await;
    create_repo(&s, &admin, "acme", "other").await;
    create_repo(&s, &admin, "acme", "secret").await;

    let (status, robot, _) = call(
        &s,
        Method::PUT,
        "/organization/acme/robots/ci",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{robot}");
    assert_eq!(robot["name"], "acme+ci");
    let token = robot["token"].as_str().unwrap().to_owned();

    // No grants: the token holds no actions.
    let scope = "repository:acme/app:pull,push";
    assert_eq!(
        registry_access(&s, "acme+ci", &token, scope).await.unwrap(),
        access("acme/app", &[])
    );

    grant(&db, "acme/app", "acme+ci", "write").await;
    grant(&db, "acme/other", "acme+ci", "read").await;
    assert_eq!(
        registry_access(&s, "acme+ci", &token, scope).await.unwrap(),
        access("acme/app", &["pull", "push"])
    );
    assert_eq!(
        registry_access(&s, "acme+ci", &token, "repository:acme/other:pull,push")
            .await
            .unwrap(),
        access("acme/other", &["pull"])
    );
    assert_eq!(
        registry_access(&s, "acme+ci", &token, "repository:acme/secret:pull,push")
            .await
            .unwrap(),
        access("acme/secret", &[])
    );
    // A host-qualified scope, as some clients send it.
    assert_eq!(
        registry_access(
            &s,
            "acme+ci",
            &token,
            &format!("repository:{}/acme/app:pull", s.host())
        )
        .await
        .unwrap()[0]["actions"],
        json!(["pull"])
    );

    let (status, perms, _) = call(
        &s,
        Method::GET,
        "/organization/acme/robots/ci/permissions",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        perms,
        json!({ "permissions": [
            { "repository": { "name": "app", "is_public": false }, "role": "write" },
            { "repository": { "name": "other", "is_public": false }, "role": "read" },
        ]})
    );
    let (_, list, text) = call(
        &s,
        Method::GET,
        "/organization/acme/robots?permissions=true",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(list["robots"][0]["name"], "acme+ci");
    assert_eq!(list["robots"][0]["repositories"], json!(["app", "other"]));
    assert_eq!(list["robots"][0]["teams"], json!([]));
    assert!(!text.contains(&token));
    let (status, one, _) = call(
        &s,
        Method::GET,
        "/organization/acme/robots/ci",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(one.get("token").is_none());

    // A real client pushes with the robot's credentials.
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[10_000], unique_seed());
    write_layout_index(&layout, &[("v1", &image)]);
    let copy = skopeo(s.host())
        .args(["copy", "--dest-tls-verify=false", "--dest-creds"])
        .arg(format!("acme+ci:{token}"))
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{}/acme/app:v1", s.host()))
        .output()
        .unwrap();
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    let denied = skopeo(s.host())
        .args(["copy", "--dest-tls-verify=false", "--dest-creds"])
        .arg(format!("acme+ci:{token}"))
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{}/acme/other:v1", s.host()))
        .output()
        .unwrap();
    assert!(!denied.status.success(), "a read-only robot pushed");

    // Regenerate: the old token fails at once, the new one carries the
    // same grants.
    let (status, regen, _) = call(
        &s,
        Method::POST,
        "/organization/acme/robots/ci/regenerate",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let new_token = regen["token"].as_str().unwrap();
    assert_eq!(
        registry_access(&s, "acme+ci", &token, scope).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    assert!(!podman_login(&s, "acme+ci", &token));
    assert_eq!(
        registry_access(&s, "acme+ci", new_token, scope).await.unwrap(),
        access("acme/app", &["pull", "push"])
    );

    let (status, _, _) = call(
        &s,
        Method::DELETE,
        "/organization/acme/robots/ci",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list, _) = call(&s, Method::GET, "/organization/acme/robots", Some(&admin), None).await;
    assert_eq!(list, json!({ "robots": [] }));

    let log = log_entries(&db, "acme").await;
    let robot_kinds: Vec<&str> = kinds(&log).into_iter().filter(|k| k.contains("robot")).collect();
    assert_eq!(
        robot_kinds,
        ["create_robot", "regenerate_robot_token", "delete_robot"]
    );
}

#[tokio::test]
async fn robot_endpoints_refuse_those_who_may_not() {
    let s = Server::start().await;
    let admin = admin();
    s.create_user("bob", "bob-password", false);
    let bob = basic_auth("bob", "bob-password");
    create_org(&s, &admin, "acme").await;
    let (_, robot, _) = call(
        &s,
        Method::PUT,
        "/organization/acme/robots/ci",
        Some(&admin),
        None,
    )
    .await;
    let robot_auth = basic_auth("acme+ci", robot["token"].as_str().unwrap());

    for (method, path) in [
        (Method::GET, "/organization/acme/robots"),
        (Method::GET, "/organization/acme/robots/ci"),
        (Method::PUT, "/organization/acme/robots/x"),
        (Method::DELETE, "/organization/acme/robots/ci"),
        (Method::GET, "/organization/acme/robots/ci/permissions"),
        (Method::POST, "/organization/acme/robots/ci/regenerate"),
        (Method::GET, "/organization/nosuchorg/robots"),
    ] {
        let (status, body, _) = call(&s, method.clone(), path, Some(&bob), None).await;
        assert_quay_error(status, &body, StatusCode::FORBIDDEN);
        let (status, body, _) = call(&s, method.clone(), path, None, None).await;
        assert_quay_error(status, &body, StatusCode::UNAUTHORIZED);
        // A robot administers nothing.
        let (status, _, _) = call(&s, method, path, Some(&robot_auth), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    for (method, path) in [
        (Method::GET, "/user/robots"),
        (Method::PUT, "/user/robots/x"),
        (Method::POST, "/user/robots/x/regenerate"),
    ] {
        let (status, body, _) = call(&s, method.clone(), path, None, None).await;
        assert_quay_error(status, &body, StatusCode::UNAUTHORIZED);
        let (status, _, _) = call(&s, method, path, Some(&robot_auth), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // Bob's robots are his own: he cannot see the admin's.
    let (status, _, _) = call(&s, Method::PUT, "/user/robots/mine", Some(&admin), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = call(&s, Method::GET, "/user/robots/mine", Some(&bob), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list, _) = call(&s, Method::GET, "/user/robots", Some(&bob), None).await;
    assert_eq!(list, json!({ "robots": [] }));
    // Wrong credentials are 401.
    let (status, body, _) = call(
        &s,
        Method::GET,
        "/user/robots",
        Some(&basic_auth("bob", "wrong-password")),
        None,
    )
    .await;
    assert_quay_error(status, &body, StatusCode::UNAUTHORIZED);
    // A bad query is 400.
    let (status, body, _) = call(&s, Method::GET, "/user/robots?limit=many", Some(&bob), None).await;
    assert_quay_error(status, &body, StatusCode::BAD_REQUEST);
}
