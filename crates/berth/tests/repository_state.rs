//! Repository states through the real binary and skopeo: Quay's
//! `changestate`; a READ_ONLY repository refuses pushes (skopeo prints
//! Quay's message), tag deletes on `/v2` and tag changes through the API,
//! and takes them again once NORMAL; MIRROR refuses users' pushes; the
//! repository view shows the state.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;

use api_support::{Admin, BAD, FORBIDDEN, create_org, del, get, ok, put, refused};
use common::api::logged;
use common::cli::skopeo;
use common::layout::{write_image, write_layout_index};
use common::{Server, unique_seed};
use serde_json::{Value, json};

/// Copy a fresh image to `repo:tag` with skopeo: (success, stderr).
fn skopeo_push(s: &Server, repo: &str, tag: &str) -> (bool, String) {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[300], unique_seed());
    write_layout_index(&layout, &[("v", &image)]);
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

async fn change_state(s: &Server, repo: &str, state: &str) -> (u16, Value) {
    put(
        s,
        Admin,
        &format!("/repository/{repo}/changestate"),
        json!({ "state": state }),
    )
    .await
}

#[tokio::test]
async fn read_only_and_mirror_repositories_refuse_writes_until_normal_again() {
    let s = Server::start().await;
    create_org(&s, "acme").await;
    let repo = "acme/app";
    let (pushed, stderr) = skopeo_push(&s, repo, "v1");
    assert!(pushed, "{stderr}");
    let view = get(&s, Admin, &format!("/repository/{repo}")).await;
    assert_eq!(view.1["state"], "NORMAL");
    assert_eq!(view.1["can_write"], true);

    let changed = change_state(&s, repo, "READ_ONLY").await;
    ok(&changed, 200);
    assert_eq!(changed.1, json!({"success": true}));
    assert!(
        logged(
            &s,
            "acme",
            "change_repo_state",
            json!({"repo": "app", "state_changed": "READ_ONLY"})
        )
        .await
    );
    let view = get(&s, Admin, &format!("/repository/{repo}")).await;
    assert_eq!(view.1["state"], "READ_ONLY");
    assert_eq!(view.1["can_write"], false);
    let listed = get(&s, Admin, "/repository?namespace=acme").await;
    assert_eq!(listed.1["repositories"][0]["state"], "READ_ONLY", "{}", listed.1);

    // skopeo's push is refused, and it prints why.
    let (pushed, stderr) = skopeo_push(&s, repo, "v2");
    assert!(!pushed);
    assert!(stderr.contains("acme/app is in read-only mode."), "{stderr}");
    // Pulls still work; deleting the tag on /v2 or through the API does not.
    assert_eq!(s.get(&format!("/v2/{repo}/manifests/v1")).await.status(), 200);
    let r = s.delete(&format!("/v2/{repo}/manifests/v1")).await;
    assert_eq!(r.status(), 405);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert_eq!(body["errors"][0]["message"], "acme/app is in read-only mode.");
    let deleted = del(&s, Admin, &format!("/repository/{repo}/tag/v1")).await;
    refused(&deleted, (503, "read_only"));
    assert!(deleted.1["detail"].as_str().unwrap().contains("READ_ONLY"));

    // A mirror takes no push from users either.
    ok(&change_state(&s, repo, "MIRROR").await, 200);
    let (pushed, stderr) = skopeo_push(&s, repo, "v2");
    assert!(!pushed);
    assert!(
        stderr.contains("Mirrored repositories cannot be modified directly"),
        "{stderr}"
    );

    // NORMAL again: the push works.
    ok(&change_state(&s, repo, "NORMAL").await, 200);
    let (pushed, stderr) = skopeo_push(&s, repo, "v2");
    assert!(pushed, "{stderr}");

    // Bad states and missing repositories.
    refused(&change_state(&s, repo, "ORG_MIRROR").await, BAD);
    refused(&change_state(&s, repo, "frozen").await, BAD);
    refused(
        &put(&s, Admin, &format!("/repository/{repo}/changestate"), json!({})).await,
        BAD,
    );
    // As for any repository operation, a missing one is not the caller's
    // to administer.
    refused(&change_state(&s, "acme/missing", "READ_ONLY").await, FORBIDDEN);
}
