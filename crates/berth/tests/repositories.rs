//! Repositories through the REST API: the listing (its required filters,
//! pages and visibility), deletion (the name is free at once, nothing of
//! the old repository comes back, the usage log records it) and the API
//! document naming every lifecycle endpoint.
#![allow(clippy::unwrap_used)]

mod common;

use common::Server;
use common::api::{assert_api_error, history, logged, resolve};
use serde_json::{Value, json};

#[tokio::test]
async fn repositories_are_listed_a_page_at_a_time_and_deleted() {
    let s = Server::start().await;
    for i in 0..102 {
        let r = s
            .client
            .post(s.url("/api/v1/repository"))
            .json(&json!({
                "namespace": "acme", "repository": format!("r{i:03}"),
                "visibility": "private", "description": format!("number {i}"),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    s.push_image("other/app", "v1", 1).await;

    let r = s.get("/api/v1/repository").await;
    assert_api_error(r, 400, "invalid_request", "namespace, starred or public").await;
    let first = s
        .get_json("/api/v1/repository?namespace=acme&last_modified=true&popularity=true")
        .await;
    let repos = first["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 100);
    assert_eq!(repos[0]["namespace"], "acme");
    assert_eq!(repos[0]["name"], "r000");
    assert_eq!(repos[0]["description"], "number 0");
    assert_eq!(repos[0]["is_public"], false);
    assert_eq!(repos[0]["kind"], "image");
    assert!(repos[0]["last_modified"].is_i64());
    assert_eq!(repos[0]["popularity"], 0.0);
    let token = first["next_page"].as_str().unwrap();
    let second = s
        .get_json(&format!("/api/v1/repository?namespace=acme&next_page={token}"))
        .await;
    let names: Vec<&str> = second["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r100", "r101"]);
    assert!(second.get("next_page").is_none());
    let r = s.get("/api/v1/repository?namespace=acme&next_page=%%%").await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        s.get_json("/api/v1/repository?starred=true").await,
        json!({ "repositories": [] })
    );
    // Anonymous callers see public repositories only.
    let r = s
        .client
        .post(s.url("/api/v1/repository/other/app/changevisibility"))
        .json(&json!({"visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let anon: Value = s
        .anon
        .get(s.url("/api/v1/repository?public=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<String> = anon["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["namespace"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(listed, ["other/app"]);

    // Deleting a repository frees its name at once; nothing of it remains.
    let (_, old) = s.push_image("acme/r000", "v1", 1).await;
    assert_eq!(s.delete("/api/v1/repository/acme/r000").await.status(), 204);
    assert!(logged(&s, "acme", "delete_repo", json!({"repo": "r000"})).await);
    assert_eq!(s.get("/api/v1/repository/acme/r000").await.status(), 404);
    assert_eq!(
        s.get(&format!("/v2/acme/r000/manifests/{old}")).await.status(),
        404
    );
    assert_eq!(s.delete("/api/v1/repository/acme/r000").await.status(), 403);
    let (_, new) = s.push_image("acme/r000", "v2", 1).await;
    assert_eq!(
        s.get(&format!("/v2/acme/r000/manifests/{old}")).await.status(),
        404
    );
    assert_eq!(resolve(&s, "acme/r000", "v1").await, None);
    assert_eq!(
        resolve(&s, "acme/r000", "v2").await.as_deref(),
        Some(new.as_str())
    );
    assert_eq!(history(&s, "acme/r000", "v1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn the_lifecycle_endpoints_are_in_the_api_document() {
    let s = Server::start().await;
    let doc = s.get_json("/api/v1/discovery").await;
    let mut ids = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op["operationId"].as_str() {
                ids.push(format!("{method} {path} {id}"));
            }
        }
    }
    for expected in [
        "get /repository listRepos",
        "delete /repository/{namespace}/{repository} deleteRepository",
        "get /repository/{namespace}/{repository}/tag/ listRepoTags",
        "put /repository/{namespace}/{repository}/tag/{tag} changeTag",
        "delete /repository/{namespace}/{repository}/tag/{tag} deleteFullTag",
        "post /repository/{namespace}/{repository}/tag/{tag}/restore restoreTag",
        "put /user/ changeUserDetails",
    ] {
        assert!(
            ids.iter().any(|i| i == expected),
            "{expected} missing from {ids:?}"
        );
    }
}

#[tokio::test]
async fn request_bodies_refuse_unknown_fields_and_views_are_documented() {
    let s = Server::start().await;
    s.push_image("acme/app", "v1", 1).await;
    let send = |method: reqwest::Method, path: &str, body: Value| {
        s.client
            .request(method, s.url(&format!("/api/v1{path}")))
            .json(&body)
            .send()
    };
    use reqwest::Method as M;
    for (method, path, body, field) in [
        (
            M::POST,
            "/repository",
            json!({ "namespace": "acme", "repository": "new", "visibility": "private", "colour": "red" }),
            "colour",
        ),
        (
            M::PUT,
            "/repository/acme/app",
            json!({ "description": "d", "extra": 1 }),
            "extra",
        ),
        (
            M::POST,
            "/repository/acme/app/changevisibility",
            json!({ "visibility": "public", "why": "because" }),
            "why",
        ),
        (
            M::PUT,
            "/repository/acme/app/tag/v1",
            json!({ "expiration": null, "bogus": 1 }),
            "bogus",
        ),
        (
            M::POST,
            "/repository/acme/app/tag/v1/restore",
            json!({ "manifest_digest": "sha256:00", "force": true }),
            "force",
        ),
        (
            M::POST,
            "/repository/acme/app/exportlogs",
            json!({ "nope": 1 }),
            "nope",
        ),
    ] {
        let r = send(method, path, body).await.unwrap();
        assert_api_error(r, 400, "invalid_request", field).await;
    }
    // Nothing was created or changed by the refused requests.
    assert_eq!(s.get("/api/v1/repository/acme/new").await.status(), 404);
    assert_eq!(
        s.get_json("/api/v1/repository/acme/app").await["is_public"],
        false
    );

    let doc = s.get_json("/api/v1/discovery").await;
    let schemas = &doc["components"]["schemas"];
    for name in [
        "RepoView",
        "RepoListView",
        "TagListView",
        "QuotaView",
        "QuotaLimitView",
        "LogPageView",
        "AggregateView",
        "Avatar",
        "NewRepo",
        "ChangeTag",
    ] {
        assert!(schemas.get(name).is_some(), "{name} is not in the API document");
    }
}
