//! Proxy cache: an organization configured with an upstream registry (a
//! real `docker-registry`) serves pulls of what it lacks from there and
//! keeps it. podman and skopeo pull through it; the upstream's access log
//! counts what reached it.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "proxy_cache/hostile.rs"]
mod hostile;
#[path = "proxy_cache/upstream.rs"]
mod upstream;

use std::path::Path;
use std::process::Command;

use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::Digest as _;

use common::cli::{podman, skopeo};
use common::{OCI_MANIFEST, Server, auth_file, eventually, files_under, random_bytes, run, unique_seed};
use upstream::Upstream;

/// What every test server needs: loopback upstreams allowed, a key to
/// seal upstream credentials with.
pub const CONFIG: &str =
    "SSRF_ALLOWED_HOSTS: [127.0.0.1]\nDATABASE_SECRET_KEY: proxy-cache-test-key-0123456789abcdef\n";

pub async fn create_org(s: &Server, name: &str) {
    let r = s
        .client
        .post(s.url("/api/v1/organization/"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// Make `org` a proxy cache with `body`; returns status and answer.
pub async fn configure(s: &Server, org: &str, body: Value) -> (u16, Value) {
    let r = s
        .client
        .post(s.url(&format!("/api/v1/organization/{org}/proxycache")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A proxy-cache organization `org` of `upstream` (insecure: plain HTTP).
pub async fn proxy_org(s: &Server, org: &str, upstream: &str, expiration_s: i64) {
    create_org(s, org).await;
    let (status, body) = configure(
        s,
        org,
        json!({ "upstream_registry": upstream, "insecure": true, "expiration_s": expiration_s }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// Pull `reference` from `host` with podman into storage under `dir`;
/// returns the pulled manifest digest.
fn podman_pull(dir: &Path, host: &str, reference: &str) -> String {
    let full = format!("{host}/{reference}");
    let auth = auth_file(host);
    run(podman(dir)
        .args(["pull", "--tls-verify=false", "--authfile"])
        .arg(&auth)
        .arg(&full));
    run(podman(dir).args(["image", "inspect", "--format", "{{.Digest}}", &full]))
        .trim()
        .to_owned()
}

/// `GET` a manifest as an OCI client; (status, digest header, body).
async fn get_manifest(s: &Server, path: &str) -> (u16, String, Value) {
    let r = s
        .client
        .get(s.url(path))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let digest = r
        .headers()
        .get("docker-content-digest")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, digest, r.json().await.unwrap_or(Value::Null))
}

const USER: &str = "mirror-reader";
const PASSWORD: &str = "upstream-Pa55word-that-must-stay-secret";

#[tokio::test]
async fn podman_pulls_through_an_authenticated_upstream_and_keeps_pulling_when_it_is_down() {
    let mut up = Upstream::start(Some((USER, PASSWORD))).await;
    let image = up.push("upstream/app:v1", &[300_000, 40_000]);
    let s = Server::start_capturing_logs_with(CONFIG).await;
    create_org(&s, "hub").await;

    // Wrong credentials fail validation with a clear message; right ones pass.
    let base =
        json!({ "org_name": "hub", "upstream_registry": format!("{}/upstream", up.host), "insecure": true });
    let mut wrong = base.clone();
    wrong["upstream_registry_username"] = USER.into();
    wrong["upstream_registry_password"] = "not-it".into();
    let r = s
        .client
        .post(s.url("/api/v1/organization/hub/validateproxycache"))
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("credentials"));
    let mut right = base.clone();
    right["upstream_registry_username"] = USER.into();
    right["upstream_registry_password"] = PASSWORD.into();
    let r = s
        .client
        .post(s.url("/api/v1/organization/hub/validateproxycache"))
        .json(&right)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let (status, body) = configure(&s, "hub", right.clone()).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = configure(&s, "hub", right).await;
    assert_eq!(status, 400, "one configuration per organization");
    let view = s
        .get("/api/v1/organization/hub/proxycache")
        .await
        .text()
        .await
        .unwrap();
    let shown: Value = serde_json::from_str(&view).unwrap();
    assert_eq!(shown["upstream_registry"], format!("{}/upstream", up.host));
    assert_eq!(shown["expiration_s"], 86400);
    assert_eq!(shown["insecure"], true);

    // podman pulls through: local hub/app is upstream upstream/app, and
    // the digest is the upstream's.
    let work = tempfile::tempdir().unwrap();
    assert_eq!(
        podman_pull(&work.path().join("a"), s.host(), "hub/app:v1"),
        image.digest
    );
    let (status, digest, _) = get_manifest(&s, &format!("/v2/hub/app/manifests/{}", image.digest)).await;
    assert_eq!((status, digest.as_str()), (200, image.digest.as_str()));
    assert_eq!(
        s.get("/api/v1/repository/hub/app").await.status(),
        200,
        "created by the pull"
    );

    // Pushes into a proxy cache are refused with a message saying why.
    let out = skopeo(s.host())
        .args(["copy", "--dest-tls-verify=false", "--src-tls-verify=false"])
        .arg(format!("docker://{}/hub/app:v1", s.host()))
        .arg(format!("docker://{}/hub/mine:v1", s.host()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("proxy cache organization"), "{stderr}");

    // The upstream goes away: a second pull, into fresh storage, by tag and
    // by digest, is served from the cache.
    up.stop();
    assert_eq!(
        podman_pull(&work.path().join("b"), s.host(), "hub/app:v1"),
        image.digest
    );
    let by_digest = format!("hub/app@{}", image.digest);
    let auth = auth_file(s.host());
    run(podman(&work.path().join("c"))
        .args(["pull", "--tls-verify=false", "--authfile"])
        .arg(&auth)
        .arg(format!("{}/{by_digest}", s.host())));
    // Something never cached cannot be served, and says why.
    let (status, _, body) = get_manifest(&s, "/v2/hub/other/manifests/v1").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.to_string().contains("cannot be reached"), "{body}");

    // The credentials appear in no answer, no log line, no stored byte.
    let mut s = s;
    s.stop();
    assert!(!view.contains(PASSWORD) && !view.contains(USER));
    let log = std::fs::read(s.log_file.clone().unwrap()).unwrap();
    for secret in [PASSWORD, USER] {
        assert!(!contains(&log, secret.as_bytes()), "{secret} logged");
    }
    match s.db_uri() {
        Some(uri) => {
            let dump = Command::new("pg_dump").arg(uri).output().unwrap();
            assert!(dump.status.success());
            assert!(contains(&dump.stdout, b"proxy_cache_configs"));
            for secret in [PASSWORD, USER] {
                assert!(
                    !contains(&dump.stdout, secret.as_bytes()),
                    "{secret} stored in clear"
                );
            }
        }
        None => {
            for file in files_under(s.data_dir.path()) {
                let bytes = std::fs::read(&file).unwrap();
                for secret in [PASSWORD, USER] {
                    assert!(
                        !contains(&bytes, secret.as_bytes()),
                        "{secret} in {}",
                        file.display()
                    );
                }
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn twenty_concurrent_first_pulls_of_a_large_layer_make_one_upstream_request() {
    let up = Upstream::start(None).await;
    // 100 MiB of random data, gzipped (skopeo would compress it otherwise).
    let (layer, diff_id) = common::layout::gzip_layer(&random_bytes(100 << 20, unique_seed()));
    let (layer_digest, layer_len) = (common::sha256(&layer), layer.len());
    up.push_layer("lib/big:v1", layer, diff_id);
    let s = Server::start_with_config(CONFIG).await;
    proxy_org(&s, "cache", &up.host, 3600).await;

    let (status, _, manifest) = get_manifest(&s, "/v2/cache/lib/big/manifests/v1").await;
    assert_eq!(status, 200, "{manifest}");
    assert_eq!(manifest["layers"][0]["digest"], layer_digest.as_str());

    let url = s.url(&format!("/v2/cache/lib/big/blobs/{layer_digest}"));
    let pulls = (0..20).map(|_| {
        let client = s.client.clone();
        let url = url.clone();
        async move {
            let r = client.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let mut hasher = sha2::Sha256::new();
            let mut body = r.bytes_stream();
            let mut len = 0usize;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.unwrap();
                len += chunk.len();
                hasher.update(&chunk);
            }
            (len, format!("sha256:{}", hex::encode(hasher.finalize())))
        }
    });
    for (len, digest) in futures_util::future::join_all(pulls).await {
        assert_eq!(len, layer_len);
        assert_eq!(digest, layer_digest);
    }
    let path = format!("/v2/lib/big/blobs/{layer_digest}");
    eventually("the upstream logged its blob GET", || async {
        up.count("GET", &path) >= 1
    })
    .await;
    assert_eq!(up.count("GET", &path), 1, "one upstream GET for twenty pulls");
    // Stored: the next pull does not ask again.
    let r = s.client.get(&url).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), layer_len);
    assert_eq!(up.count("GET", &path), 1);
}

#[tokio::test]
async fn an_expired_tag_is_revalidated_and_a_moved_one_fetched_again() {
    let up = Upstream::start(None).await;
    let first = up.push("app/web:v1", &[10_000]);
    let s = Server::start_with_config(CONFIG).await;
    proxy_org(&s, "rv", &format!("{}/app", up.host), 1).await;
    let manifest_gets = || up.count("GET", "/v2/app/web/manifests/v1");
    let manifest_heads = || up.count("HEAD", "/v2/app/web/manifests/v1");

    let (status, digest, _) = get_manifest(&s, "/v2/rv/web/manifests/v1").await;
    assert_eq!((status, digest.as_str()), (200, first.digest.as_str()));
    eventually("the upstream logged the manifest GET", || async {
        manifest_gets() == 1
    })
    .await;

    // Past expiration_s, the tag is checked with a HEAD: unchanged, no
    // body is fetched again.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, digest, _) = get_manifest(&s, "/v2/rv/web/manifests/v1").await;
    assert_eq!(digest, first.digest);
    eventually("the upstream logged the HEAD", || async { manifest_heads() == 1 }).await;
    assert_eq!(manifest_gets(), 1);

    // Moved upstream: the next check fetches the new manifest.
    let second = up.push("app/web:v1", &[12_000]);
    assert_ne!(second.digest, first.digest);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, digest, _) = get_manifest(&s, "/v2/rv/web/manifests/v1").await;
    assert_eq!(digest, second.digest);
    // The old manifest stays pullable by digest, from the cache.
    let (status, _, _) = get_manifest(&s, &format!("/v2/rv/web/manifests/{}", first.digest)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_ns_parameter_picks_the_proxy_cache_of_that_upstream() {
    let one = Upstream::start(None).await;
    let two = Upstream::start(None).await;
    let from_one = one.push("lib/app:v1", &[5_000]);
    let from_two = two.push("lib/app:v1", &[6_000]);
    let s = Server::start_with_config(CONFIG).await;
    proxy_org(&s, "one", &one.host, 3600).await;
    proxy_org(&s, "two", &two.host, 3600).await;

    // containerd asks the mirror for the upstream's own path, naming the
    // upstream in ?ns=.
    let (status, digest, manifest) =
        get_manifest(&s, &format!("/v2/lib/app/manifests/v1?ns={}", two.host)).await;
    assert_eq!((status, digest.as_str()), (200, from_two.digest.as_str()));
    let (_, digest, _) = get_manifest(&s, &format!("/v2/lib/app/manifests/v1?ns={}", one.host)).await;
    assert_eq!(digest, from_one.digest);
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let r = s
        .client
        .get(s.url(&format!("/v2/lib/app/blobs/{layer}?ns={}", two.host)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(common::sha256(&r.bytes().await.unwrap()), layer);
    // Cached under the organization of that upstream.
    let (status, digest, _) = get_manifest(&s, "/v2/two/lib/app/manifests/v1").await;
    assert_eq!((status, digest.as_str()), (200, from_two.digest.as_str()));
    // An upstream no organization proxies: the path as it is.
    let (status, _, _) = get_manifest(&s, "/v2/lib/app/manifests/v1?ns=registry.example").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_hostile_upstream_gets_a_clear_error_and_nothing_is_stored() {
    let evil = hostile::Hostile::start().await;
    let s = Server::start_with_config(CONFIG).await;
    proxy_org(&s, "shady", &evil.host, 3600).await;

    // A manifest whose bytes are not the digest claimed.
    let (status, _, body) = get_manifest(&s, "/v2/shady/evil/app/manifests/lying").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["errors"][0]["code"], "UNKNOWN");
    assert!(body.to_string().contains("has digest"), "{body}");
    // One over the manifest size limit.
    let (status, _, body) = get_manifest(&s, "/v2/shady/evil/app/manifests/huge").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.to_string().contains("limit"), "{body}");
    assert_eq!(
        s.get("/api/v1/repository/shady/evil/app/tag/").await.status(),
        404
    );

    // Blobs of other bytes, or cut short: the client's download fails,
    // nothing is kept, and asking again fails the same way.
    for (tag, blob) in [("forged", &evil.forged_blob), ("truncated", &evil.truncated_blob)] {
        let (status, _, _) = get_manifest(&s, &format!("/v2/shady/evil/app/manifests/{tag}")).await;
        assert_eq!(status, 200);
        for _ in 0..2 {
            let r = s
                .client
                .get(s.url(&format!("/v2/shady/evil/app/blobs/{blob}")))
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                let received = r.bytes().await;
                assert!(
                    received.is_err() || common::sha256(&received.unwrap()) != *blob,
                    "{tag}: the bad bytes are not passed off as the blob"
                );
            } else {
                assert_eq!(r.status(), 502, "{tag}");
            }
        }
        let stored = s.stored_blobs().await;
        assert!(
            !stored
                .iter()
                .any(|b| b.contains(blob.trim_start_matches("sha256:"))),
            "{tag} stored"
        );
        let r = s.head(&format!("/v2/shady/evil/app/blobs/{blob}")).await;
        assert_ne!(r.status(), 200, "{tag}");
    }
    // Still serving.
    assert_eq!(s.get("/v2/").await.status(), 200);
}

/// Wall time of copying `source` to a fresh directory with skopeo.
fn timed_copy(host_auth: &str, source: &str) -> f64 {
    let out = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    run(skopeo(host_auth)
        .args(["copy", "--src-tls-verify=false", source])
        .arg(format!("dir:{}", out.path().join("image").display())));
    started.elapsed().as_secs_f64()
}

/// The benchmark of `bench/proxy-cache.sh`: a cold proxied pull against a
/// direct pull from the upstream, a warm proxied pull against a pull of the
/// same image pushed into Berth; medians of fresh images, as JSON.
#[tokio::test]
#[ignore = "a benchmark: bench/proxy-cache.sh runs it"]
async fn proxy_cache_bench() {
    let up = Upstream::start(None).await;
    let s = Server::start_with_config(CONFIG).await;
    proxy_org(&s, "bench", &up.host, 3600).await;
    let (mut direct, mut cold, mut warm, mut local) = (vec![], vec![], vec![], vec![]);
    for round in 0..5 {
        let repo = format!("lib/app{round}");
        up.push(&format!("{repo}:v1"), &[16 << 20, 16 << 20, 8 << 20]);
        direct.push(timed_copy(s.host(), &format!("docker://{}/{repo}:v1", up.host)));
        let proxied = format!("docker://{}/bench/{repo}:v1", s.host());
        cold.push(timed_copy(s.host(), &proxied));
        warm.push(timed_copy(s.host(), &proxied));
        run(skopeo(s.host())
            .args(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"])
            .arg(format!("docker://{}/{repo}:v1", up.host))
            .arg(format!("docker://{}/local/app{round}:v1", s.host())));
        local.push(timed_copy(
            s.host(),
            &format!("docker://{}/local/app{round}:v1", s.host()),
        ));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (d, c, w, l) = (
        median(&mut direct),
        median(&mut cold),
        median(&mut warm),
        median(&mut local),
    );
    println!(
        "{}",
        json!({
            "db": if s.db_uri().is_some() { "postgres" } else { "sqlite" },
            "image_mib": 40,
            "direct_s": d, "cold_proxied_s": c, "warm_proxied_s": w, "local_s": l,
            "cold_over_direct": c / d, "warm_over_local": w / l,
        })
    );
}

#[tokio::test]
async fn a_full_proxy_cache_evicts_its_least_recently_cached_image() {
    let up = Upstream::start(None).await;
    let first = up.push("lib/first:v1", &[600_000]);
    let second = up.push("lib/second:v1", &[600_000]);
    let s = Server::start_with_config(&format!("{CONFIG}{}", common::quota::FULL_ACCESS)).await;
    proxy_org(&s, "small", &format!("{}/lib", up.host), 3600).await;
    // Room for one image, not two (random layers do not compress).
    common::quota::set_quota(&s, "small", 1_000_000, &[("Reject", 100)]).await;

    let pull = |repo: &str| {
        let out = tempfile::tempdir().unwrap();
        run(skopeo(s.host())
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{}/small/{repo}:v1", s.host()))
            .arg(format!("dir:{}", out.path().join("i").display())));
    };
    pull("first");
    assert_eq!(
        common::api::resolve(&s, "small/first", "v1").await,
        Some(first.digest.clone())
    );
    // Its layer is stored while it streams to skopeo, and counted once
    // stored (later on S3): only then does it take room.
    common::eventually("the first image's layer counted", || async {
        common::quota::usage(&s, "small").await >= 600_000
    })
    .await;
    // The second image needs the room the first takes: the first goes.
    pull("second");
    assert_eq!(
        common::api::resolve(&s, "small/second", "v1").await,
        Some(second.digest.clone())
    );
    // Read through the API: a /v2 pull would fetch it again.
    let live = common::api::tag_list(&s, "small/first", "onlyActiveTags=true").await;
    assert_eq!(live["tags"].as_array().map(Vec::len), Some(0), "evicted: {live}");
    assert!(common::quota::usage(&s, "small").await < 1_000_000);
}
