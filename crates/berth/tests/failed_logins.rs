//! Failed logins as a hostile user makes them: bad app and OAuth tokens
//! from many addresses must not lock out the valid tokens of other users
//! (token logins are throttled by address and by token, never by the
//! shared `$app` / `$oauthtoken` names), guesses at one token are still
//! throttled, and a password typed into the user-name field never reaches
//! the usage log.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{Server, basic_auth, eventually};
use serde_json::{Value, json};

/// A client whose connections come from `127.0.0.{n}`: the server knows
/// callers by their peer address.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

/// A token of the right shape (8-character lookup prefix, 32 more
/// characters) that matches nothing.
fn wrong_token(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// The status of `GET path` through `client` with `authorization`.
async fn status(s: &Server, client: &reqwest::Client, path: &str, authorization: &str) -> u16 {
    client
        .get(s.url(path))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// An app token of `user` (password `{user}-password`).
async fn app_token(s: &Server, user: &str) -> String {
    let me = s.client_as(user, &format!("{user}-password"));
    let r: Value = me
        .post(s.url("/api/v1/user/apptoken"))
        .json(&json!({"title": "laptop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"]["token_code"].as_str().unwrap().to_owned()
}

/// An OAuth token of `user` for a new application of their new
/// organization `org`, with `scope`.
async fn oauth_token(s: &Server, user: &str, org: &str, scope: &str) -> String {
    let me = s.client_as(user, &format!("{user}-password"));
    let api = |p: &str| s.url(&format!("/api/v1{p}"));
    let r = me
        .post(api("/organization/"))
        .json(&json!({"name": org}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let app: Value = me
        .post(api(&format!("/organization/{org}/applications")))
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = app["client_id"].as_str().unwrap();
    let token: Value = me
        .post(api(&format!(
            "/organization/{org}/applications/{client_id}/tokens"
        )))
        .json(&json!({"scope": scope}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bad_app_tokens_from_many_addresses_do_not_lock_out_valid_ones() {
    let s = Server::start().await;
    s.create_user("erin", "erin-password", false);
    let code = app_token(&s, "erin").await;
    let auth = "/v2/auth?scope=repository:erin/app:pull";
    // Garbage and well-formed wrong tokens, from six addresses, on every
    // path that takes Basic credentials.
    for n in 2..8 {
        let attacker = client_from(n);
        for secret in ["garbage".to_owned(), wrong_token(&format!("Guess00{n}"))] {
            let bad = basic_auth("$app", &secret);
            for path in [auth, "/v2/", "/api/v1/user/"] {
                assert_ne!(status(&s, &attacker, path, &bad).await, 200, "{path}");
            }
        }
    }
    // Erin's token still works from her own address.
    let good = basic_auth("$app", &code);
    for path in [auth, "/v2/", "/api/v1/user/"] {
        assert_eq!(status(&s, &s.anon, path, &good).await, 200, "{path}");
    }

    // Guessing at one token is still throttled, whatever the address.
    for n in 10..15 {
        let bad = basic_auth("$app", &wrong_token("Guessing"));
        assert_eq!(status(&s, &client_from(n), auth, &bad).await, 401);
    }
    let bad = basic_auth("$app", &wrong_token("Guessing"));
    assert_eq!(status(&s, &client_from(15), auth, &bad).await, 429);
    assert_eq!(status(&s, &s.anon, auth, &good).await, 200);
}

#[tokio::test]
async fn bad_oauth_bearers_from_many_addresses_do_not_lock_out_valid_ones() {
    let s = Server::start().await;
    s.create_user("frank", "frank-password", false);
    let token = oauth_token(&s, "frank", "frankco", "repo:read user:read").await;
    for n in 2..10 {
        let attacker = client_from(n);
        for bad in ["garbage".to_owned(), wrong_token(&format!("Guess00{n}"))] {
            let bearer = format!("Bearer {bad}");
            assert_eq!(status(&s, &attacker, "/api/v1/user/", &bearer).await, 401);
            let basic = basic_auth("$oauthtoken", &bad);
            assert_ne!(
                status(&s, &attacker, "/v2/auth?scope=repository:frank/app:pull", &basic).await,
                200
            );
        }
    }
    let bearer = format!("Bearer {token}");
    assert_eq!(status(&s, &s.anon, "/api/v1/user/", &bearer).await, 200);
    let basic = basic_auth("$oauthtoken", &token);
    assert_eq!(
        status(&s, &s.anon, "/v2/auth?scope=repository:frank/app:pull", &basic).await,
        200
    );
    assert_eq!(status(&s, &s.anon, "/v2/", &basic).await, 200);

    // Guessing at one token is still throttled, whatever the address.
    for n in 10..15 {
        let bad = format!("Bearer {}", wrong_token("Guessing"));
        assert_eq!(status(&s, &client_from(n), "/api/v1/user/", &bad).await, 401);
    }
    let bad = format!("Bearer {}", wrong_token("Guessing"));
    assert_eq!(status(&s, &client_from(15), "/api/v1/user/", &bad).await, 429);
    assert_eq!(status(&s, &s.anon, "/api/v1/user/", &bearer).await, 200);
}

#[tokio::test]
async fn a_password_typed_as_a_user_name_stays_out_of_the_usage_log() {
    let s = Server::start().await;
    s.create_user("carol", "carol-password", false);
    let typed = "Tr0ub4dor-and-3-typed-in-the-wrong-field";
    let robotish = "Tr0ub4dor+and-3-typed-in-the-wrong-field";
    for name in [typed, robotish] {
        let bad = basic_auth(name, "carol-password");
        assert_eq!(
            status(&s, &s.anon, "/v2/auth?scope=repository:carol/x:pull", &bad).await,
            401
        );
        assert_eq!(status(&s, &s.anon, "/api/v1/user/", &bad).await, 401);
    }
    // A failure of an existing account, logged after the others.
    let wrong = basic_auth("carol", "wrong-password");
    assert_eq!(status(&s, &s.anon, "/api/v1/user/", &wrong).await, 401);

    let failures = || async {
        let logs: Value = s.get_json("/api/v1/superuser/logs").await;
        logs["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "login_failure")
            .cloned()
            .collect::<Vec<_>>()
    };
    eventually("the failed logins are logged", || async {
        failures().await.len() >= 5
    })
    .await;
    let text = s.get("/api/v1/superuser/logs").await.text().await.unwrap();
    assert!(!text.contains("Tr0ub4dor"), "{text}");
    // The existing account's failure keeps its name.
    assert!(
        failures()
            .await
            .iter()
            .any(|e| e["metadata"]["username"] == "carol"),
        "{text}"
    );
}
