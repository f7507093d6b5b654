//! Superuser user management and public user views.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Server, basic_auth};
use crate::{admin, assert_quay_error, call, create_org, create_repo, database, kinds, log_entries};

#[tokio::test]
async fn superusers_manage_users() {
    let s = Server::start().await;
    let db = database(&s).await;
    let admin = admin();
    s.create_user("alice", "alice-password", false);
    let alice = basic_auth("alice", "alice-password");

    let (status, list, _) = call(&s, Method::GET, "/superuser/users/", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let users = list["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(
        users[0],
        json!({
            "kind": "user", "name": "admin", "username": "admin", "email": users[0]["email"], "verified": true,
            "avatar": users[0]["avatar"], "super_user": true, "enabled": true,
        })
    );
    assert_eq!(users[1]["name"], "alice");
    assert_eq!(users[1]["super_user"], false);

    // Create: a generated password, shown once, that works.
    let (status, made, _) = call(
        &s,
        Method::POST,
        "/superuser/users/",
        Some(&admin),
        Some(json!({ "username": "carol", "email": "carol@example.com" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["username"], "carol");
    assert_eq!(made["email"], "carol@example.com");
    let password = made["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 8);
    let (status, me, _) = call(
        &s,
        Method::GET,
        "/user/",
        Some(&basic_auth("carol", &password)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "carol");
    let (_, _, text) = call(&s, Method::GET, "/superuser/users/", Some(&admin), None).await;
    assert!(!text.contains(&password));
    let (status, carol, text) = call(&s, Method::GET, "/superuser/users/carol", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(carol["email"], "carol@example.com");
    assert!(!text.contains(&password));

    for bad in [
        json!({ "username": "carol" }),
        json!({ "username": "Bad Name" }),
        json!({ "username": "dave", "email": "not an email" }),
        json!({}),
    ] {
        let (status, body, _) = call(&s, Method::POST, "/superuser/users/", Some(&admin), Some(bad)).await;
        assert_quay_error(status, &body, StatusCode::BAD_REQUEST);
    }

    // Change email, password, enabled, superuser.
    let (status, changed, _) = call(
        &s,
        Method::PUT,
        "/superuser/users/carol",
        Some(&admin),
        Some(json!({ "email": "c@example.org" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["email"], "c@example.org");
    let (status, _, _) = call(
        &s,
        Method::PUT,
        "/superuser/users/carol",
        Some(&admin),
        Some(json!({ "password": "new-carol-password" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(
        &s,
        Method::GET,
        "/user/",
        Some(&basic_auth("carol", &password)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let carol_auth = basic_auth("carol", "new-carol-password");
    let (status, _, _) = call(&s, Method::GET, "/user/", Some(&carol_auth), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = call(
        &s,
        Method::PUT,
        "/superuser/users/carol",
        Some(&admin),
        Some(json!({ "password": "short" })),
    )
    .await;
    assert_quay_error(status, &body, StatusCode::BAD_REQUEST);

    let (status, changed, _) = call(
        &s,
        Method::PUT,
        "/superuser/users/carol",
        Some(&admin),
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changed["enabled"], false);
    let (status, _, _) = call(&s, Method::GET, "/user/", Some(&carol_auth), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, enabled_only, _) = call(
        &s,
        Method::GET,
        "/superuser/users/?disabled=false",
        Some(&admin),
        None,
    )
    .await;
    assert!(
        enabled_only["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["name"] != "carol")
    );
    let (status, _, _) = call(
        &s,
        Method::PUT,
        "/superuser/users/carol",
        Some(&admin),
        Some(json!({ "enabled": true, "superuser": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, list, _) = call(&s, Method::GET, "/superuser/users/", Some(&carol_auth), None).await;
    assert_eq!(status, StatusCode::OK, "a new superuser cannot use the panel");
    assert_eq!(list["users"].as_array().unwrap().len(), 3);

    // Nobody disables, demotes or deletes themselves.
    for body in [json!({ "enabled": false }), json!({ "superuser": false })] {
        let (status, err, _) = call(
            &s,
            Method::PUT,
            "/superuser/users/admin",
            Some(&admin),
            Some(body),
        )
        .await;
        assert_quay_error(status, &err, StatusCode::BAD_REQUEST);
    }
    let (status, err, _) = call(&s, Method::DELETE, "/superuser/users/admin", Some(&admin), None).await;
    assert_quay_error(status, &err, StatusCode::BAD_REQUEST);

    // Refusals.
    for (method, path) in [
        (Method::GET, "/superuser/users/"),
        (Method::POST, "/superuser/users/"),
        (Method::GET, "/superuser/users/carol"),
        (Method::PUT, "/superuser/users/carol"),
        (Method::DELETE, "/superuser/users/carol"),
    ] {
        let body = Some(json!({ "username": "zed" }));
        let (status, err, _) = call(&s, method.clone(), path, Some(&alice), body.clone()).await;
        assert_quay_error(status, &err, StatusCode::FORBIDDEN);
        let (status, err, _) = call(&s, method, path, None, body).await;
        assert_quay_error(status, &err, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = call(&s, Method::GET, "/superuser/users/nobody", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A user whose namespace holds repositories is kept.
    create_repo(&s, &alice, "alice", "app").await;
    let (status, err, _) = call(&s, Method::DELETE, "/superuser/users/alice", Some(&admin), None).await;
    assert_quay_error(status, &err, StatusCode::BAD_REQUEST);

    // Deleting carol takes her robots and logins with her.
    let (status, _, _) = call(&s, Method::PUT, "/user/robots/bot", Some(&carol_auth), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = call(&s, Method::DELETE, "/superuser/users/carol", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&s, Method::GET, "/superuser/users/carol", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&s, Method::GET, "/user/", Some(&carol_auth), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(db.account_by_name("carol+bot").await.unwrap().is_none());

    let log = log_entries(&db, "carol").await;
    assert_eq!(
        kinds(&log)
            .into_iter()
            .filter(|k| k.starts_with("user_"))
            .collect::<Vec<_>>(),
        [
            "user_create",
            "user_change_email",
            "user_change_password",
            "user_disable",
            "user_enable",
            "user_change_superuser",
            "user_delete",
        ]
    );
    assert!(!serde_json::to_string(&log).unwrap().contains(&password));
}

#[tokio::test]
async fn public_user_views_and_discovery() {
    let s = Server::start().await;
    s.create_user("alice", "alice-password", false);
    create_org(&s, &admin(), "acme").await;

    let (status, view, _) = call(&s, Method::GET, "/users/alice", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["anonymous"], false);
    assert_eq!(view["username"], "alice");
    assert_eq!(view["avatar"]["kind"], "user");
    assert!(view.get("email").is_none());
    for missing in ["/users/acme", "/users/nobody", "/users/acme+x"] {
        let (status, body, _) = call(&s, Method::GET, missing, None, None).await;
        assert_quay_error(status, &body, StatusCode::NOT_FOUND);
    }

    let (_, doc, _) = call(&s, Method::GET, "/discovery", None, None).await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, method, op) in [
        ("/user/robots/{robot_shortname}", "put", "createUserRobot"),
        (
            "/organization/{orgname}/robots/{robot_shortname}/regenerate",
            "post",
            "regenerateOrgRobotToken",
        ),
        ("/user/apptoken", "post", "createAppToken"),
        (
            "/organization/{orgname}/applications/{client_id}/tokens",
            "post",
            "createOrganizationApplicationToken",
        ),
        ("/app/{client_id}", "get", "getApplicationInformation"),
        ("/superuser/users/{username}", "delete", "deleteInstallUser"),
        ("/users/{username}", "get", "getUserInformation"),
    ] {
        assert_eq!(paths[path][method]["operationId"], op, "{path}");
    }
}

#[tokio::test]
async fn a_misspelled_field_in_a_user_change_is_refused_by_name() {
    let s = Server::start().await;
    let db = database(&s).await;
    let admin = admin();
    s.create_user("carol", "carol-password", false);

    let (status, body, _) = call(
        &s,
        Method::PUT,
        "/superuser/users/carol",
        Some(&admin),
        Some(json!({ "pasword": "new-carol-password" })),
    )
    .await;
    assert_quay_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("pasword"), "{body}");

    // Nothing changed: the old password still works, nothing was logged.
    let (status, _, _) = call(
        &s,
        Method::GET,
        "/user/",
        Some(&basic_auth("carol", "carol-password")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let log = log_entries(&db, "carol").await;
    assert!(
        kinds(&log).iter().all(|k| !k.starts_with("user_change")),
        "{log:?}"
    );

    // Those who may not use the panel are still refused first.
    let (status, body, _) = call(
        &s,
        Method::PUT,
        "/superuser/users/carol",
        Some(&basic_auth("carol", "carol-password")),
        Some(json!({ "pasword": "x" })),
    )
    .await;
    assert_quay_error(status, &body, StatusCode::FORBIDDEN);
}
