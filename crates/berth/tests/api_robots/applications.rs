//! OAuth applications of organizations and their scoped access tokens.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{ADMIN, Server, basic_auth};
use crate::{
    access, admin, assert_quay_error, bearer, call, create_org, create_repo, database, kinds, log_entries,
    registry_access,
};

#[tokio::test]
async fn oauth_applications_and_their_scoped_tokens() {
    let s = Server::start().await;
    let db = database(&s).await;
    let admin = admin();
    create_org(&s, &admin, "acme").await;
    create_repo(&s, &admin, "acme", "app").await;

    let (status, app, _) = call(
        &s,
        Method::POST,
        "/organization/acme/applications",
        Some(&admin),
        Some(json!({
            "name": "Deployer",
            "description": "deploys things",
            "application_uri": "https://deploy.example",
            "redirect_uri": "https://deploy.example/cb",
            "avatar_email": "deploy@example.com",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    let secret = app["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(client_id.len(), 20);
    assert_eq!(secret.len(), 40);
    assert_eq!(app["name"], "Deployer");
    assert_eq!(app["redirect_uri"], "https://deploy.example/cb");
    assert_eq!(app["avatar_email"], "deploy@example.com");

    let base = format!("/organization/acme/applications/{client_id}");
    let (status, list, text) = call(
        &s,
        Method::GET,
        "/organization/acme/applications",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["applications"][0]["client_id"], client_id.as_str());
    assert!(list["applications"][0].get("client_secret").is_none() && !text.contains(&secret));
    let (status, one, text) = call(&s, Method::GET, &base, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["description"], "deploys things");
    assert!(one.get("client_secret").is_none() && !text.contains(&secret));

    // Public information, for anyone.
    let (status, public, _) = call(&s, Method::GET, &format!("/app/{client_id}"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["name"], "Deployer");
    assert_eq!(public["uri"], "https://deploy.example");
    assert_eq!(public["description"], "deploys things");
    assert_eq!(public["organization"]["name"], "acme");
    assert_eq!(public["avatar"]["kind"], "app");
    let (status, _, _) = call(&s, Method::GET, "/app/NOSUCHCLIENT", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Update: Quay's three required fields; bad URIs are refused.
    let (status, body, _) = call(&s, Method::PUT, &base, Some(&admin), Some(json!({ "name": "x" }))).await;
    assert_quay_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body, _) = call(
        &s,
        Method::PUT,
        &base,
        Some(&admin),
        Some(json!({ "name": "Deployer 2", "redirect_uri": "javascript:alert(1)", "application_uri": "" })),
    )
    .await;
    assert_quay_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, updated, _) = call(
        &s,
        Method::PUT,
        &base,
        Some(&admin),
        Some(json!({ "name": "Deployer 2", "redirect_uri": "https://d2.example/cb", "application_uri": "https://d2.example" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Deployer 2");
    assert_eq!(updated["description"], "");
    assert!(updated.get("client_secret").is_none());
    let (status, body, _) = call(
        &s,
        Method::POST,
        "/organization/acme/applications",
        Some(&admin),
        Some(json!({ "name": "" })),
    )
    .await;
    assert_quay_error(status, &body, StatusCode::BAD_REQUEST);

    // Reset: a new secret, shown once.
    let (status, reset, _) = call(
        &s,
        Method::POST,
        &format!("{base}/resetclientsecret"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let secret2 = reset["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(secret2, secret);
    let (_, _, text) = call(&s, Method::GET, &base, Some(&admin), None).await;
    assert!(!text.contains(&secret2));

    // A token with repo:read only: reads, but administers nothing.
    let (status, made, _) = call(
        &s,
        Method::POST,
        &format!("{base}/tokens"),
        Some(&admin),
        Some(json!({ "scope": "repo:read" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["token_type"], "Bearer");
    assert_eq!(made["token"], made["access_token"]);
    assert_eq!(made["created_by"], ADMIN);
    assert!(made["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(made["scope"], "repo:read");
    assert_eq!(made["expires_in"], 10 * 365 * 86_400);
    let read_token = made["access_token"].as_str().unwrap().to_owned();
    let read_uuid = made["uuid"].as_str().unwrap().to_owned();
    let (status, body, _) = call(
        &s,
        Method::PUT,
        "/user/robots/xbot",
        Some(&bearer(&read_token)),
        None,
    )
    .await;
    assert_quay_error(status, &body, StatusCode::FORBIDDEN);
    let (status, _, _) = call(&s, Method::GET, "/user/", Some(&bearer(&read_token)), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(
        &s,
        Method::GET,
        "/organization/acme/robots",
        Some(&bearer(&read_token)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // At /v2/auth the scope caps the admin's rights at pull.
    assert_eq!(
        registry_access(&s, "$oauthtoken", &read_token, "repository:acme/app:pull,push")
            .await
            .unwrap(),
        access("acme/app", &["pull"])
    );

    // With user:admin (comma-separated, with a short life) the same call works.
    let (status, made, _) = call(
        &s,
        Method::POST,
        &format!("{base}/tokens"),
        Some(&admin),
        Some(json!({ "scope": "user:admin,repo:write", "expires_in": 3600 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["scope"], "repo:write user:admin");
    assert_eq!(made["expires_in"], 3600);
    let admin_token = made["access_token"].as_str().unwrap().to_owned();
    let (status, robot, _) = call(
        &s,
        Method::PUT,
        "/user/robots/xbot",
        Some(&bearer(&admin_token)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{robot}");
    assert_eq!(robot["name"], "admin+xbot");
    assert_eq!(
        registry_access(&s, "$oauthtoken", &admin_token, "repository:acme/app:pull,push")
            .await
            .unwrap(),
        access("acme/app", &["pull", "push"])
    );

    // Unknown scopes and bad lifetimes are 400; a superuser may grant super:user.
    for bad in [
        json!({ "scope": "repo:read repo:everything" }),
        json!({ "scope": "" }),
        json!({ "scope": "repo:read", "expires_in": 0 }),
        json!({ "scope": "repo:read", "expires_in": -5 }),
        json!({}),
    ] {
        let (status, body, _) = call(
            &s,
            Method::POST,
            &format!("{base}/tokens"),
            Some(&admin),
            Some(bad),
        )
        .await;
        assert_quay_error(status, &body, StatusCode::BAD_REQUEST);
    }
    let (status, made, _) = call(
        &s,
        Method::POST,
        &format!("{base}/tokens"),
        Some(&admin),
        Some(json!({ "scope": "super:user", "expiration": 600 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["expires_in"], 600);
    let su_token = made["access_token"].as_str().unwrap().to_owned();
    let (status, _, _) = call(
        &s,
        Method::GET,
        "/superuser/users/",
        Some(&bearer(&su_token)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The token list shows no secrets.
    let (status, tokens, text) = call(&s, Method::GET, &format!("{base}/tokens"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tokens["tokens"].as_array().unwrap().len(), 3);
    assert_eq!(tokens["tokens"][2]["uuid"], read_uuid.as_str());
    assert_eq!(tokens["tokens"][2]["created_by"], ADMIN);
    for secret in [&read_token, &admin_token, &su_token] {
        assert!(!text.contains(secret.as_str()));
    }

    // A non-superuser administering their own organization cannot grant
    // super:user, nor more than their own credential carries.
    s.create_user("alice", "alice-password", false);
    let alice = basic_auth("alice", "alice-password");
    create_org(&s, &alice, "alicorp").await;
    let (status, app2, _) = call(
        &s,
        Method::POST,
        "/organization/alicorp/applications",
        Some(&alice),
        Some(json!({ "name": "Mine" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let base2 = format!(
        "/organization/alicorp/applications/{}",
        app2["client_id"].as_str().unwrap()
    );
    let (status, body, _) = call(
        &s,
        Method::POST,
        &format!("{base2}/tokens"),
        Some(&alice),
        Some(json!({ "scope": "super:user" })),
    )
    .await;
    assert_quay_error(status, &body, StatusCode::FORBIDDEN);
    let (status, made, _) = call(
        &s,
        Method::POST,
        &format!("{base2}/tokens"),
        Some(&alice),
        Some(json!({ "scope": "org:admin" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let org_token = made["access_token"].as_str().unwrap().to_owned();
    let (status, body, _) = call(
        &s,
        Method::POST,
        &format!("{base2}/tokens"),
        Some(&bearer(&org_token)),
        Some(json!({ "scope": "user:admin" })),
    )
    .await;
    assert_quay_error(status, &body, StatusCode::FORBIDDEN);
    let (status, _, _) = call(
        &s,
        Method::POST,
        &format!("{base2}/tokens"),
        Some(&bearer(&org_token)),
        Some(json!({ "scope": "org:admin" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Alice administers nothing of acme's, and acme's app is not alicorp's.
    for (method, path) in [
        (Method::GET, "/organization/acme/applications".to_owned()),
        (Method::GET, base.clone()),
        (Method::POST, format!("{base}/resetclientsecret")),
        (Method::GET, format!("{base}/tokens")),
        (Method::DELETE, format!("{base}/tokens/{read_uuid}")),
    ] {
        let (status, body, _) = call(&s, method.clone(), &path, Some(&alice), None).await;
        assert_quay_error(status, &body, StatusCode::FORBIDDEN);
        let (status, body, _) = call(&s, method, &path, None, None).await;
        assert_quay_error(status, &body, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = call(
        &s,
        Method::GET,
        &format!("/organization/alicorp/applications/{client_id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revoking a token: it stops working at once.
    let (status, _, _) = call(
        &s,
        Method::DELETE,
        &format!("{base}/tokens/{read_uuid}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, _) = call(
        &s,
        Method::GET,
        "/organization/acme/robots",
        Some(&bearer(&read_token)),
        None,
    )
    .await;
    assert_quay_error(status, &body, StatusCode::UNAUTHORIZED);
    assert_eq!(
        registry_access(&s, "$oauthtoken", &read_token, "repository:acme/app:pull").await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let (status, _, _) = call(
        &s,
        Method::DELETE,
        &format!("{base}/tokens/{read_uuid}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the application revokes its tokens.
    let (status, _, _) = call(&s, Method::DELETE, &base, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&s, Method::GET, &base, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&s, Method::GET, "/user/robots", Some(&bearer(&admin_token)), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let log = log_entries(&db, "acme").await;
    let app_kinds: Vec<&str> = kinds(&log)
        .into_iter()
        .filter(|k| k.contains("application") || k.starts_with("oauth_token"))
        .collect();
    assert_eq!(
        app_kinds,
        [
            "create_application",
            "update_application",
            "reset_application_client_secret",
            "oauth_token_assigned",
            "oauth_token_assigned",
            "oauth_token_assigned",
            "oauth_token_revoked",
            "delete_application",
        ]
    );
    let all = serde_json::to_string(&log).unwrap();
    for secret in [&secret, &secret2, &read_token, &admin_token] {
        assert!(!all.contains(secret.as_str()), "a secret reached the log");
    }
}
