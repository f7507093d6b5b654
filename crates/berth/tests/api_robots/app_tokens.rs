//! App-specific tokens: shown once, log in as `$app` until revoked.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Server, basic_auth};
use crate::{
    access, admin, assert_quay_error, call, create_repo, database, log_entries, podman_login, registry_access,
};

#[tokio::test]
async fn app_tokens_log_in_as_their_user_until_revoked() {
    let s = Server::start().await;
    let db = database(&s).await;
    s.create_user("bob", "bob-password", false);
    let bob = basic_auth("bob", "bob-password");
    create_repo(&s, &bob, "bob", "app").await;
    create_repo(&s, &admin(), "admin", "private").await;

    let (status, made, _) = call(
        &s,
        Method::POST,
        "/user/apptoken",
        Some(&bob),
        Some(json!({ "title": "laptop" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let t = &made["token"];
    assert_eq!(t["title"], "laptop");
    assert_eq!(t["last_accessed"], Value::Null);
    assert_eq!(t["expiration"], Value::Null);
    assert!(t["created"].as_str().unwrap().ends_with("-0000"));
    let uuid = t["uuid"].as_str().unwrap().to_owned();
    let code = t["token_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 40);

    let (status, list, text) = call(&s, Method::GET, "/user/apptoken", Some(&bob), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(list["tokens"][0]["uuid"], uuid.as_str());
    assert!(list["tokens"][0].get("token_code").is_none() && !text.contains(&code));
    let (status, one, text) = call(
        &s,
        Method::GET,
        &format!("/user/apptoken/{uuid}"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["token"]["title"], "laptop");
    assert!(one["token"].get("token_code").is_none() && !text.contains(&code));

    // `$app` logins act as bob, with bob's rights.
    assert_eq!(
        registry_access(&s, "$app", &code, "repository:bob/app:pull,push")
            .await
            .unwrap(),
        access("bob/app", &["pull", "push"])
    );
    assert_eq!(
        registry_access(&s, "$app", &code, "repository:admin/private:pull,push")
            .await
            .unwrap(),
        access("admin/private", &[])
    );
    assert!(podman_login(&s, "$app", &code));
    let (status, me, _) = call(&s, Method::GET, "/user/", Some(&basic_auth("$app", &code)), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "bob");

    // Other users cannot see or revoke it.
    s.create_user("eve", "eve-password", false);
    let eve = basic_auth("eve", "eve-password");
    let (status, _, _) = call(
        &s,
        Method::GET,
        &format!("/user/apptoken/{uuid}"),
        Some(&eve),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        &s,
        Method::DELETE,
        &format!("/user/apptoken/{uuid}"),
        Some(&eve),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Refusals and bad input.
    let (status, body, _) = call(&s, Method::GET, "/user/apptoken", None, None).await;
    assert_quay_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body, _) = call(
        &s,
        Method::POST,
        "/user/apptoken",
        None,
        Some(json!({ "title": "x" })),
    )
    .await;
    assert_quay_error(status, &body, StatusCode::UNAUTHORIZED);
    for bad in [
        json!({}),
        json!({ "title": "" }),
        json!({ "title": "t".repeat(256) }),
        json!({ "title": 3 }),
    ] {
        let (status, body, _) = call(&s, Method::POST, "/user/apptoken", Some(&bob), Some(bad)).await;
        assert_quay_error(status, &body, StatusCode::BAD_REQUEST);
    }

    let (status, _, _) = call(
        &s,
        Method::DELETE,
        &format!("/user/apptoken/{uuid}"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        registry_access(&s, "$app", &code, "repository:bob/app:pull").await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let (status, _, _) = call(&s, Method::GET, "/user/", Some(&basic_auth("$app", &code)), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(
        &s,
        Method::GET,
        &format!("/user/apptoken/{uuid}"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let log = log_entries(&db, "bob").await;
    let token_log: Vec<&(String, Value)> = log.iter().filter(|(k, _)| k.contains("app_specific")).collect();
    assert_eq!(token_log.len(), 2);
    assert_eq!(token_log[0].0, "create_app_specific_token");
    assert_eq!(token_log[0].1["app_specific_token_title"], "laptop");
    assert_eq!(token_log[1].0, "revoke_app_specific_token");
    assert!(!serde_json::to_string(&log).unwrap().contains(&code));
}
