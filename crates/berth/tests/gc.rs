//! Online garbage collection, driven by `berth gc` (one full pass, run
//! while the server serves) and by the background worker: what a deleted
//! tag leaves behind is removed from the database and from blob storage
//! once the time-machine window has passed, and nothing still in use is.
//! Every pass here follows a `berth gc --dry-run` that must foretell it
//! exactly, and the storage report API must say the same.
#![allow(clippy::unwrap_used)]

mod common;

use common::gc::{
    GcCounts, canonical_key, execute, open_db, preview_gc, previewed_gc, recorded_keys, stored_keys,
};
use common::{
    OCI_INDEX, OCI_MANIFEST, Server, eventually, image_manifest, random_bytes, sha256, unique_seed,
};
use serde_json::json;

/// A server whose only collector is `berth gc`, with a time-machine
/// default of `window` and a push grace period of `grace` seconds.
async fn server(window: &str, grace: u64) -> Server {
    Server::start_with_config(&format!(
        "FEATURE_GARBAGE_COLLECTION: false\nDEFAULT_TAG_EXPIRATION: {window}\nPUSH_TEMP_TAG_EXPIRATION_SEC: {grace}\n"
    ))
    .await
}

/// An image pushed from known blobs.
struct Image {
    manifest: Vec<u8>,
    digest: String,
    blobs: Vec<(String, Vec<u8>)>,
}

/// Push a config and `layers` (given bytes) to `repo`, and the manifest
/// under `reference` (a tag or, with `None`, its digest).
async fn push(
    s: &Server,
    repo: &str,
    layers: &[Vec<u8>],
    reference: Option<&str>,
    extra: Option<&str>,
) -> Image {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","seed":{}}}"#,
        unique_seed()
    )
    .into_bytes();
    let config_digest = s.push_blob(repo, &config).await;
    let mut blobs = vec![(config_digest.clone(), config.clone())];
    let mut descs = Vec::new();
    for layer in layers {
        let d = s.push_blob(repo, layer).await;
        descs.push((d.clone(), layer.len()));
        blobs.push((d, layer.clone()));
    }
    let manifest = image_manifest(&config_digest, config.len(), &descs, extra);
    let digest = sha256(&manifest);
    let r = s
        .put_manifest(repo, reference.unwrap_or(&digest), OCI_MANIFEST, &manifest)
        .await;
    assert_eq!(r.status(), 201, "push manifest: {}", r.text().await.unwrap());
    Image {
        manifest,
        digest,
        blobs,
    }
}

fn layer() -> Vec<u8> {
    random_bytes(2048, unique_seed())
}

async fn status(s: &Server, method: reqwest::Method, path: &str) -> u16 {
    s.client
        .request(method, s.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn manifest_status(s: &Server, repo: &str, digest: &str) -> u16 {
    status(s, reqwest::Method::GET, &format!("/v2/{repo}/manifests/{digest}")).await
}

async fn blob_status(s: &Server, repo: &str, digest: &str) -> u16 {
    status(s, reqwest::Method::HEAD, &format!("/v2/{repo}/blobs/{digest}")).await
}

async fn delete_tag(s: &Server, repo: &str, tag: &str) {
    let r = s.delete(&format!("/v2/{repo}/manifests/{tag}")).await;
    assert_eq!(r.status(), 202);
}

/// Pull a blob and check its bytes.
async fn pulls(s: &Server, repo: &str, digest: &str, bytes: &[u8]) {
    let r = s.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(r.status(), 200, "{repo} {digest}");
    assert_eq!(r.bytes().await.unwrap().as_ref(), bytes);
}

/// The storage report API says what the dry run says, before a pass that
/// frees three blobs of `reclaimable` bytes; only superusers may read it.
async fn storage_report_agrees(s: &Server, reclaimable: u64) {
    let report = s.get_json("/api/v1/superuser/storage").await;
    let preview = preview_gc(s);
    let usage = |(blobs, bytes): (u64, u64)| json!({"blobs": blobs, "bytes": bytes});
    assert_eq!(
        report,
        json!({
            "physical": usage(preview.physical),
            "referenced": usage(preview.referenced),
            "reclaimable": usage((3, reclaimable)),
            "queued_object_deletions": 0,
            "collectable_tag_rows": 1,
            "collectable_manifests": 1,
            "collectable_blob_links": 4,
        })
    );
    assert_eq!((preview.removes.blobs, preview.removes.bytes), (3, reclaimable));
    s.create_user("plain", "plain-password", false);
    let r = s
        .client_as("plain", "plain-password")
        .get(s.url("/api/v1/superuser/storage"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_deleted_tag_goes_with_its_own_blobs_and_shared_blobs_stay() {
    let s = server("0s", 0).await;
    let shared = layer();
    let doomed = push(
        &s,
        "gc/one",
        &[layer(), layer(), shared.clone()],
        Some("v1"),
        None,
    )
    .await;
    // The shared layer also in another repository of the same namespace
    // and one of another namespace.
    let sibling = push(&s, "gc/two", std::slice::from_ref(&shared), Some("v1"), None).await;
    let other = push(
        &s,
        "elsewhere/three",
        std::slice::from_ref(&shared),
        Some("v1"),
        None,
    )
    .await;
    let before = stored_keys(&s).await;
    assert_eq!(previewed_gc(&s), GcCounts::default(), "nothing is garbage yet");

    delete_tag(&s, "gc/one", "v1").await;
    // Its config and two layers are its own; the shared layer is not.
    let own: Vec<&(String, Vec<u8>)> = doomed.blobs.iter().filter(|(_, b)| *b != shared).collect();
    assert_eq!(own.len(), 3);
    let own_bytes: usize = own.iter().map(|(_, b)| b.len()).sum();
    storage_report_agrees(&s, own_bytes as u64).await;
    let removed = previewed_gc(&s);
    assert_eq!(
        removed,
        GcCounts {
            tag_rows: 1,
            manifests: 1,
            blob_links: 4,
            blobs: 3,
            bytes: own_bytes as u64,
            objects: 3,
        }
    );
    assert_eq!(manifest_status(&s, "gc/one", &doomed.digest).await, 404);
    for (digest, _) in &doomed.blobs {
        assert_eq!(blob_status(&s, "gc/one", digest).await, 404);
    }
    let after = stored_keys(&s).await;
    assert_eq!(
        before.len() - after.len(),
        3,
        "three objects deleted from storage"
    );
    for (digest, _) in &own {
        assert!(!after.contains(&canonical_key(digest)), "{digest} still stored");
    }
    assert_eq!(after, recorded_keys(&open_db(&s).await).await);
    // The shared layer still pulls from both other repositories.
    let shared_digest = sha256(&shared);
    pulls(&s, "gc/two", &shared_digest, &shared).await;
    pulls(&s, "elsewhere/three", &shared_digest, &shared).await;
    for (repo, image) in [("gc/two", &sibling), ("elsewhere/three", &other)] {
        assert_eq!(manifest_status(&s, repo, &image.digest).await, 200);
        for (digest, bytes) in &image.blobs {
            pulls(&s, repo, digest, bytes).await;
        }
    }
    assert_eq!(
        previewed_gc(&s),
        GcCounts::default(),
        "a second pass finds nothing"
    );

    // The same content pushed again is stored again and pulls.
    let layers: Vec<Vec<u8>> = doomed.blobs[1..].iter().map(|(_, b)| b.clone()).collect();
    let again = push(&s, "gc/one", &layers, Some("v1"), None).await;
    for (digest, bytes) in &again.blobs {
        pulls(&s, "gc/one", digest, bytes).await;
    }
}

#[tokio::test]
async fn nothing_is_collected_inside_the_window_and_namespaces_set_their_own() {
    let s = server("1h", 0).await;
    let kept = push(&s, "keep/app", &[layer()], Some("v1"), None).await;
    let short = push(&s, "short/app", &[layer()], Some("v1"), None).await;
    let solo = push(&s, "solo", &[layer()], Some("v1"), None).await;
    let objects = stored_keys(&s).await.len();
    for repo in ["keep/app", "short/app", "solo"] {
        delete_tag(&s, repo, "v1").await;
    }
    assert_eq!(
        previewed_gc(&s),
        GcCounts::default(),
        "every deleted tag is inside the 1h window"
    );
    assert_eq!(stored_keys(&s).await.len(), objects);
    assert_eq!(manifest_status(&s, "keep/app", &kept.digest).await, 200);

    // Namespaces `short` and `library` (one-component names) choose 0s.
    let db = open_db(&s).await;
    let set = "UPDATE accounts SET tag_expiration_s = $1 WHERE name = $2";
    assert_eq!(execute(&db, set, 0, "short").await, 1);
    assert_eq!(execute(&db, set, 0, "library").await, 1);
    let removed = previewed_gc(&s);
    assert_eq!((removed.tag_rows, removed.manifests, removed.objects), (2, 2, 4));
    assert_eq!(manifest_status(&s, "short/app", &short.digest).await, 404);
    assert_eq!(manifest_status(&s, "solo", &solo.digest).await, 404);
    assert_eq!(manifest_status(&s, "keep/app", &kept.digest).await, 200);
    for (digest, bytes) in &kept.blobs {
        pulls(&s, "keep/app", digest, bytes).await;
    }

    // A namespace may also keep its tags longer than the default.
    let s = server("0s", 0).await;
    let long = push(&s, "long/app", &[layer()], Some("v1"), None).await;
    push(&s, "brief/app", &[layer()], Some("v1"), None).await;
    let db = open_db(&s).await;
    assert_eq!(execute(&db, set, 86_400, "long").await, 1);
    delete_tag(&s, "long/app", "v1").await;
    delete_tag(&s, "brief/app", "v1").await;
    assert_eq!(previewed_gc(&s).manifests, 1);
    assert_eq!(manifest_status(&s, "long/app", &long.digest).await, 200);
}

#[tokio::test]
async fn an_index_keeps_its_children_until_it_goes() {
    let s = server("0s", 0).await;
    let amd = push(&s, "multi/app", &[layer()], None, None).await;
    let arm = push(&s, "multi/app", &[layer()], None, None).await;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{}]}}"#,
        format_args!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}}"#,
            amd.digest,
            amd.manifest.len()
        ),
        format_args!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"platform":{{"architecture":"arm64","os":"linux"}}}}"#,
            arm.digest,
            arm.manifest.len()
        ),
    )
    .into_bytes();
    let r = s.put_manifest("multi/app", "v1", OCI_INDEX, &index).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        previewed_gc(&s),
        GcCounts::default(),
        "the tagged index keeps both children"
    );
    for child in [&amd, &arm] {
        assert_eq!(manifest_status(&s, "multi/app", &child.digest).await, 200);
        for (digest, bytes) in &child.blobs {
            pulls(&s, "multi/app", digest, bytes).await;
        }
    }
    delete_tag(&s, "multi/app", "v1").await;
    let removed = previewed_gc(&s);
    assert_eq!((removed.manifests, removed.blobs, removed.objects), (3, 4, 4));
    for digest in [&amd.digest, &arm.digest, &sha256(&index)] {
        assert_eq!(manifest_status(&s, "multi/app", digest).await, 404);
    }
    assert!(stored_keys(&s).await.is_empty());
}

#[tokio::test]
async fn referrers_live_with_their_subject_and_keep_it() {
    let s = server("0s", 0).await;
    // An untagged referrer of a tagged image.
    let image = push(&s, "refs/app", &[layer()], Some("v1"), None).await;
    let subject = format!(
        r#""subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{}}}"#,
        image.digest,
        image.manifest.len()
    );
    let signature = push(&s, "refs/app", &[layer()], None, Some(&subject)).await;
    // A tagged referrer of an untagged image.
    let base = push(&s, "refs/app", &[layer()], None, None).await;
    let on_base = format!(
        r#""subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{}}}"#,
        base.digest,
        base.manifest.len()
    );
    let sbom = push(&s, "refs/app", &[layer()], Some("sbom"), Some(&on_base)).await;
    // An untagged referrer whose subject is not in the repository.
    let stray_subject = format!(
        r#""subject":{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{}","size":1}}"#,
        "0".repeat(64)
    );
    let stray = push(&s, "refs/app", &[layer()], None, Some(&stray_subject)).await;

    let removed = previewed_gc(&s);
    assert_eq!(removed.manifests, 1, "only the stray referrer goes");
    assert_eq!(manifest_status(&s, "refs/app", &stray.digest).await, 404);
    for kept in [&image, &signature, &base, &sbom] {
        assert_eq!(manifest_status(&s, "refs/app", &kept.digest).await, 200);
    }
    let r = s.get(&format!("/v2/refs/app/referrers/{}", image.digest)).await;
    let listed: serde_json::Value = r.json().await.unwrap();
    assert_eq!(listed["manifests"][0]["digest"], signature.digest.as_str());

    // Untagging the subject frees its referrer; untagging the referrer
    // frees its subject.
    delete_tag(&s, "refs/app", "v1").await;
    delete_tag(&s, "refs/app", "sbom").await;
    let removed = previewed_gc(&s);
    assert_eq!(removed.manifests, 4);
    for gone in [&image, &signature, &base, &sbom] {
        assert_eq!(manifest_status(&s, "refs/app", &gone.digest).await, 404);
    }
    assert!(stored_keys(&s).await.is_empty());
}

#[tokio::test]
async fn uploads_in_flight_are_kept_for_the_grace_period() {
    let s = server("0s", 3600).await;
    let bytes = layer();
    let digest = s.push_blob("flight/app", &bytes).await;
    let untagged = push(&s, "flight/app", &[layer()], None, None).await;
    assert_eq!(
        previewed_gc(&s),
        GcCounts::default(),
        "a blob waiting for its manifest stays"
    );
    assert_eq!(blob_status(&s, "flight/app", &digest).await, 200);
    assert_eq!(manifest_status(&s, "flight/app", &untagged.digest).await, 200);

    // The manifest may come later, within the grace period.
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let config_digest = s.push_blob("flight/app", &config).await;
    let manifest = image_manifest(
        &config_digest,
        config.len(),
        &[(digest.clone(), bytes.len())],
        None,
    );
    let r = s.put_manifest("flight/app", "v1", OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 201);

    // Past it, what no manifest took up (and the untagged manifest) goes:
    // `berth gc` reads the grace period from the configuration file.
    let orphan = s.push_blob("flight/app", &layer()).await;
    assert_eq!(previewed_gc(&s), GcCounts::default());
    let config = std::fs::read_to_string(s.config_path()).unwrap();
    let config = config.replace(
        "PUSH_TEMP_TAG_EXPIRATION_SEC: 3600",
        "PUSH_TEMP_TAG_EXPIRATION_SEC: 0",
    );
    std::fs::write(s.config_path(), config).unwrap();
    let removed = previewed_gc(&s);
    assert_eq!((removed.manifests, removed.blobs), (1, 3), "{removed:?}");
    assert_eq!(blob_status(&s, "flight/app", &orphan).await, 404);
    assert_eq!(manifest_status(&s, "flight/app", &untagged.digest).await, 404);
    pulls(&s, "flight/app", &digest, &bytes).await;
}

#[tokio::test]
async fn the_background_worker_collects_on_every_instance() {
    let s = Server::start_with_config(
        "GARBAGE_COLLECTION_FREQUENCY: 1\nDEFAULT_TAG_EXPIRATION: 0s\nPUSH_TEMP_TAG_EXPIRATION_SEC: 3\n",
    )
    .await;
    let image = push(&s, "worker/app", &[layer()], Some("v1"), None).await;
    delete_tag(&s, "worker/app", "v1").await;
    eventually("the worker collects the untagged image", || async {
        manifest_status(&s, "worker/app", &image.digest).await == 404 && stored_keys(&s).await.is_empty()
    })
    .await;
    let db = open_db(&s).await;
    assert!(db.blob_locations().await.unwrap().is_empty());
    assert!(db.queued_deletion_locations().await.unwrap().is_empty());
}
