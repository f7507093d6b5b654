//! The tag lifecycle through the real binary: expiry planned by the
//! `quay.expires-after` label or through the tag API, expired tags no
//! longer resolving, the time machine (restore within the namespace's
//! window), tag history with its filters and pages, and the usage log of
//! every change.
#![allow(clippy::unwrap_used)]

mod common;

use common::api::{assert_api_error, history, logged, now_s, resolve, tag_list};
use common::cli::{file_digest, skopeo, skopeo_round_trip};
use common::{OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Server, eventually, random_bytes, run, unique_seed};
use serde_json::{Value, json};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Push an image whose config holds `labels` (OCI, or Docker schema 2 when
/// `docker`), with manifest `annotations` if given, tagged `tag`; returns
/// the manifest digest.
async fn push_labeled(
    s: &Server,
    repo: &str,
    tag: &str,
    labels: Value,
    annotations: Option<Value>,
    docker: bool,
) -> String {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": labels },
        "seed": unique_seed(),
    })
    .to_string()
    .into_bytes();
    let config_digest = s.push_blob(repo, &config).await;
    let layer = random_bytes(500, unique_seed());
    let layer_digest = s.push_blob(repo, &layer).await;
    let (media_type, config_type, layer_type) = if docker {
        (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
    } else {
        (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    };
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": { "mediaType": config_type, "digest": config_digest, "size": config.len() },
        "layers": [{ "mediaType": layer_type, "digest": layer_digest, "size": layer.len() }],
    });
    if let Some(a) = annotations {
        manifest["annotations"] = a;
    }
    let body = manifest.to_string().into_bytes();
    let r = s.put_manifest(repo, tag, media_type, &body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    common::sha256(&body)
}

/// `PUT .../tag/{tag}` with `body` through `client`.
async fn put_tag(
    s: &Server,
    client: &reqwest::Client,
    repo: &str,
    tag: &str,
    body: Value,
) -> reqwest::Response {
    client
        .put(s.url(&format!("/api/v1/repository/{repo}/tag/{tag}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `POST .../tag/{tag}/restore` with `body` through `client`.
async fn restore(
    s: &Server,
    client: &reqwest::Client,
    repo: &str,
    tag: &str,
    body: Value,
) -> reqwest::Response {
    client
        .post(s.url(&format!("/api/v1/repository/{repo}/tag/{tag}/restore")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_expires_after_label_plans_a_tags_expiry() {
    let s = Server::start().await;
    // OCI image config label.
    let oci = push_labeled(
        &s,
        "acme/app",
        "oci",
        json!({"quay.expires-after": "2h"}),
        None,
        false,
    )
    .await;
    // Docker schema 2 config label; m means minutes.
    push_labeled(
        &s,
        "acme/app",
        "docker",
        json!({"quay.expires-after": "20m"}),
        None,
        true,
    )
    .await;
    // An OCI manifest annotation wins over the config label.
    push_labeled(
        &s,
        "acme/app",
        "annotated",
        json!({"quay.expires-after": "2h"}),
        Some(json!({"quay.expires-after": "3d"})),
        false,
    )
    .await;
    // Invalid values and other labels plan nothing.
    push_labeled(
        &s,
        "acme/app",
        "invalid",
        json!({"quay.expires-after": "soon"}),
        None,
        false,
    )
    .await;
    push_labeled(&s, "acme/app", "plain", json!({"maintainer": "me"}), None, false).await;

    for (tag, seconds) in [
        ("oci", Some(7200)),
        ("docker", Some(1200)),
        ("annotated", Some(3 * 86_400)),
    ] {
        let rows = history(&s, "acme/app", tag).await;
        assert_eq!(rows.len(), 1, "{tag}");
        let row = &rows[0];
        let start = row["start_ts"].as_i64().unwrap();
        assert_eq!(
            row["end_ts"].as_i64().map(|end| end - start),
            seconds,
            "{tag}: {row}"
        );
        assert!(row["expiration"].as_str().unwrap().ends_with("-0000"), "{row}");
        // Planned, not yet passed: the tag resolves and is active.
        assert!(resolve(&s, "acme/app", tag).await.is_some());
    }
    assert_eq!(history(&s, "acme/app", "oci").await[0]["manifest_digest"], oci);
    for tag in ["invalid", "plain"] {
        let row = &history(&s, "acme/app", tag).await[0];
        assert!(
            row.get("end_ts").is_none() && row.get("expiration").is_none(),
            "{row}"
        );
    }
    let active = tag_list(&s, "acme/app", "onlyActiveTags=true").await;
    assert_eq!(active["tags"].as_array().unwrap().len(), 5);

    // The repository view shows the planned expirations too.
    let view = s.get_json("/api/v1/repository/acme/app").await;
    assert!(view["tags"]["oci"]["expiration"].is_string(), "{view}");
    assert!(view["tags"]["plain"]["expiration"].is_null(), "{view}");
}

#[tokio::test]
async fn an_expired_tag_stops_resolving_and_the_time_machine_restores_it() {
    // Expirations down to one second; the workers run every second.
    let s = Server::start_with_config(
        "LABELED_EXPIRATION_MINIMUM: 1s\nUPLOAD_LEASE_S: 1\nTAG_EXPIRATION_OPTIONS: [0s, 1d, 2w]\n",
    )
    .await;
    let repo = "admin/app";
    let (_, digest) = s.push_image(repo, "v1", 1).await;

    let expiration = now_s() + 4;
    let r = put_tag(&s, &s.client, repo, "v1", json!({ "expiration": expiration })).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap(), json!("Updated"));
    let row = &history(&s, repo, "v1").await[0];
    assert_eq!(row["end_ts"], expiration, "{row}");
    assert!(
        logged(
            &s,
            "admin",
            "change_tag_expiration",
            json!({"tag": "v1", "expiration_date": expiration})
        )
        .await
    );

    eventually("the expired tag stops resolving", || async {
        resolve(&s, repo, "v1").await.is_none()
    })
    .await;
    let list: Value = s.get_json(&format!("/v2/{repo}/tags/list")).await;
    assert_eq!(list["tags"], json!([]));
    assert_eq!(tag_list(&s, repo, "onlyActiveTags=true").await["tags"], json!([]));
    let rows = history(&s, repo, "v1").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["end_ts"], expiration);
    assert_eq!(rows[0]["manifest_digest"], digest);
    assert!(
        s.get_json(&format!("/api/v1/repository/{repo}")).await["tags"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    // The worker records the expiry in the usage log, without a performer.
    eventually("the expiry is logged", || {
        logged(
            &s,
            "admin",
            "delete_tag",
            json!({"tag": "v1", "expired": true, "manifest_digest": digest}),
        )
    })
    .await;

    // Restore: the tag resolves to the same manifest again, in a new row
    // marked as a reversion.
    let r = restore(&s, &s.client, repo, "v1", json!({ "manifest_digest": digest })).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    assert_eq!(resolve(&s, repo, "v1").await.as_deref(), Some(digest.as_str()));
    let rows = history(&s, repo, "v1").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["reversion"], true);
    assert!(rows[0].get("end_ts").is_none());
    assert_eq!(rows[1]["reversion"], false);
    assert!(
        logged(
            &s,
            "admin",
            "revert_tag",
            json!({"tag": "v1", "manifest_digest": digest})
        )
        .await
    );

    // With a window of 0 s a deleted tag is gone at once; with one day it
    // is restorable again.
    let user = s
        .client
        .put(s.url("/api/v1/user/"))
        .json(&json!({ "tag_expiration_s": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200);
    assert_eq!(user.json::<Value>().await.unwrap()["tag_expiration_s"], 0);
    assert_eq!(
        s.get_json(&format!("/api/v1/repository/{repo}")).await["tag_expiration_s"],
        0
    );
    assert!(
        logged(
            &s,
            "admin",
            "user_change_tag_expiration",
            json!({"tag_expiration": 0})
        )
        .await
    );
    assert_eq!(
        s.delete(&format!("/api/v1/repository/{repo}/tag/v1"))
            .await
            .status(),
        204
    );
    let r = restore(&s, &s.client, repo, "v1", json!({ "manifest_digest": digest })).await;
    assert_api_error(r, 404, "not_found", "time-machine window").await;
    let user = s
        .client
        .put(s.url("/api/v1/user/"))
        .json(&json!({ "tag_expiration_s": 86_400 }))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200);
    let r = restore(&s, &s.client, repo, "v1", json!({ "manifest_digest": digest })).await;
    assert_eq!(r.status(), 200);
    assert_eq!(resolve(&s, repo, "v1").await.as_deref(), Some(digest.as_str()));

    // Only configured windows may be chosen.
    let r = s
        .client
        .put(s.url("/api/v1/user/"))
        .json(&json!({ "tag_expiration_s": 12_345 }))
        .send()
        .await
        .unwrap();
    assert_api_error(r, 400, "invalid_request", "tag expiration").await;
    let r = s
        .client
        .put(s.url("/api/v1/user/"))
        .json(&json!({ "password": "new-password-123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(s.get_json("/api/v1/user/").await["tag_expiration_s"], 86_400);
}

#[tokio::test]
async fn delete_then_restore_then_pull_gives_the_same_manifest() {
    let s = Server::start().await;
    let host = s.host().to_owned();
    let image = skopeo_round_trip(&host, "acme/tm", &[3000, 1000]);
    let dest = format!("docker://{host}/acme/tm:v1");

    assert_eq!(s.delete("/api/v1/repository/acme/tm/tag/v1").await.status(), 204);
    assert!(logged(&s, "acme", "delete_tag", json!({"tag": "v1"})).await);
    let gone = skopeo(&host)
        .args(["inspect", "--raw", "--tls-verify=false", &dest])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "a deleted tag no longer pulls");
    // Deleting it again is a 404: it is not live any more.
    let r = s.delete("/api/v1/repository/acme/tm/tag/v1").await;
    assert_api_error(r, 404, "not_found", "v1").await;

    let r = restore(
        &s,
        &s.client,
        "acme/tm",
        "v1",
        json!({ "manifest_digest": image.digest }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let raw = run(skopeo(&host).args(["inspect", "--raw", "--tls-verify=false", &dest]));
    assert_eq!(common::sha256(raw.as_bytes()), image.digest);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    run(skopeo(&host)
        .args(["copy", "--src-tls-verify=false", &dest])
        .arg(format!("dir:{}", out.display())));
    assert_eq!(file_digest(&out.join("manifest.json")), image.digest);
}

#[tokio::test]
async fn tag_history_pages_and_filters() {
    let s = Server::start().await;
    let repo = "acme/hist";
    let (_, one) = s.push_image(repo, "latest", 1).await;
    let (_, two) = s.push_image(repo, "latest", 1).await;
    s.push_image(repo, "stable_1", 1).await;
    // Create a tag and move it through the API.
    let r = put_tag(&s, &s.client, repo, "prod", json!({ "manifest_digest": one })).await;
    assert_eq!(r.status(), 201);
    let r = put_tag(&s, &s.client, repo, "prod", json!({ "manifest_digest": two })).await;
    assert_eq!(r.status(), 201);
    assert_eq!(resolve(&s, repo, "prod").await.as_deref(), Some(two.as_str()));
    assert!(
        logged(
            &s,
            "acme",
            "create_tag",
            json!({"tag": "prod", "manifest_digest": one})
        )
        .await
    );
    assert!(
        logged(
            &s,
            "acme",
            "move_tag",
            json!({"tag": "prod", "manifest_digest": two, "original_manifest_digest": one})
        )
        .await
    );

    // Five rows: latest twice and prod twice (the first of each ended),
    // and stable_1.
    let all = tag_list(&s, repo, "").await;
    assert_eq!(all["page"], 1);
    assert_eq!(all["has_additional"], false);
    let rows = all["tags"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows.iter().filter(|r| r.get("end_ts").is_some()).count(), 2);
    for r in rows {
        assert!(r["size"].as_i64().unwrap() > 0);
        assert_eq!(r["is_manifest_list"], false);
        assert!(r["last_modified"].is_string());
    }
    // Newest first.
    let starts: Vec<i64> = rows.iter().map(|r| r["start_ts"].as_i64().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "{starts:?}");

    // Pages of two.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let v = tag_list(&s, repo, &format!("limit=2&page={page}")).await;
        assert_eq!(v["page"], page);
        assert_eq!(v["has_additional"], page < 3, "page {page}");
        seen.extend(v["tags"].as_array().unwrap().iter().cloned());
    }
    // Security summaries change while the background indexer catches up,
    // and pull counts when the pull-statistics writer flushes its tallies;
    // the pages are what is compared here.
    let unscanned = |rows: &[serde_json::Value]| -> Vec<serde_json::Value> {
        rows.iter()
            .cloned()
            .map(|mut r| {
                if let Some(o) = r.as_object_mut() {
                    for moving in ["security_summary", "pull_count", "last_pulled"] {
                        o.remove(moving);
                    }
                }
                r
            })
            .collect()
    };
    assert_eq!(unscanned(&seen), unscanned(rows));
    // limit is clamped to 1..=100.
    assert_eq!(
        tag_list(&s, repo, "limit=0").await["tags"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        tag_list(&s, repo, "limit=1000").await["tags"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    let names = |v: Value| -> Vec<String> {
        v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(tag_list(&s, repo, "specificTag=prod").await),
        ["prod", "prod"]
    );
    assert_eq!(
        names(tag_list(&s, repo, "filter_tag_name=eq:stable_1").await),
        ["stable_1"]
    );
    // like: is a substring match; `_` is no wildcard.
    assert_eq!(
        names(tag_list(&s, repo, "filter_tag_name=like:ABLE_").await),
        ["stable_1"]
    );
    assert!(names(tag_list(&s, repo, "filter_tag_name=like:e_t").await).is_empty());
    let mut active = names(tag_list(&s, repo, "onlyActiveTags=true").await);
    active.sort();
    assert_eq!(active, ["latest", "prod", "stable_1"]);
    assert_eq!(
        names(tag_list(&s, repo, "onlyActiveTags=true&filter_tag_name=like:lat").await),
        ["latest"]
    );
    let r = s
        .get(&format!("/api/v1/repository/{repo}/tag/?filter_tag_name=prod"))
        .await;
    assert_api_error(r, 400, "invalid_request", "filter_tag_name").await;
    let r = s.get(&format!("/api/v1/repository/{repo}/tag/?limit=many")).await;
    assert_api_error(r, 400, "invalid_request", "limit").await;
    let r = s.get("/api/v1/repository/acme/none/tag/").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn bad_tag_requests_are_refused_with_quay_errors() {
    let s = Server::start().await;
    let repo = "acme/bad";
    let (_, digest) = s.push_image(repo, "v1", 1).await;
    let client = &s.client;

    let r = put_tag(&s, client, repo, "-bad", json!({ "manifest_digest": digest })).await;
    assert_api_error(r, 400, "invalid_request", "Invalid tag").await;
    let r = put_tag(&s, client, repo, "v1", json!({ "expiration": now_s() - 10 })).await;
    assert_api_error(r, 400, "invalid_request", "future").await;
    let r = put_tag(&s, client, repo, "v1", json!({ "expiration": "tomorrow" })).await;
    assert_api_error(r, 400, "invalid_request", "").await;
    let r = put_tag(&s, client, repo, "v2", json!({ "expiration": now_s() + 3600 })).await;
    assert_api_error(r, 404, "not_found", "v2").await;
    let unknown = common::sha256(b"nothing like this was pushed");
    let r = put_tag(&s, client, repo, "v2", json!({ "manifest_digest": unknown })).await;
    assert_api_error(r, 404, "not_found", &unknown).await;
    let r = put_tag(
        &s,
        client,
        repo,
        "v2",
        json!({ "manifest_digest": "sha256:nothex" }),
    )
    .await;
    assert_api_error(r, 400, "invalid_request", "manifest_digest").await;
    let r = restore(&s, client, repo, "v1", json!({})).await;
    assert_api_error(r, 400, "invalid_request", "Missing manifest_digest").await;
    let r = restore(&s, client, repo, "v1", json!({ "manifest_digest": unknown })).await;
    assert_api_error(r, 404, "not_found", "cannot be restored").await;
    let r = restore(
        &s,
        client,
        "acme/none",
        "v1",
        json!({ "manifest_digest": digest }),
    )
    .await;
    assert_eq!(r.status(), 404);
    // Clearing an expiry that was never set changes (and logs) nothing.
    let r = put_tag(&s, client, repo, "v1", json!({ "expiration": null })).await;
    assert_eq!(r.status(), 201);
    assert!(!logged(&s, "acme", "change_tag_expiration", json!({})).await);
    // The clamp: an expiration sooner than LABELED_EXPIRATION_MINIMUM (1 h)
    // after the tag's start is raised to it.
    let r = put_tag(&s, client, repo, "v1", json!({ "expiration": now_s() + 60 })).await;
    assert_eq!(r.status(), 201);
    let row = &history(&s, repo, "v1").await[0];
    assert_eq!(
        row["end_ts"].as_i64().unwrap() - row["start_ts"].as_i64().unwrap(),
        3600
    );

    // Readers may list but not change; anonymous callers must log in.
    let r = s
        .client
        .post(s.url(&format!("/api/v1/repository/{repo}/changevisibility")))
        .json(&json!({"visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.create_user("reader", "reader-password", false);
    let reader = s.client_as("reader", "reader-password");
    let r = reader
        .get(s.url(&format!("/api/v1/repository/{repo}/tag/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refused = [
        put_tag(&s, &reader, repo, "v1", json!({ "manifest_digest": digest })).await,
        restore(&s, &reader, repo, "v1", json!({ "manifest_digest": digest })).await,
        reader
            .delete(s.url(&format!("/api/v1/repository/{repo}/tag/v1")))
            .send()
            .await
            .unwrap(),
        reader
            .delete(s.url(&format!("/api/v1/repository/{repo}")))
            .send()
            .await
            .unwrap(),
    ];
    for r in refused {
        assert_api_error(r, 403, "insufficient_scope", "").await;
    }
    let refused = [
        put_tag(&s, &s.anon, repo, "v1", json!({ "manifest_digest": digest })).await,
        restore(&s, &s.anon, repo, "v1", json!({ "manifest_digest": digest })).await,
        s.anon
            .delete(s.url(&format!("/api/v1/repository/{repo}/tag/v1")))
            .send()
            .await
            .unwrap(),
        s.anon
            .delete(s.url(&format!("/api/v1/repository/{repo}")))
            .send()
            .await
            .unwrap(),
    ];
    for r in refused {
        assert_api_error(r, 401, "invalid_token", "").await;
    }
    assert_eq!(resolve(&s, repo, "v1").await.as_deref(), Some(digest.as_str()));
}
