//! Immutable tags through the real binary and real clients: the per-tag
//! flag, organization and repository immutability policies (existing tags
//! included), the `quay.immutable` label, every refused way of changing an
//! immutable tag (push over it, move, restore, delete through the API and
//! `/v2`, expiry), who may release one, and bad input.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;

use std::path::Path;

use api_support::{Admin, BAD, FORBIDDEN, NOT_FOUND, PW, auth, call, del, get, ok, put, refused};
use common::api::{history, logged, now_s, resolve};
use common::cli::skopeo;
use common::layout::{write_image, write_layout_index};
use common::{OCI_MANIFEST, Server, error_code, run, unique_seed};
use reqwest::Method;
use serde_json::{Value, json};

const IMMUTABLE_MESSAGE: &str = "tag is immutable and cannot be overwritten";

/// Whether the tag API shows `repo:tag` (its live row) as immutable.
async fn immutable(s: &Server, repo: &str, tag: &str) -> bool {
    let rows = history(s, repo, tag).await;
    let live = rows
        .iter()
        .find(|r| r.get("end_ts").is_none())
        .unwrap_or_else(|| panic!("{repo}:{tag} has no live row: {rows:?}"));
    live["immutable"].as_bool().unwrap()
}

/// Copy a fresh image to `repo:tag` with skopeo; returns (exit success,
/// stderr, the image's manifest digest).
fn skopeo_push(s: &Server, repo: &str, tag: &str) -> (bool, String, String) {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[300], unique_seed());
    write_layout_index(&layout, &[("v", &image)]);
    let (ok, stderr) = skopeo_copy(s, &layout, repo, tag);
    (ok, stderr, image.digest)
}

fn skopeo_copy(s: &Server, layout: &Path, repo: &str, tag: &str) -> (bool, String) {
    let out = skopeo(s.host())
        .args(["copy", "--dest-tls-verify=false", "--retry-times=0"])
        .arg(format!("oci:{}:v", layout.display()))
        .arg(format!("docker://{}/{repo}:{tag}", s.host()))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn put_tag(s: &Server, repo: &str, tag: &str, body: Value) -> (u16, Value) {
    put(s, Admin, &format!("/repository/{repo}/tag/{tag}"), body).await
}

/// A refusal with Quay's `tag_immutable` body.
#[track_caller]
fn refused_immutable(got: &(u16, Value), what: &str) {
    refused(got, (409, "tag_immutable"));
    let detail = got.1["detail"].as_str().unwrap();
    assert!(detail.contains(what), "{detail}");
}

/// `/v2` answered 409 `TAG_IMMUTABLE` with Quay's message.
async fn assert_v2_immutable(r: reqwest::Response) {
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "TAG_IMMUTABLE", "{v}");
    assert_eq!(v["errors"][0]["message"], IMMUTABLE_MESSAGE, "{v}");
}

#[tokio::test]
async fn an_immutable_tag_refuses_every_change_until_it_is_released() {
    let s = Server::start().await;
    let repo = "acme/app";
    let (pushed, _, first) = skopeo_push(&s, repo, "v1");
    assert!(pushed);
    let (_, second) = s.push_image(repo, "other", 1).await;
    assert!(!immutable(&s, repo, "v1").await);

    ok(&put_tag(&s, repo, "v1", json!({"immutable": true})).await, 201);
    assert!(immutable(&s, repo, "v1").await);
    assert!(
        logged(
            &s,
            "acme",
            "change_tag_immutability",
            json!({"tag": "v1", "immutable": true})
        )
        .await
    );
    // Idempotent.
    ok(&put_tag(&s, repo, "v1", json!({"immutable": true})).await, 201);

    // skopeo pushing another image over it fails, and says why.
    let (pushed, stderr, _) = skopeo_push(&s, repo, "v1");
    assert!(!pushed);
    assert!(stderr.contains(IMMUTABLE_MESSAGE), "{stderr}");
    assert_eq!(resolve(&s, repo, "v1").await.as_deref(), Some(first.as_str()));
    // A raw manifest PUT of another digest: 409 TAG_IMMUTABLE.
    let (other_manifest, _) = s.push_image(repo, "third", 1).await;
    assert_v2_immutable(s.put_manifest(repo, "v1", OCI_MANIFEST, &other_manifest).await).await;
    // The same manifest again changes nothing and is fine.
    let same = s
        .get(&format!("/v2/{repo}/manifests/v1"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        s.put_manifest(repo, "v1", OCI_MANIFEST, &same).await.status(),
        201
    );

    // Moving, restoring, expiring, deleting: all refused.
    refused_immutable(
        &put_tag(&s, repo, "v1", json!({"manifest_digest": second})).await,
        "overwrite",
    );
    let restore = format!("/repository/{repo}/tag/v1/restore");
    refused_immutable(
        &call(
            &s,
            Admin,
            Method::POST,
            &restore,
            Some(json!({"manifest_digest": first})),
        )
        .await,
        "overwrite",
    );
    refused_immutable(
        &put_tag(&s, repo, "v1", json!({"expiration": now_s() + 86_400})).await,
        "set expiration on immutable tag 'v1'",
    );
    refused_immutable(
        &del(&s, Admin, &format!("/repository/{repo}/tag/v1")).await,
        "delete",
    );
    assert_v2_immutable(s.delete(&format!("/v2/{repo}/manifests/v1")).await).await;
    assert_v2_immutable(s.delete(&format!("/v2/{repo}/manifests/{first}")).await).await;
    let row = &history(&s, repo, "v1").await[0];
    assert!(row.get("end_ts").is_none(), "{row}");
    assert_eq!(history(&s, repo, "v1").await.len(), 1);
    assert_eq!(resolve(&s, repo, "v1").await.as_deref(), Some(first.as_str()));

    // The namespace's owner releases it; then it moves and goes as usual.
    ok(&put_tag(&s, repo, "v1", json!({"immutable": false})).await, 201);
    assert!(!immutable(&s, repo, "v1").await);
    assert!(
        logged(
            &s,
            "acme",
            "change_tag_immutability",
            json!({"tag": "v1", "immutable": false})
        )
        .await
    );
    let (pushed, stderr, replaced) = skopeo_push(&s, repo, "v1");
    assert!(pushed, "{stderr}");
    assert_eq!(resolve(&s, repo, "v1").await.as_deref(), Some(replaced.as_str()));
    ok(&del(&s, Admin, &format!("/repository/{repo}/tag/v1")).await, 204);
    assert_eq!(resolve(&s, repo, "v1").await, None);

    // A tag that does not exist cannot be made immutable.
    refused(
        &put_tag(&s, repo, "nosuch", json!({"immutable": true})).await,
        NOT_FOUND,
    );
}

#[tokio::test]
async fn writers_make_tags_immutable_and_administrators_or_superusers_release_them() {
    let s = Server::start_with_config("FEATURE_SUPERUSERS_FULL_ACCESS: true\n").await;
    for u in ["alice", "bob"] {
        s.create_user(u, &format!("{u}{PW}"), false);
    }
    let alice = s.client_as("alice", "alice-password");
    s.push_image_via(&alice, "alice/app", "v1", 1).await;
    let grant = "/repository/alice/app/permissions/user/bob";
    ok(
        &put(&s, api_support::ALICE, grant, json!({"role": "write"})).await,
        200,
    );
    let tag = "/repository/alice/app/tag/v1";

    ok(
        &put(&s, api_support::BOB, tag, json!({"immutable": true})).await,
        201,
    );
    assert!(immutable(&s, "alice/app", "v1").await);
    // A writer may not release it.
    refused(
        &put(&s, api_support::BOB, tag, json!({"immutable": false})).await,
        FORBIDDEN,
    );
    assert!(immutable(&s, "alice/app", "v1").await);
    // A superuser with full access may.
    ok(&put(&s, Admin, tag, json!({"immutable": false})).await, 201);
    assert!(!immutable(&s, "alice/app", "v1").await);
    // And the repository's administrator.
    ok(
        &put(&s, api_support::BOB, tag, json!({"immutable": true})).await,
        201,
    );
    ok(
        &put(&s, api_support::ALICE, tag, json!({"immutable": false})).await,
        201,
    );
    assert!(!immutable(&s, "alice/app", "v1").await);
    // A writer may not manage policies.
    let policies = "/repository/alice/app/immutabilitypolicy/";
    let body = json!({"tagPattern": "v.*"});
    refused(
        &call(&s, api_support::BOB, Method::POST, policies, Some(body)).await,
        FORBIDDEN,
    );
    refused(&get(&s, api_support::BOB, policies).await, FORBIDDEN);
    // Organization policies are for organizations.
    let user_policies = "/organization/alice/immutabilitypolicy/";
    refused(&get(&s, api_support::ALICE, user_policies).await, NOT_FOUND);
    // Bob's push over a tag he made immutable is refused; once its
    // administrator released it, it goes through.
    ok(
        &put(&s, api_support::BOB, tag, json!({"immutable": true})).await,
        201,
    );
    let (replacement, _) = s.push_image_via(&alice, "alice/app", "v2", 1).await;
    let push_as_bob = || {
        s.anon
            .put(s.url("/v2/alice/app/manifests/v1"))
            .header("authorization", auth("bob"))
            .header("content-type", OCI_MANIFEST)
            .body(replacement.clone())
            .send()
    };
    assert_v2_immutable(push_as_bob().await.unwrap()).await;
    ok(
        &put(&s, api_support::ALICE, tag, json!({"immutable": false})).await,
        201,
    );
    assert_eq!(push_as_bob().await.unwrap().status(), 201);
}

#[tokio::test]
async fn policies_hold_matching_tags_existing_and_new_until_they_are_removed() {
    let s = Server::start().await;
    let (app, other) = ("acme/app", "acme/other");
    for tag in ["v1.0", "latest", "dev-1"] {
        s.push_image(app, tag, 1).await;
    }
    s.push_image(other, "v2.0", 1).await;
    let org_policies = "/organization/acme/immutabilitypolicy/";

    // An organization policy holds existing tags of every repository.
    let created = call(
        &s,
        Admin,
        Method::POST,
        org_policies,
        Some(json!({"tagPattern": "v[0-9]"})),
    )
    .await;
    ok(&created, 201);
    let org_uuid = created.1["uuid"].as_str().unwrap().to_owned();
    assert!(immutable(&s, app, "v1.0").await);
    assert!(immutable(&s, other, "v2.0").await);
    assert!(!immutable(&s, app, "latest").await);
    assert!(!immutable(&s, app, "dev-1").await);
    let listed = get(&s, Admin, org_policies).await;
    ok(&listed, 200);
    assert_eq!(
        listed.1,
        json!({"policies": [{"uuid": org_uuid, "tagPattern": "v[0-9]", "tagPatternMatches": true}]})
    );
    let one = get(&s, Admin, &format!("{org_policies}{org_uuid}")).await;
    ok(&one, 200);
    assert_eq!(one.1["tagPattern"], "v[0-9]");
    assert!(
        logged(
            &s,
            "acme",
            "create_immutability_policy",
            json!({"tag_pattern": "v[0-9]"})
        )
        .await
    );
    assert!(logged(&s, "acme", "tags_made_immutable_by_policy", json!({"count": 2})).await);

    // Refused like any immutable tag, through the API and /v2.
    refused_immutable(&del(&s, Admin, "/repository/acme/other/tag/v2.0").await, "delete");
    let (replacement, _) = s.push_image(app, "scratch", 1).await;
    let (other_replacement, _) = s.push_image(other, "scratch", 1).await;
    assert_v2_immutable(
        s.put_manifest(other, "v2.0", OCI_MANIFEST, &other_replacement)
            .await,
    )
    .await;

    // A tag pushed later is held from its first push.
    s.push_image(app, "v3", 1).await;
    assert!(immutable(&s, app, "v3").await);
    assert_v2_immutable(s.put_manifest(app, "v3", OCI_MANIFEST, &replacement).await).await;
    // Skopeo is refused too, with the message.
    let (pushed, stderr, _) = skopeo_push(&s, app, "v3");
    assert!(!pushed);
    assert!(stderr.contains(IMMUTABLE_MESSAGE), "{stderr}");

    // A repository policy, inverted: everything but dev-* in acme/app.
    let repo_policies = "/repository/acme/app/immutabilitypolicy/";
    let created = call(
        &s,
        Admin,
        Method::POST,
        repo_policies,
        Some(json!({"tagPattern": "dev-", "tagPatternMatches": false})),
    )
    .await;
    ok(&created, 201);
    let repo_uuid = created.1["uuid"].as_str().unwrap().to_owned();
    assert!(immutable(&s, app, "latest").await);
    assert!(!immutable(&s, app, "dev-1").await);
    refused_immutable(&del(&s, Admin, "/repository/acme/app/tag/latest").await, "delete");
    ok(&del(&s, Admin, "/repository/acme/app/tag/dev-1").await, 204);

    // An administrator releases a policy-held tag: it can be overwritten
    // once, and its next row is held again.
    ok(&put_tag(&s, app, "v1.0", json!({"immutable": false})).await, 201);
    assert!(!immutable(&s, app, "v1.0").await);
    assert_eq!(
        s.put_manifest(app, "v1.0", OCI_MANIFEST, &replacement)
            .await
            .status(),
        201
    );
    assert!(immutable(&s, app, "v1.0").await);

    // Changing the repository policy releases what it no longer holds.
    let body = json!({"tagPattern": "nothing-matches-this"});
    ok(
        &put(&s, Admin, &format!("{repo_policies}{repo_uuid}"), body).await,
        204,
    );
    assert!(!immutable(&s, app, "latest").await);
    ok(&del(&s, Admin, "/repository/acme/app/tag/latest").await, 204);
    assert!(logged(&s, "acme", "update_immutability_policy", json!({"repo": "app"})).await);

    // Deleting the organization policy releases the tags only it held.
    let gone = del(&s, Admin, &format!("{org_policies}{org_uuid}")).await;
    ok(&gone, 200);
    assert_eq!(gone.1, json!({"uuid": org_uuid}));
    assert!(!immutable(&s, other, "v2.0").await);
    assert_eq!(
        s.put_manifest(other, "v2.0", OCI_MANIFEST, &other_replacement)
            .await
            .status(),
        201
    );
    let r = s.delete(&format!("/v2/{other}/manifests/v2.0")).await;
    assert_eq!(r.status(), 202);
    assert!(
        logged(
            &s,
            "acme",
            "delete_immutability_policy",
            json!({"policy_uuid": org_uuid})
        )
        .await
    );
    refused(
        &get(&s, Admin, &format!("{org_policies}{org_uuid}")).await,
        NOT_FOUND,
    );
    refused(
        &del(&s, Admin, &format!("{repo_policies}{org_uuid}")).await,
        NOT_FOUND,
    );
}

#[tokio::test]
async fn the_quay_immutable_label_makes_pushed_tags_immutable() {
    let s = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    let buildah = |args: &[&str]| {
        let mut c = std::process::Command::new("buildah");
        c.arg("--root")
            .arg(root.join("root"))
            .arg("--runroot")
            .arg(root.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        run(&mut c)
    };
    let container = format!("imm-{}", unique_seed());
    buildah(&["from", "--name", &container, "scratch"]);
    buildah(&[
        "config",
        "--label",
        "quay.immutable=true",
        "--label",
        "quay.expires-after=2h",
        &container,
    ]);
    let layout = root.join("layout");
    buildah(&[
        "commit",
        "--format",
        "oci",
        &container,
        &format!("oci:{}:v", layout.display()),
    ]);

    let (pushed, stderr) = skopeo_copy(&s, &layout, "acme/labeled", "v1");
    assert!(pushed, "{stderr}");
    assert!(immutable(&s, "acme/labeled", "v1").await);
    // An immutable tag does not expire: the label's expiry is void.
    let row = &history(&s, "acme/labeled", "v1").await[0];
    assert!(row.get("end_ts").is_none(), "{row}");
    let (pushed, stderr, _) = skopeo_push(&s, "acme/labeled", "v1");
    assert!(!pushed);
    assert!(stderr.contains(IMMUTABLE_MESSAGE), "{stderr}");

    // Another tag of the same image is immutable too; without the label,
    // nothing is.
    let (pushed, _) = skopeo_copy(&s, &layout, "acme/labeled", "v2");
    assert!(pushed);
    assert!(immutable(&s, "acme/labeled", "v2").await);
    let (pushed, _, _) = skopeo_push(&s, "acme/labeled", "plain");
    assert!(pushed);
    assert!(!immutable(&s, "acme/labeled", "plain").await);
    assert_eq!(
        error_code(s.delete("/v2/acme/labeled/manifests/v2").await).await,
        "TAG_IMMUTABLE"
    );
}

#[tokio::test]
async fn bad_policy_and_tag_input_gets_quay_error_bodies() {
    let s = Server::start().await;
    s.push_image("acme/app", "v1", 1).await;
    let org = "/organization/acme/immutabilitypolicy/";
    let repo = "/repository/acme/app/immutabilitypolicy/";
    let post = |path: &'static str, body: Value| {
        let s = &s;
        async move { call(s, Admin, Method::POST, path, Some(body)).await }
    };

    let bad = post(org, json!({"tagPattern": "v[0-9"})).await;
    refused(&bad, BAD);
    assert!(bad.1["detail"].as_str().unwrap().contains("v[0-9"), "{}", bad.1);
    let long = post(repo, json!({"tagPattern": "a".repeat(300)})).await;
    refused(&long, BAD);
    assert!(long.1["detail"].as_str().unwrap().contains("256"), "{}", long.1);
    // Short, but it would compile to a huge program.
    refused(
        &post(
            org,
            json!({"tagPattern": "(?:[a-z]{1,100}){1,100}(?:[a-z]{1,100}){1,100}"}),
        )
        .await,
        BAD,
    );
    refused(&post(org, json!({"tagPattern": ""})).await, BAD);
    refused(&post(org, json!({"tagPatternMatches": true})).await, BAD);
    refused(&post(org, json!({"tagPattern": 5})).await, BAD);
    refused(
        &post(org, json!({"tagPattern": "v", "tagPatternMatches": "yes"})).await,
        BAD,
    );
    let unknown = post(repo, json!({"tagPattern": "v", "tag_pattern": "v"})).await;
    refused(&unknown, BAD);
    assert!(
        unknown.1["detail"].as_str().unwrap().contains("tag_pattern"),
        "{}",
        unknown.1
    );

    // A duplicate pattern of the same owner is refused; the change too.
    ok(&post(org, json!({"tagPattern": " v "})).await, 201);
    refused(&post(org, json!({"tagPattern": "v"})).await, BAD);
    let second = post(org, json!({"tagPattern": "w"})).await;
    ok(&second, 201);
    let path = format!("{org}{}", second.1["uuid"].as_str().unwrap());
    refused(&put(&s, Admin, &path, json!({"tagPattern": "v"})).await, BAD);
    refused(&put(&s, Admin, &path, json!({"tagPattern": "(("})).await, BAD);
    refused(
        &put(
            &s,
            Admin,
            &format!("{org}no-such-policy"),
            json!({"tagPattern": "x"}),
        )
        .await,
        NOT_FOUND,
    );
    // Nothing was stored for the refused ones.
    let listed = get(&s, Admin, org).await;
    let patterns: Vec<&str> = listed.1["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["tagPattern"].as_str().unwrap())
        .collect();
    assert_eq!(patterns, ["v", "w"]);

    // Unknown organizations and repositories.
    // Nobody administers an organization or repository that does not
    // exist (as for permissions).
    refused(
        &get(&s, Admin, "/organization/nosuch/immutabilitypolicy/").await,
        FORBIDDEN,
    );
    refused(
        &get(&s, Admin, "/repository/acme/nosuch/immutabilitypolicy/").await,
        FORBIDDEN,
    );

    // The tag flag takes a boolean.
    refused(
        &put_tag(&s, "acme/app", "v1", json!({"immutable": "yes"})).await,
        BAD,
    );
    refused(&put_tag(&s, "acme/app", "v1", json!({"immutable": 1})).await, BAD);
}
