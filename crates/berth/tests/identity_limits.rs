//! Limits of identity that must hold against a hostile caller: a registry
//! token obtained with an OAuth token lists no more than the OAuth token's
//! scopes allow, robots of a disabled account cannot log in, and two owners
//! removing each other at once never leave an organization without an
//! owner (run this one with `TEST_DB=postgres` too), nor can deleting the
//! last owner's account.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Server, basic_auth};
use serde_json::{Value, json};

/// `{user}-password`.
fn password(user: &str) -> String {
    format!("{user}-password")
}

/// The status of `method path` as `authorization`, with an optional JSON
/// body.
async fn call(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    authorization: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s
        .anon
        .request(method, s.url(path))
        .header("authorization", authorization);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The repositories `GET /v2/_catalog` lists with a registry token that
/// `$oauthtoken` and `token` obtain.
async fn catalog_through_oauth_login(s: &Server, token: &str) -> Vec<String> {
    let (status, body) = call(
        s,
        reqwest::Method::GET,
        "/v2/auth?scope=registry:catalog:*",
        &basic_auth("$oauthtoken", token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let bearer = format!("Bearer {}", body["token"].as_str().unwrap());
    let (status, body) = call(s, reqwest::Method::GET, "/v2/_catalog", &bearer, None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body["repositories"].clone()).unwrap()
}

#[tokio::test]
async fn registry_tokens_from_oauth_logins_list_only_what_the_scopes_allow() {
    let s = Server::start().await;
    s.create_user("gina", &password("gina"), false);
    let gina = s.client_as("gina", &password("gina"));
    let auth = basic_auth("gina", &password("gina"));
    s.push_image_via(&gina, "gina/secret", "v1", 1).await;
    s.push_image_via(&gina, "gina/open", "v1", 1).await;
    let (status, body) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/repository/gina/open/changevisibility",
        &auth,
        Some(json!({"visibility": "public"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/organization/",
        &auth,
        Some(json!({"name": "ginaco"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, app) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/organization/ginaco/applications",
        &auth,
        Some(json!({"name": "ci"})),
    )
    .await;
    let client_id = app["client_id"].as_str().unwrap();
    let oauth = |scope: &'static str| {
        let path = format!("/api/v1/organization/ginaco/applications/{client_id}/tokens");
        let s = &s;
        let auth = &auth;
        async move {
            let (status, token) = call(
                s,
                reqwest::Method::POST,
                &path,
                auth,
                Some(json!({"scope": scope})),
            )
            .await;
            assert_eq!(status, 200, "{token}");
            token["access_token"].as_str().unwrap().to_owned()
        }
    };
    let user_only = oauth("user:read").await;
    let reader = oauth("repo:read").await;

    // Without a repository scope: what anyone may see, no more.
    let listed = catalog_through_oauth_login(&s, &user_only).await;
    assert!(listed.contains(&"gina/open".to_owned()), "{listed:?}");
    assert!(!listed.contains(&"gina/secret".to_owned()), "{listed:?}");
    let (status, body) = call(
        &s,
        reqwest::Method::GET,
        "/api/v1/repository?namespace=gina",
        &format!("Bearer {user_only}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["open"], "{body}");

    // With `repo:read`: also gina's private repository.
    let listed = catalog_through_oauth_login(&s, &reader).await;
    assert!(listed.contains(&"gina/secret".to_owned()), "{listed:?}");
    assert!(listed.contains(&"gina/open".to_owned()), "{listed:?}");
}

#[tokio::test]
async fn robots_of_a_disabled_user_cannot_log_in() {
    let s = Server::start().await;
    s.create_user("hank", &password("hank"), false);
    let hank = basic_auth("hank", &password("hank"));
    let (status, robot) = call(
        &s,
        reqwest::Method::PUT,
        "/api/v1/user/robots/bot",
        &hank,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{robot}");
    let robot = basic_auth("hank+bot", robot["token"].as_str().unwrap());
    let login = "/v2/auth?scope=repository:hank/app:pull";
    let uses = |expect_401: bool| {
        let s = &s;
        let robot = &robot;
        async move {
            for path in [login, "/v2/", "/api/v1/user/robots"] {
                let (status, _) = call(s, reqwest::Method::GET, path, robot, None).await;
                assert_eq!(status == 401, expect_401, "{path}: {status}");
            }
        }
    };
    uses(false).await;

    let admin = basic_auth(ADMIN, common::ADMIN_PASSWORD);
    let disable = |enabled: bool| {
        let s = &s;
        let admin = &admin;
        async move {
            let (status, body) = call(
                s,
                reqwest::Method::PUT,
                "/api/v1/superuser/users/hank",
                admin,
                Some(json!({ "enabled": enabled })),
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    disable(false).await;
    uses(true).await;
    disable(true).await;
    uses(false).await;
}

#[tokio::test]
async fn owners_removing_each_other_at_once_leave_an_owner() {
    let s = Server::start().await;
    for user in ["alice", "bob"] {
        s.create_user(user, &password(user), false);
    }
    let alice = basic_auth("alice", &password("alice"));
    let bob = basic_auth("bob", &password("bob"));
    for round in 0..20 {
        let org = format!("race{round}");
        let (status, _) = call(
            &s,
            reqwest::Method::POST,
            "/api/v1/organization/",
            &alice,
            Some(json!({ "name": org })),
        )
        .await;
        assert_eq!(status, 201);
        let owners = format!("/api/v1/organization/{org}/team/owners/members");
        let (status, body) = call(&s, reqwest::Method::PUT, &format!("{owners}/bob"), &alice, None).await;
        assert_eq!(status, 200, "{body}");
        // Both ways of removing an owner: from the team, from the
        // organization.
        let remove = |who: &str| match round % 2 {
            0 => format!("{owners}/{who}"),
            _ => format!("/api/v1/organization/{org}/members/{who}"),
        };
        let (remove_bob, remove_alice) = (remove("bob"), remove("alice"));
        let (by_alice, by_bob) = tokio::join!(
            call(&s, reqwest::Method::DELETE, &remove_bob, &alice, None),
            call(&s, reqwest::Method::DELETE, &remove_alice, &bob, None),
        );
        let mut left = Vec::new();
        for who in [&alice, &bob] {
            let (status, body) = call(&s, reqwest::Method::GET, &owners, who, None).await;
            if status == 200 {
                left = body["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| m["is_robot"] == false)
                    .map(|m| m["name"].as_str().unwrap().to_owned())
                    .collect();
                break;
            }
        }
        assert_eq!(
            left.len(),
            1,
            "round {round}: owners left {left:?}; alice's removal {by_alice:?}, bob's {by_bob:?}"
        );
    }
}

#[tokio::test]
async fn the_last_owner_of_an_organization_cannot_be_deleted() {
    let s = Server::start().await;
    for user in ["ivy", "jon"] {
        s.create_user(user, &password(user), false);
    }
    let ivy = basic_auth("ivy", &password("ivy"));
    let admin = basic_auth(ADMIN, common::ADMIN_PASSWORD);
    let (status, _) = call(
        &s,
        reqwest::Method::POST,
        "/api/v1/organization/",
        &ivy,
        Some(json!({ "name": "ivyco" })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = call(
        &s,
        reqwest::Method::DELETE,
        "/api/v1/superuser/users/ivy",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("ivyco"), "{body}");
    let owners = "/api/v1/organization/ivyco/team/owners/members";
    let (status, body) = call(&s, reqwest::Method::GET, owners, &ivy, None).await;
    assert_eq!(status, 200, "{body}");

    // With another owner, the user may go.
    let (status, body) = call(&s, reqwest::Method::PUT, &format!("{owners}/jon"), &ivy, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &s,
        reqwest::Method::DELETE,
        "/api/v1/superuser/users/ivy",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let jon = basic_auth("jon", &password("jon"));
    let (status, body) = call(&s, reqwest::Method::GET, owners, &jon, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["members"][0]["name"], "jon", "{body}");
}
