//! Usage logs over /api/v1: listings of a repository, an organization, the
//! calling user and the whole registry, paging, per-day counts, exports and
//! refusals.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Server, basic_auth};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// `GET /api/v1{path}` with `auth` (or as admin), expecting `status`.
async fn get_as(s: &Server, auth: Option<&str>, path: &str, status: u16) -> Value {
    let mut req = s.anon.get(s.url(&format!("/api/v1{path}")));
    req = req.header(
        "authorization",
        auth.map(str::to_owned)
            .unwrap_or_else(|| basic_auth(ADMIN, common::ADMIN_PASSWORD)),
    );
    let r = req.send().await.unwrap();
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// `GET /api/v1{path}` as admin, expecting 200.
async fn get_ok(s: &Server, path: &str) -> Value {
    get_as(s, None, path, 200).await
}

/// Pull a manifest through /v2 with `auth`.
async fn pull(s: &Server, auth: &str, repo: &str, reference: &str) {
    let r = s
        .anon
        .get(s.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "pull {repo}:{reference}");
}

fn admin() -> String {
    basic_auth(ADMIN, common::ADMIN_PASSWORD)
}

/// Every entry of a listing from its page `token` on (or from the start),
/// following `next_page`; also returns the sizes of the pages.
async fn all_pages(s: &Server, path: &str, token: Option<&str>) -> (Vec<Value>, Vec<usize>) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut entries = Vec::new();
    let mut sizes = Vec::new();
    let mut page = match token {
        Some(t) => get_ok(s, &format!("{path}{sep}next_page={t}")).await,
        None => get_ok(s, path).await,
    };
    loop {
        let logs = page["logs"].as_array().unwrap();
        sizes.push(logs.len());
        entries.extend(logs.iter().cloned());
        let Some(token) = page["next_page"].as_str() else {
            break;
        };
        page = get_ok(s, &format!("{path}{sep}next_page={token}")).await;
    }
    (entries, sizes)
}

fn kinds(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

/// Today's UTC date as `%m/%d/%Y`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{month:02}/{day:02}/{year}")
}

#[tokio::test]
async fn push_and_pull_are_logged_with_performer_ip_and_reference() {
    let s = Server::start().await;
    let (_, digest) = s.push_image("acme/app", "v1", 1).await;
    pull(&s, &admin(), "acme/app", "v1").await;

    let page = get_ok(&s, "/repository/acme/app/logs").await;
    assert!(page["start_time"].as_str().unwrap().ends_with("-0000"));
    assert!(page["end_time"].as_str().unwrap().ends_with("-0000"));
    assert!(page.get("next_page").is_none());
    let logs = page["logs"].as_array().unwrap();
    // Newest first; the push created the repository.
    assert_eq!(
        kinds(logs),
        ["pull_repo", "push_repo", "create_repo"],
        "{logs:#?}"
    );
    for e in &logs[..2] {
        assert_eq!(e["performer"]["kind"], "user");
        assert_eq!(e["performer"]["name"], ADMIN);
        assert_eq!(e["performer"]["is_robot"], false);
        assert_eq!(e["performer"]["avatar"]["name"], ADMIN);
        assert_eq!(e["ip"], "127.0.0.1");
        assert_eq!(e["metadata"]["tag"], "v1");
        assert_eq!(e["metadata"]["manifest_digest"], digest.as_str());
        assert_eq!(e["metadata"]["namespace"], "acme");
        assert_eq!(e["metadata"]["repo"], "app");
        assert_eq!(e["namespace"]["name"], "acme");
        assert_eq!(e["namespace"]["kind"], "org");
        assert!(e["datetime"].as_str().unwrap().ends_with("-0000"), "{e}");
    }

    // The day given explicitly (end inclusive) finds them; another range
    // does not.
    let day = today();
    let page = get_ok(
        &s,
        &format!("/repository/acme/app/logs?starttime={day}&endtime={day}"),
    )
    .await;
    assert_eq!(page["logs"].as_array().unwrap().len(), 3);
    let page = get_ok(
        &s,
        "/repository/acme/app/logs?starttime=01/01/2001&endtime=01/31/2001",
    )
    .await;
    assert_eq!(page["logs"], json!([]));
    assert_eq!(page["start_time"], "Mon, 01 Jan 2001 00:00:00 -0000");
    assert_eq!(page["end_time"], "Thu, 01 Feb 2001 00:00:00 -0000");

    // The superuser sees them among everything.
    let all = get_ok(&s, "/superuser/logs").await;
    let all = all["logs"].as_array().unwrap();
    assert!(
        all.iter()
            .any(|e| e["kind"] == "push_repo" && e["namespace"]["name"] == "acme")
    );
    let counts = get_ok(&s, "/superuser/aggregatelogs").await;
    let pulls: i64 = counts["aggregated"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "pull_repo")
        .map(|c| c["count"].as_i64().unwrap())
        .sum();
    assert_eq!(pulls, 1);
}

#[tokio::test]
async fn org_logs_filter_by_performer() {
    let s = Server::start().await;
    s.push_image("acme/app", "v1", 1).await;
    let r = s
        .client
        .post(s.url("/api/v1/repository/acme/app/changevisibility"))
        .json(&json!({ "visibility": "public" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.create_user("bob", "bob-password", false);
    let bob = basic_auth("bob", "bob-password");
    pull(&s, &bob, "acme/app", "v1").await;
    pull(&s, &bob, "acme/app", "v1").await;

    let all = get_ok(&s, "/organization/acme/logs").await;
    let all = all["logs"].as_array().unwrap();
    // (The push is queued and the visibility change written at once, so
    // within one millisecond their order is not fixed.)
    let mut all_kinds = kinds(all);
    all_kinds.sort();
    assert_eq!(
        all_kinds,
        [
            "change_repo_visibility",
            "create_repo",
            "org_create",
            "pull_repo",
            "pull_repo",
            "push_repo",
        ],
        "{all:#?}"
    );
    assert_eq!(kinds(&all[..2]), ["pull_repo", "pull_repo"]);
    let by_bob = get_ok(&s, "/organization/acme/logs?performer=bob").await;
    let by_bob = by_bob["logs"].as_array().unwrap();
    assert_eq!(kinds(by_bob), ["pull_repo", "pull_repo"]);
    assert!(by_bob.iter().all(|e| e["performer"]["name"] == "bob"));
    let by_admin = get_ok(&s, &format!("/organization/acme/logs?performer={ADMIN}")).await;
    let by_admin = by_admin["logs"].as_array().unwrap();
    assert_eq!(by_admin.len(), 4);
    assert!(by_admin.iter().all(|e| e["performer"]["name"] == ADMIN));

    let counts = get_ok(&s, "/organization/acme/aggregatelogs?performer=bob").await;
    let counts = counts["aggregated"].as_array().unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(counts[0]["kind"], "pull_repo");
    assert_eq!(counts[0]["count"], 2);
    assert!(
        counts[0]["datetime"]
            .as_str()
            .unwrap()
            .ends_with("00:00:00 -0000")
    );

    // bob administers nothing here.
    for path in [
        "/organization/acme/logs",
        "/organization/acme/aggregatelogs",
        "/repository/acme/app/logs",
        "/repository/acme/app/aggregatelogs",
        "/superuser/logs",
        "/superuser/aggregatelogs",
    ] {
        get_as(&s, Some(&bob), path, 403).await;
    }
    for path in ["/repository/acme/app/exportlogs", "/organization/acme/exportlogs"] {
        let r = s
            .anon
            .post(s.url(&format!("/api/v1{path}")))
            .header("authorization", &bob)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let r = s
            .anon
            .post(s.url(&format!("/api/v1{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    // Nor may anyone anonymous read logs.
    for path in [
        "/organization/acme/logs",
        "/repository/acme/app/logs",
        "/user/logs",
        "/user/aggregatelogs",
        "/superuser/logs",
    ] {
        let r = s.anon.get(s.url(&format!("/api/v1{path}"))).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = s
        .anon
        .post(s.url("/api/v1/user/exportlogs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // No such namespace: not administered by anyone; a user is not an
    // organization.
    get_as(&s, None, "/organization/nosuchorg/logs", 403).await;
    get_as(&s, None, &format!("/organization/{ADMIN}/logs"), 404).await;
}

#[tokio::test]
async fn user_logs_cover_the_callers_namespace() {
    let s = Server::start().await;
    s.create_user("carol", "carol-password", false);
    let carol = basic_auth("carol", "carol-password");
    s.push_image("acme/app", "v1", 1).await;
    // carol pushes to her own namespace.
    let config = common::sha256(b"{}");
    let r = s
        .anon
        .post(s.url(&format!("/v2/carol/mine/blobs/uploads/?digest={config}")))
        .header("authorization", &carol)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let manifest = common::image_manifest(&config, 2, &[], None);
    let r = s
        .anon
        .put(s.url("/v2/carol/mine/manifests/latest"))
        .header("authorization", &carol)
        .header("content-type", common::OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    let mine = get_as(&s, Some(&carol), "/user/logs", 200).await;
    let mine = mine["logs"].as_array().unwrap();
    assert_eq!(
        kinds(mine),
        ["push_repo", "create_repo", "user_create"],
        "{mine:#?}"
    );
    assert_eq!(mine[0]["performer"]["name"], "carol");
    assert_eq!(mine[0]["namespace"]["kind"], "user");
    assert_eq!(mine[0]["metadata"]["repo"], "mine");
    assert_eq!(mine[0]["metadata"]["tag"], "latest");
    let none = get_as(&s, Some(&carol), "/user/logs?performer=someoneelse", 200).await;
    assert_eq!(none["logs"], json!([]));
    let counts = get_as(&s, Some(&carol), "/user/aggregatelogs", 200).await;
    let counts = counts["aggregated"].as_array().unwrap();
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.iter().all(|c| c["count"] == 1));

    // The admin's own namespace holds none of it, nor the org's entries.
    let admins = get_ok(&s, "/user/logs").await;
    assert!(
        admins["logs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["namespace"]["name"] == ADMIN),
        "{admins:#?}"
    );
    // carol may not read another repository's logs, nor the org's.
    get_as(&s, Some(&carol), "/repository/acme/app/logs", 403).await;
    // The user export holds her entries.
    let r = s
        .anon
        .post(s.url("/api/v1/user/exportlogs"))
        .header("authorization", &carol)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"carol-logs.jsonl\""
    );
    let text = r.text().await.unwrap();
    let mut lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    lines.reverse();
    assert_eq!(lines, mine.to_vec());
}

#[tokio::test]
async fn paging_aggregation_and_export_agree() {
    let s = Server::start().await;
    s.push_image("acme/app", "v1", 1).await;
    let auth = admin();
    const PULLS: usize = 250;
    futures_util::stream::iter(0..PULLS)
        .for_each_concurrent(16, |_| pull(&s, &auth, "acme/app", "v1"))
        .await;

    // Page one, then more entries, then the rest: later entries do not
    // shift the pages.
    let first = get_ok(&s, "/repository/acme/app/logs").await;
    assert_eq!(first["logs"].as_array().unwrap().len(), 100);
    let token = first["next_page"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        pull(&s, &auth, "acme/app", "v1").await;
    }
    let (rest, sizes) = all_pages(&s, "/repository/acme/app/logs", Some(&token)).await;
    assert_eq!(sizes, [100, 52]);
    let mut listed: Vec<Value> = first["logs"].as_array().unwrap().clone();
    listed.extend(rest);
    let k = kinds(&listed);
    assert_eq!(k.len(), PULLS + 2);
    assert_eq!(k.iter().filter(|k| **k == "pull_repo").count(), PULLS);
    assert_eq!(&k[PULLS..], ["push_repo", "create_repo"]);

    // A fresh listing sees the new pulls, in pages of 100 with no gaps.
    let (everything, sizes) = all_pages(&s, "/repository/acme/app/logs", None).await;
    assert_eq!(sizes, [100, 100, 57]);
    // The newer five come first; the rest is exactly the earlier listing.
    assert_eq!(&everything[5..], &listed[..]);

    // Counts per kind and day match.
    let counts = get_ok(&s, "/repository/acme/app/aggregatelogs").await;
    let mut per_kind = std::collections::BTreeMap::new();
    for c in counts["aggregated"].as_array().unwrap() {
        *per_kind
            .entry(c["kind"].as_str().unwrap().to_owned())
            .or_insert(0) += c["count"].as_i64().unwrap();
    }
    assert_eq!(
        per_kind.into_iter().collect::<Vec<_>>(),
        [
            ("create_repo".to_owned(), 1),
            ("pull_repo".to_owned(), PULLS as i64 + 5),
            ("push_repo".to_owned(), 1)
        ]
    );

    // The export holds the same entries, oldest first, as JSON lines.
    let r = s
        .client
        .post(s.url("/api/v1/repository/acme/app/exportlogs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"acme-logs.jsonl\""
    );
    let text = r.text().await.unwrap();
    let mut exported: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    exported.reverse();
    assert_eq!(exported, everything);

    // A body with an e-mail is accepted (and ignored); a callback URL is
    // refused, as exports come back directly.
    let r = s
        .client
        .post(s.url("/api/v1/repository/acme/app/exportlogs?starttime=01/01/2001&endtime=01/02/2001"))
        .json(&json!({ "callback_email": "ops@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    let r = s
        .client
        .post(s.url("/api/v1/repository/acme/app/exportlogs"))
        .json(&json!({ "callback_url": "https://example.com/hook" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("callback_url"),
        "{body}"
    );
    let r = s
        .client
        .post(s.url("/api/v1/repository/acme/app/exportlogs"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The exports are logged: the full one and the empty one.
    let page = get_ok(&s, "/repository/acme/app/logs").await;
    let exports: Vec<&Value> = page["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "export_logs_success")
        .collect();
    assert_eq!(exports.len(), 2, "{page:#?}");
    assert_eq!(exports[0]["metadata"]["exported"], 0);
    assert_eq!(exports[1]["metadata"]["exported"], PULLS as i64 + 7);
    assert_eq!(exports[1]["performer"]["name"], ADMIN);
}

#[tokio::test]
async fn bad_dates_and_tokens_are_refused() {
    use base64::Engine;
    let s = Server::start().await;
    s.push_image("acme/app", "v1", 1).await;
    let auth = admin();
    futures_util::stream::iter(0..120)
        .for_each_concurrent(16, |_| pull(&s, &auth, "acme/app", "v1"))
        .await;
    for query in [
        "starttime=2024-01-01",
        "starttime=13/01/2024",
        "endtime=yesterday",
        "starttime=05/03/2024&endtime=05/01/2024",
        "starttime=12/31/999999",
        "next_page=!!!",
        "next_page=bm90IGpzb24",
        "next_page=",
    ] {
        let status = if query == "next_page=" { 200 } else { 400 };
        let body = get_as(&s, None, &format!("/repository/acme/app/logs?{query}"), status).await;
        if status == 400 {
            assert_eq!(body["error_type"], "invalid_request", "{query}");
        }
    }
    for path in [
        "/repository/acme/app/aggregatelogs?starttime=xx",
        "/superuser/aggregatelogs?endtime=02/30/2024",
        "/organization/acme/logs?starttime=1/1",
    ] {
        get_as(&s, None, path, 400).await;
    }
    let r = s
        .client
        .post(s.url("/api/v1/organization/acme/exportlogs?starttime=bad"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A genuine token works only for its own listing.
    let page = get_ok(&s, "/repository/acme/app/logs").await;
    let token = page["next_page"].as_str().unwrap();
    get_ok(&s, &format!("/repository/acme/app/logs?next_page={token}")).await;
    get_as(
        &s,
        None,
        &format!("/organization/acme/logs?next_page={token}"),
        400,
    )
    .await;
    get_as(&s, None, &format!("/superuser/logs?next_page={token}"), 400).await;

    // Forged tokens: altered fields, wrong shapes.
    let decoded: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .unwrap(),
    )
    .unwrap();
    let forge = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let mut forged = Vec::new();
    for (field, value) in [
        ("i", json!(-5)),
        ("i", json!("12")),
        ("m", json!(0)),
        ("t", json!(0)),
        ("s", json!(i64::MAX)),
        ("e", json!(0)),
        ("f", json!("0000000000000000")),
        ("x", json!(1)),
    ] {
        let mut v = decoded.clone();
        v[field] = value;
        forged.push(forge(&v));
    }
    forged.push(forge(&json!([1, 2, 3])));
    forged.push(forge(&json!(null)));
    for t in forged {
        get_as(&s, None, &format!("/repository/acme/app/logs?next_page={t}"), 400).await;
    }
}
