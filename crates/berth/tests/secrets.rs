//! Secrets are shown once: passwords, robot tokens, app tokens, OAuth
//! client secrets and access tokens appear in no log line (debug level
//! included) and in no API response other than the one that created them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, basic_auth};
use serde_json::{Value, json};

/// Every response seen after the secrets were made, as text (status,
/// headers and body).
struct Seen(Vec<String>);

impl Seen {
    async fn take(&mut self, r: reqwest::Response) -> Value {
        let mut text = format!("{} {:?}\n", r.status(), r.headers());
        let body = r.text().await.unwrap();
        text.push_str(&body);
        self.0.push(text);
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }
}

#[tokio::test]
async fn secrets_appear_only_in_the_response_that_made_them() {
    let mut s = Server::start_capturing_logs().await;
    let password = "alice-secret-password";
    s.create_user("alice", password, false);
    let alice = s.client_as("alice", password);
    let url = |p: &str| s.url(&format!("/api/v1{p}"));
    let mut made = Vec::new(); // (what, secret)
    made.push(("password", password.to_owned()));

    // Secrets made through the API; their creating responses are not
    // scanned, everything after is.
    let r: Value = alice
        .post(url("/organization/"))
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!("Created"));
    let robot: Value = alice
        .put(url("/organization/acme/robots/ci"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    made.push(("robot token", robot["token"].as_str().unwrap().to_owned()));
    let regenerated: Value = alice
        .post(url("/organization/acme/robots/ci/regenerate"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let robot_token = regenerated["token"].as_str().unwrap().to_owned();
    made.push(("regenerated robot token", robot_token.clone()));
    let app_token: Value = alice
        .post(url("/user/apptoken"))
        .json(&json!({"title": "laptop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_code = app_token["token"]["token_code"].as_str().unwrap().to_owned();
    made.push(("app token", app_code.clone()));
    let app: Value = alice
        .post(url("/organization/acme/applications"))
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    made.push(("client secret", app["client_secret"].as_str().unwrap().to_owned()));
    let oauth: Value = alice
        .post(url(&format!(
            "/organization/acme/applications/{client_id}/tokens"
        )))
        .json(&json!({"scope": "repo:read repo:write org:admin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oauth_token = oauth["access_token"].as_str().unwrap().to_owned();
    made.push(("oauth token", oauth_token.clone()));
    let created: Value = s
        .client
        .post(url("/superuser/users/"))
        .json(&json!({"username": "bob", "email": "bob@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bob_password = created["password"].as_str().unwrap().to_owned();
    made.push(("generated password", bob_password.clone()));
    let wrong = "wrong-password-that-must-not-be-logged";
    made.push(("wrong password", wrong.to_owned()));

    // Use every credential, successfully and not, on /v2 and /api/v1.
    let mut seen = Seen(Vec::new());
    let creds = [
        ("alice", password),
        ("acme+ci", robot_token.as_str()),
        ("$app", app_code.as_str()),
        ("$oauthtoken", oauth_token.as_str()),
        ("bob", bob_password.as_str()),
        ("alice", wrong),
        ("acme+ci", made[1].1.as_str()),
    ];
    for (user, secret) in creds {
        let r = s
            .anon
            .get(s.url(&format!(
                "/v2/auth?service={}&scope=repository:acme/app:pull,push",
                s.host()
            )))
            .header("authorization", basic_auth(user, secret))
            .send()
            .await
            .unwrap();
        seen.take(r).await;
        let r = s
            .anon
            .get(url("/user/"))
            .header("authorization", basic_auth(user, secret))
            .send()
            .await
            .unwrap();
        seen.take(r).await;
        let r = s
            .anon
            .get(s.url("/v2/_catalog"))
            .header("authorization", basic_auth(user, secret))
            .send()
            .await
            .unwrap();
        seen.take(r).await;
    }
    let r = s
        .anon
        .get(url("/user/"))
        .header("authorization", format!("Bearer {oauth_token}"))
        .send()
        .await
        .unwrap();
    seen.take(r).await;
    // Every view of the things that hold secrets.
    for path in [
        "/organization/acme/robots",
        "/organization/acme/robots/ci",
        "/user/apptoken",
        "/organization/acme/applications",
        &format!("/organization/acme/applications/{client_id}"),
        &format!("/organization/acme/applications/{client_id}/tokens"),
        "/organization/acme/logs",
        "/user/logs",
        "/user/",
    ] {
        let r = alice.get(url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        seen.take(r).await;
    }
    let token_uuid = app_token["token"]["uuid"].as_str().unwrap();
    let r = alice
        .get(url(&format!("/user/apptoken/{token_uuid}")))
        .send()
        .await
        .unwrap();
    seen.take(r).await;
    for path in ["/superuser/users/", "/superuser/users/bob", "/superuser/logs"] {
        let r = s.client.get(url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        seen.take(r).await;
    }

    s.stop();
    let log = std::fs::read_to_string(s.log_file.as_ref().unwrap()).unwrap();
    assert!(log.lines().count() > 50, "the log was captured at debug level");
    for (what, secret) in &made {
        assert!(
            !log.contains(secret.as_str()),
            "the {what} appears in the server log"
        );
        for response in &seen.0 {
            assert!(
                !response.contains(secret.as_str()),
                "the {what} appears in a later response:\n{response}"
            );
        }
    }
    for response in &seen.0 {
        assert!(
            !response.contains("$argon2"),
            "a stored hash appears in a response:\n{response}"
        );
    }
    assert!(!log.contains("$argon2"), "a stored hash appears in the log");
}
