//! Quota enforcement: usage counts each blob once per namespace and drops
//! as soon as manifests are deleted; a reject limit refuses uploads and
//! manifests with Quay's `DENIED` and a message naming the quota, which
//! skopeo and podman show; a warning threshold lets pushes through and is
//! logged; the system default applies to namespaces without a quota. The
//! quota API itself is tested in `quota_api.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use common::cli::{podman, podman_import_hello, skopeo};
use common::layout::{write_image, write_layout_index};
use common::quota::{
    Caller, FULL_ACCESS, config, create_org, denied, layer, logged, push, pushed, set_quota, usage,
};
use common::{OCI_MANIFEST, Server, auth_file, sha256, unique_seed};
use serde_json::{Value, json};

#[tokio::test]
async fn usage_counts_each_blob_once_per_namespace_and_drops_with_deletes() {
    let s = Server::start_with_config(FULL_ACCESS).await;
    let shared = layer(3000);
    let (c1, c2, c3, c4) = (config(), config(), config(), config());
    let own = layer(1500);
    // Two repositories of one namespace share a layer; another namespace
    // references it too.
    let m1 = pushed(&s, "qa/one", "v1", &[&c1, &shared, &own]).await;
    let m2 = pushed(&s, "qa/two", "v1", &[&c2, &shared]).await;
    pushed(&s, "qb/three", "v1", &[&c3, &shared]).await;
    // The same manifest pushed twice, and tagged twice, counts once.
    pushed(&s, "qa/two", "v2", &[&c2, &shared]).await;
    // An uploaded blob no manifest references is not counted.
    s.push_blob("qa/one", &layer(777)).await;
    set_quota(&s, "qa", 1 << 30, &[]).await;
    set_quota(&s, "qb", 1 << 30, &[]).await;
    let len = |b: &[u8]| b.len() as u64;
    assert_eq!(
        usage(&s, "qa").await,
        len(&c1) + len(&c2) + len(&shared) + len(&own)
    );
    assert_eq!(usage(&s, "qb").await, len(&c3) + len(&shared));

    // Deleting a manifest lowers usage at once; a blob still referenced
    // by another manifest of the namespace stays counted.
    let r = s.delete(&format!("/v2/qa/two/manifests/{m2}")).await;
    assert_eq!(r.status(), 202);
    assert_eq!(usage(&s, "qa").await, len(&c1) + len(&shared) + len(&own));
    let r = s.delete(&format!("/v2/qa/one/manifests/{m1}")).await;
    assert_eq!(r.status(), 202);
    assert_eq!(usage(&s, "qa").await, 0);
    assert_eq!(
        usage(&s, "qb").await,
        len(&c3) + len(&shared),
        "other namespaces keep theirs"
    );

    // One-component names are in the `library` namespace, with
    // `library/...`; a name merely starting with `library` is not.
    pushed(&s, "solo", "v1", &[&c4, &shared]).await;
    pushed(&s, "library/other", "v1", &[&c4, &own]).await;
    pushed(&s, "libraryx/app", "v1", &[&config(), &layer(999)]).await;
    let (status, body) = Caller::admin(&s)
        .post(
            "/superuser/organization/library/quota",
            json!({ "limit": "1 GiB" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(usage(&s, "library").await, len(&c4) + len(&shared) + len(&own));
}

#[tokio::test]
async fn a_reject_limit_refuses_uploads_and_manifests_until_content_is_deleted() {
    let s = Server::start_with_config(FULL_ACCESS).await;
    let first = [config(), layer(4000)];
    let first_bytes = (first[0].len() + first[1].len()) as u64;
    let m1 = pushed(&s, "full/app", "v1", &[&first[0], &first[1]]).await;
    let quota = set_quota(&s, "full", first_bytes + 1000, &[("Reject", 100)]).await;

    // Below the limit, uploads start; a manifest that would take the
    // namespace over it is refused, and not stored.
    let more = [config(), layer(2000)];
    let (r, digest) = push(&s, "full/app", "v2", &[&more[0], &more[1]]).await;
    let expected_usage = first_bytes + (more[0].len() + more[1].len()) as u64;
    assert_eq!(
        denied(r).await,
        format!(
            "Quota has been exceeded on namespace full: {expected_usage} of {} bytes used",
            first_bytes + 1000
        )
    );
    assert_eq!(
        s.head(&format!("/v2/full/app/manifests/{digest}")).await.status(),
        404
    );
    assert_eq!(s.head("/v2/full/app/manifests/v2").await.status(), 404);
    assert_eq!(usage(&s, "full").await, first_bytes);
    let metadata = logged(&s, "full", "quota_error", 1).await;
    assert_eq!(metadata["usage_bytes"], expected_usage);

    // At the limit, every way of starting an upload is refused: a session,
    // a monolithic upload, a mount; into any repository of the namespace.
    let (status, _) = Caller::admin(&s)
        .put(
            &format!("/organization/full/quota/{quota}"),
            json!({ "limit_bytes": first_bytes }),
        )
        .await;
    assert_eq!(status, 200);
    let message =
        format!("Quota has been exceeded on namespace full: {first_bytes} of {first_bytes} bytes used");
    let post = |path: String, body: Vec<u8>| s.client.post(s.url(&path)).body(body).send();
    let r = post("/v2/full/other/blobs/uploads/".into(), Vec::new())
        .await
        .unwrap();
    assert_eq!(denied(r).await, message);
    let blob = layer(10);
    let r = post(
        format!("/v2/full/app/blobs/uploads/?digest={}", sha256(&blob)),
        blob,
    )
    .await
    .unwrap();
    assert_eq!(denied(r).await, message);
    let layer_digest = sha256(&first[1]);
    let r = post(
        format!("/v2/full/new/blobs/uploads/?mount={layer_digest}&from=full/app"),
        Vec::new(),
    )
    .await
    .unwrap();
    assert_eq!(denied(r).await, message);
    // Re-pushing what is stored adds nothing but is refused as well (as in
    // Quay: the namespace is full).
    let manifest = s
        .get(&format!("/v2/full/app/manifests/{m1}"))
        .await
        .bytes()
        .await
        .unwrap();
    let r = s.put_manifest("full/app", "again", OCI_MANIFEST, &manifest).await;
    assert_eq!(denied(r).await, message);
    // Pulls still work.
    assert_eq!(
        s.get(&format!("/v2/full/app/blobs/{layer_digest}"))
            .await
            .status(),
        200
    );
    // Other namespaces are not affected.
    pushed(&s, "elsewhere/app", "v1", &[&config(), &layer(5000)]).await;

    // Deleting content frees the namespace at once.
    assert_eq!(
        s.delete(&format!("/v2/full/app/manifests/{m1}")).await.status(),
        202
    );
    assert_eq!(usage(&s, "full").await, 0);
    pushed(&s, "full/app", "v3", &[&more[0], &more[1]]).await;
}

#[tokio::test]
async fn a_warning_threshold_lets_the_push_through_and_logs_it() {
    let s = Server::start_with_config(FULL_ACCESS).await;
    create_org(&s, "warn").await;
    set_quota(
        &s,
        "warn",
        10_000,
        &[("Warning", 50), ("Warning", 70), ("Reject", 100)],
    )
    .await;
    let image = [config(), layer(6000)];
    let total = (image[0].len() + image[1].len()) as u64;
    pushed(&s, "warn/app", "v1", &[&image[0], &image[1]]).await;
    let metadata = logged(&s, "warn", "quota_warning", 1).await;
    assert_eq!(metadata["usage_bytes"], total);
    assert_eq!(metadata["limit_bytes"], 10_000);
    assert_eq!(metadata["threshold_percent"], 50);
    // Over the warning threshold, uploads still start; past the reject
    // limit they do not.
    pushed(&s, "warn/app", "v2", &[&config(), &layer(1500)]).await;
    let (r, _) = push(&s, "warn/app", "v3", &[&config(), &layer(3000)]).await;
    assert!(
        denied(r)
            .await
            .starts_with("Quota has been exceeded on namespace warn: ")
    );
    logged(&s, "warn", "quota_warning", 2).await;
    logged(&s, "warn", "quota_error", 1).await;
}

#[tokio::test]
async fn skopeo_and_podman_show_the_quota_message() {
    let s = Server::start_with_config(FULL_ACCESS).await;
    let host = s.host().to_owned();

    // skopeo: the blobs go up, the manifest is refused.
    create_org(&s, "skq").await;
    set_quota(&s, "skq", 100_000, &[("Reject", 100)]).await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[300_000], unique_seed());
    write_layout_index(&layout, &[("v1", &image)]);
    let out = skopeo(&host)
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{host}/skq/app:v1"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "skopeo must fail: {stderr}");
    assert!(
        stderr.contains("Quota has been exceeded on namespace skq: ")
            && stderr.contains(" of 100000 bytes used"),
        "skopeo shows the quota: {stderr}"
    );

    // podman: the namespace is full already, so the first upload is refused.
    pushed(&s, "pdq/filler", "v1", &[&config(), &layer(2000)]).await;
    set_quota(&s, "pdq", 1000, &[("Reject", 100)]).await;
    let image = format!("{host}/pdq/hello:v1");
    podman_import_hello(work.path(), &image, &[]);
    let out = podman(work.path())
        .env("REGISTRY_AUTH_FILE", auth_file(&host))
        .args(["push", "--tls-verify=false", &image])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "podman must fail: {stderr}");
    assert!(
        stderr.contains("Quota has been exceeded on namespace pdq: ")
            && stderr.contains(" of 1000 bytes used"),
        "podman shows the quota: {stderr}"
    );
}

#[tokio::test]
async fn the_system_default_rejects_namespaces_without_a_quota() {
    let s =
        Server::start_with_config(&format!("{FULL_ACCESS}DEFAULT_SYSTEM_REJECT_QUOTA_BYTES: 5000\n")).await;
    pushed(&s, "dflt/app", "v1", &[&config(), &layer(3000)]).await;
    let (r, _) = push(&s, "dflt/app", "v2", &[&config(), &layer(3000)]).await;
    assert!(denied(r).await.ends_with(" of 5000 bytes used"));
    // The default shows in the organization's quota list.
    let (status, list) = Caller::admin(&s).get("/organization/dflt/quota").await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], Value::Null);
    assert_eq!(list[0]["limit_bytes"], 5000);
    assert_eq!(list[0]["default_config"], true);
    assert_eq!(list[0]["default_config_exists"], true);
    // A namespace's own quota replaces the default.
    set_quota(&s, "dflt", 1 << 20, &[("Reject", 100)]).await;
    pushed(&s, "dflt/app", "v2", &[&config(), &layer(3000)]).await;
    let (_, list) = Caller::admin(&s).get("/organization/dflt/quota").await;
    assert_eq!(list[0]["default_config"], false);
    assert_eq!(list[0]["default_config_exists"], true);

    // With FEATURE_QUOTA_MANAGEMENT off nothing is enforced and the API is
    // not there.
    let off =
        Server::start_with_config("FEATURE_QUOTA_MANAGEMENT: false\nDEFAULT_SYSTEM_REJECT_QUOTA_BYTES: 1\n")
            .await;
    pushed(&off, "dflt/app", "v1", &[&config(), &layer(3000)]).await;
    let (status, _) = Caller::admin(&off).get("/organization/dflt/quota").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn usage_drops_when_garbage_collection_removes_content() {
    let s = Server::start_with_config(&format!(
        "{FULL_ACCESS}FEATURE_GARBAGE_COLLECTION: false\nDEFAULT_TAG_EXPIRATION: 0s\nPUSH_TEMP_TAG_EXPIRATION_SEC: 0\n"
    ))
    .await;
    create_org(&s, "acme").await;
    set_quota(&s, "acme", 100 << 20, &[]).await;
    let (config_a, config_b) = (config(), config());
    let (shared, own) = (layer(40_000), layer(70_000));
    pushed(&s, "acme/app", "v1", &[&config_a, &shared, &own]).await;
    pushed(&s, "acme/other", "v1", &[&config_b, &shared]).await;
    let all = (config_a.len() + config_b.len() + shared.len() + own.len()) as u64;
    assert_eq!(usage(&s, "acme").await, all);

    // A deleted tag's manifest is kept for the time machine until GC runs
    // (a zero window here), and counts until then, as in Quay.
    let r = s.delete("/v2/acme/app/manifests/v1").await;
    assert_eq!(r.status(), 202);
    assert_eq!(usage(&s, "acme").await, all);
    let removed = common::gc::run_gc(&s);
    assert_eq!(removed.manifests, 1, "{removed:?}");
    // Its own config and layer are gone; the layer the other repository
    // uses still counts, once.
    assert_eq!(usage(&s, "acme").await, (config_b.len() + shared.len()) as u64);
}
