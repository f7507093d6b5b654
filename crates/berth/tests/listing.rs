//! Protocol tests for listings: tags and the catalog (pagination and
//! `Link` headers) and referrers (subjects, artifact types, filters).
#![allow(clippy::unwrap_used)]

mod common;

use common::{OCI_INDEX, OCI_MANIFEST, Server, error_code, sha256};

#[tokio::test]
async fn tag_list_pagination_and_link_header() {
    let s = Server::start().await;
    let (manifest, _) = s.push_image("org/team/app", "a", 1).await;
    for tag in ["b", "c", "d", "e"] {
        assert_eq!(
            s.put_manifest("org/team/app", tag, OCI_MANIFEST, &manifest)
                .await
                .status(),
            201
        );
    }
    let all: serde_json::Value = s.get_json("/v2/org/team/app/tags/list").await;
    assert_eq!(
        all,
        serde_json::json!({"name":"org/team/app","tags":["a","b","c","d","e"]})
    );

    // Follow Link headers with n=2.
    let mut next = Some("/v2/org/team/app/tags/list?n=2".to_owned());
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        let r = s.get(&path).await;
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_owned()
        });
        let page: serde_json::Value = r.json().await.unwrap();
        let tags = page["tags"].as_array().unwrap();
        assert!(tags.len() <= 2);
        seen.extend(tags.iter().map(|t| t.as_str().unwrap().to_owned()));
        pages += 1;
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);

    let after: serde_json::Value = s.get_json("/v2/org/team/app/tags/list?last=c").await;
    assert_eq!(after["tags"], serde_json::json!(["d", "e"]));
    let none: serde_json::Value = s.get_json("/v2/org/team/app/tags/list?n=0").await;
    assert_eq!(none["tags"], serde_json::json!([]));
    let r = s.get("/v2/org/team/app/tags/list?n=-1").await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "PAGINATION_NUMBER_INVALID");
    let r = s.get("/v2/no/such/repo/tags/list").await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
}

/// Tags set in no particular order list sorted, in pages that meet
/// exactly: the registry finds each page's end by skipping ahead in its
/// index, so a page boundary must neither drop nor repeat a name.
#[tokio::test]
async fn tag_pages_meet_whatever_order_tags_were_set_in() {
    let s = Server::start().await;
    let names = ["v10", "v9", "a", "latest", "v1", "b2", "b10", "c"];
    let (manifest, _) = s.push_image("org/shuffled", names[0], 1).await;
    for tag in &names[1..] {
        let r = s.put_manifest("org/shuffled", tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(r.status(), 201);
    }
    let mut sorted = names.map(str::to_owned).to_vec();
    sorted.sort();
    let all: serde_json::Value = s.get_json("/v2/org/shuffled/tags/list").await;
    assert_eq!(all["tags"], serde_json::json!(sorted));

    for n in 1..=names.len() + 1 {
        let mut next = Some(format!("/v2/org/shuffled/tags/list?n={n}"));
        let mut seen = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            let r = s.get(&path).await;
            assert_eq!(r.status(), 200);
            next = r.headers().get("link").map(|l| {
                let l = l.to_str().unwrap();
                l[1..l.find('>').unwrap()].to_owned()
            });
            let page: serde_json::Value = r.json().await.unwrap();
            let tags = page["tags"].as_array().unwrap();
            assert!(tags.len() <= n, "n={n}: {page}");
            seen.extend(tags.iter().map(|t| t.as_str().unwrap().to_owned()));
            pages += 1;
        }
        assert_eq!(seen, sorted, "n={n}");
        assert_eq!(pages, names.len().div_ceil(n), "n={n}");
    }
}

#[tokio::test]
async fn catalog_pagination() {
    let s = Server::start().await;
    for repo in ["zeta", "alpha/one", "alpha/two", "mid"] {
        s.push_blob(repo, b"x").await;
    }
    let all: serde_json::Value = s.get_json("/v2/_catalog").await;
    assert_eq!(
        all["repositories"],
        serde_json::json!(["alpha/one", "alpha/two", "mid", "zeta"])
    );
    let r = s.get("/v2/_catalog?n=3").await;
    assert_eq!(r.headers()["link"], "</v2/_catalog?n=3&last=mid>; rel=\"next\"");
    let page: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        page["repositories"],
        serde_json::json!(["alpha/one", "alpha/two", "mid"])
    );
    let r = s.get("/v2/_catalog?n=3&last=mid").await;
    assert!(r.headers().get("link").is_none());
    let page: serde_json::Value = r.json().await.unwrap();
    assert_eq!(page["repositories"], serde_json::json!(["zeta"]));
}

#[tokio::test]
async fn referrers_with_subject_and_artifact_type_filter() {
    let s = Server::start().await;
    let (subject, subject_digest) = s.push_image("ref", "v1", 1).await;
    let empty = s.push_blob("ref", b"{}").await;
    let sig = s.push_blob("ref", b"signature").await;
    let artifact = |artifact_type: &str| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{artifact_type}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/octet-stream","digest":"{sig}","size":9}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject_digest}","size":{}}},"annotations":{{"org.example.kind":"{artifact_type}"}}}}"#,
            subject.len()
        )
    };
    let signature = artifact("application/vnd.example.signature");
    let sbom = artifact("application/vnd.example.sbom");
    for m in [&signature, &sbom] {
        let r = s
            .put_manifest("ref", &sha256(m.as_bytes()), OCI_MANIFEST, m.as_bytes())
            .await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], subject_digest.as_str());
    }
    let r = s.get(&format!("/v2/ref/referrers/{subject_digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert!(r.headers().get("oci-filters-applied").is_none());
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["schemaVersion"], 2);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let sig_entry = entries
        .iter()
        .find(|e| e["digest"] == sha256(signature.as_bytes()).as_str())
        .unwrap();
    assert_eq!(sig_entry["artifactType"], "application/vnd.example.signature");
    assert_eq!(sig_entry["size"], signature.len());
    assert_eq!(sig_entry["mediaType"], OCI_MANIFEST);
    assert_eq!(
        sig_entry["annotations"]["org.example.kind"],
        "application/vnd.example.signature"
    );

    let r = s
        .get(&format!(
            "/v2/ref/referrers/{subject_digest}?artifactType=application/vnd.example.sbom"
        ))
        .await;
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["digest"], sha256(sbom.as_bytes()).as_str());

    // A subject that does not exist (yet) is allowed, and listing it is empty.
    let nothing = sha256(b"no such subject");
    let r = s.get(&format!("/v2/ref/referrers/{nothing}")).await;
    assert_eq!(r.status(), 200);
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["manifests"], serde_json::json!([]));
    let r = s.get("/v2/ref/referrers/sha256:zz").await;
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn referrers_as_the_conformance_suite_pushes_them() {
    use serde_json::json;
    let s = Server::start().await;
    let repo = "admin/referrers";
    let empty_json = s.push_blob(repo, b"{}").await;
    assert_eq!(
        empty_json,
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    let empty_desc =
        json!({"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_json, "size": 2});
    let (type_a, type_b, type_index) = (
        "application/vnd.nhl.peanut.butter.bagel",
        "application/vnd.nba.strawberry.jam.croissant",
        "application/vnd.food.stand",
    );
    // The subject: an image pushed only after its referrers.
    let config = br#"{"architecture":"amd64","os":"linux","author":"subject"}"#;
    let layer = b"subject layer";
    let subject = common::image_manifest(
        &sha256(config),
        config.len(),
        &[(sha256(layer), layer.len())],
        None,
    );
    let subject_digest = sha256(&subject);
    let subject_desc = json!({"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": subject.len()});
    let key = "org.opencontainers.conformance.test";
    let blob_a = b"NHL Peanut Butter on my NHL bagel";
    let blob_b = b"NBA Strawberry Jam on my NBA croissant";
    let blob_desc = |media_type: &str, blob: &[u8]| json!({"mediaType": media_type, "digest": sha256(blob), "size": blob.len()});
    // An artifact typed by its config's media type, and one by `artifactType`.
    let config_artifact = |artifact_type: &str, blob: &[u8], note: &str| {
        serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": blob_desc(artifact_type, blob), "layers": [empty_desc],
            "subject": subject_desc, "annotations": {key: note},
        }))
        .unwrap()
    };
    let layer_artifact = |artifact_type: &str, blob: &[u8], note: &str, subject: &serde_json::Value| {
        serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": empty_desc, "layers": [blob_desc(artifact_type, blob)],
            "subject": subject, "annotations": {key: note},
        }))
        .unwrap()
    };
    let push = |bytes: Vec<u8>, media_type: &'static str| {
        let s = &s;
        async move {
            let digest = sha256(&bytes);
            let r = s.put_manifest(repo, &digest, media_type, &bytes).await;
            assert_eq!(r.status(), 201, "{}", String::from_utf8_lossy(&bytes));
            assert_eq!(
                r.headers()["location"],
                format!("/v2/{repo}/manifests/{digest}").as_str()
            );
            let subject = r.headers()["oci-subject"].to_str().unwrap().to_owned();
            (digest, subject)
        }
    };

    s.push_blob(repo, blob_a).await;
    let (config_a, subject_of) = push(config_artifact(type_a, blob_a, "test config a"), OCI_MANIFEST).await;
    assert_eq!(subject_of, subject_digest);
    let (layer_a, subject_of) = push(
        layer_artifact(type_a, blob_a, "test layer a", &subject_desc),
        OCI_MANIFEST,
    )
    .await;
    assert_eq!(subject_of, subject_digest);
    let index = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": type_index,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": config_a, "size": config_artifact(type_a, blob_a, "test config a").len()},
            {"mediaType": OCI_MANIFEST, "digest": layer_a, "size": layer_artifact(type_a, blob_a, "test layer a", &subject_desc).len()},
        ],
        "subject": subject_desc, "annotations": {key: "test index"},
    }))
    .unwrap();
    let (index_digest, subject_of) = push(index, OCI_INDEX).await;
    assert_eq!(subject_of, subject_digest);
    s.push_blob(repo, config).await;
    s.push_blob(repo, layer).await;
    assert_eq!(
        s.put_manifest(repo, "tagtest0", OCI_MANIFEST, &subject)
            .await
            .status(),
        201
    );
    s.push_blob(repo, blob_b).await;
    let (config_b, _) = push(config_artifact(type_b, blob_b, "test config b"), OCI_MANIFEST).await;
    let (layer_b, _) = push(
        layer_artifact(type_b, blob_b, "test layer b", &subject_desc),
        OCI_MANIFEST,
    )
    .await;
    // A referrer of a manifest that was never pushed.
    let absent = sha256(b"a manifest never pushed");
    let absent_desc = json!({"mediaType": OCI_MANIFEST, "digest": absent, "size": 10});
    let orphan_bytes = layer_artifact(type_b, blob_b, "test layer c", &absent_desc);
    let (orphan, subject_of) = push(orphan_bytes, OCI_MANIFEST).await;
    assert_eq!(subject_of, absent);

    let listed = |query: &'static str| {
        let s = &s;
        let path = format!("/v2/{repo}/referrers/{subject_digest}{query}");
        async move {
            let r = s.get(&path).await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], OCI_INDEX);
            let filtered = r
                .headers()
                .get("oci-filters-applied")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = r.json().await.unwrap();
            (body["manifests"].as_array().unwrap().clone(), filtered)
        }
    };
    let (all, filtered) = listed("").await;
    assert_eq!(filtered, None);
    let expected = [
        (&config_a, type_a, "test config a"),
        (&layer_a, type_a, "test layer a"),
        (&index_digest, type_index, "test index"),
        (&config_b, type_b, "test config b"),
        (&layer_b, type_b, "test layer b"),
    ];
    assert_eq!(all.len(), expected.len(), "{all:?}");
    for (digest, artifact_type, note) in expected {
        let entry = all.iter().find(|e| e["digest"] == digest.as_str()).unwrap();
        assert_eq!(entry["artifactType"], artifact_type, "{entry}");
        assert_eq!(entry["annotations"], json!({key: note}), "{entry}");
    }
    let (only_a, filtered) = listed("?artifactType=application/vnd.nhl.peanut.butter.bagel").await;
    assert_eq!(filtered.as_deref(), Some("artifactType"));
    let mut digests: Vec<&str> = only_a.iter().map(|e| e["digest"].as_str().unwrap()).collect();
    digests.sort_unstable();
    let mut want = vec![config_a.as_str(), layer_a.as_str()];
    want.sort_unstable();
    assert_eq!(digests, want);
    let r = s.get(&format!("/v2/{repo}/referrers/{absent}")).await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(body["manifests"][0]["digest"], orphan.as_str());

    // Teardown as the suite does it: a tag through the digest route, then
    // every manifest by digest.
    assert_eq!(
        s.delete(&format!("/v2/{repo}/manifests/tagtest0")).await.status(),
        202
    );
    for digest in [
        &index_digest,
        &config_a,
        &layer_a,
        &subject_digest,
        &config_b,
        &layer_b,
        &orphan,
    ] {
        let r = s.delete(&format!("/v2/{repo}/manifests/{digest}")).await;
        assert_eq!(r.status(), 202, "{digest}");
    }
    let (all, _) = listed("").await;
    assert!(all.is_empty(), "{all:?}");
}
