//! The console's pages about upstreams, in a real Chromium against a real
//! upstream (Debian's `docker-registry` with htpasswd authentication,
//! filled by skopeo). A repository's mirroring page: a mirror created
//! with credentials (never shown again), synced until its status says
//! SUCCESS and the matched tags are there, its settings changed (the
//! stored credentials kept) and synced again with "sync now", a refused
//! upstream explained as the API does, the form refused without its CSRF
//! token, the page hidden from outsiders. An organization's proxy-cache
//! page: an upstream checked (a wrong password refused with the
//! upstream's reason), the configuration created, pulled through and
//! removed. An organization's mirroring page, against a second Berth: a
//! mirror created, its upstream checked, synced (matching repositories
//! created and synced, the others skipped), a refused change explained,
//! removed. Screenshots and axe-core checks at 1280 px and at phone width.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_support;
mod common;
#[path = "mirror/upstream.rs"]
mod upstream;

use api_support::{Admin, call, create_org, create_repo, ok};
use common::api::usage_log;
use common::browser::Browser;
use common::layout::write_image;
use common::{ADMIN, ADMIN_PASSWORD, Server, eventually, unique_seed};
use reqwest::Method;
use serde_json::{Value, json};
use upstream::{Distribution, berth_upstream, push_upstream};

/// Screenshot the page and check it with axe-core.
async fn look(b: &Browser, name: &str) {
    b.screenshot(name).await;
    b.assert_accessible(name).await;
}

/// The tags `/v2` lists for `repo`.
async fn tags(s: &Server, repo: &str) -> Vec<String> {
    let list = s.get_json(&format!("/v2/{repo}/tags/list")).await;
    let mut names: Vec<String> = list["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn mirroring_page_creates_syncs_and_changes_a_mirror() {
    let password = format!("console-upstream-pw-{}", unique_seed());
    let up = Distribution::start("mirroruser", &password).await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let seed = unique_seed();
    let v1 = write_image(&layout, "amd64", &[1200], seed);
    let dev = write_image(&layout, "amd64", &[900], seed + 10);
    up.push_all(&layout, &[("v1.0", &v1), ("dev", &dev)], "ns/app");

    let s = Server::start_capturing_logs_with(
        "FEATURE_SECURITY_SCANNER: false\n\
         DATABASE_SECRET_KEY: console-mirror-key-0123456789abcdef\n\
         SSRF_ALLOWED_HOSTS: [127.0.0.1]\n",
    )
    .await;
    create_org(&s, "acme").await;
    ok(&create_repo(&s, Admin, "acme", "app").await, 201);
    ok(
        &call(&s, Admin, Method::PUT, "/organization/acme/robots/mirror", None).await,
        201,
    );

    let b = Browser::start("repo-mirror", 1280).await;
    b.sign_in(&s.url(""), ADMIN, ADMIN_PASSWORD).await;
    b.goto(&s.url("/repository/acme/app")).await;
    b.click("a[href='/repository/acme/app?tab=mirror']").await;
    assert!(
        b.main_text().await.contains("not a mirror"),
        "{}",
        b.main_text().await
    );
    look(&b, "mirror-new").await;

    // A refused upstream (a private address) says why, as the API does,
    // and creates nothing.
    b.fill("#m-reference", "10.1.2.3/ns/app").await;
    b.fill("#m-tags", "v1.*").await;
    b.click("main form button[type=submit]").await;
    assert!(b.title().await.starts_with("Bad Request"), "{}", b.title().await);
    assert!(
        b.main_text().await.contains("10.1.2.3"),
        "{}",
        b.main_text().await
    );
    let none = call(&s, Admin, Method::GET, "/repository/acme/app/mirror", None).await;
    assert_eq!(none.0, 404, "{}", none.1);

    // Created from the page: plain HTTP upstream, credentials, sync only
    // when asked.
    b.goto(&s.url("/repository/acme/app?tab=mirror")).await;
    b.fill("#m-reference", &format!("{}/ns/app", up.addr)).await;
    b.fill("#m-tags", "v1.*").await;
    b.find("#m-robot")
        .await
        .select_by_value("acme+mirror")
        .await
        .unwrap();
    b.fill("#m-interval", "0").await;
    b.find("#m-verify-tls").await.click().await.unwrap();
    b.fill("#m-username", "mirroruser").await;
    b.fill("#m-password", &password).await;
    b.click("main form:has(input[value='create']) button[type=submit]")
        .await;
    assert!(
        b.main_text().await.contains("Mirror created"),
        "{}",
        b.main_text().await
    );
    let text = b.main_text().await;
    // The first sync is due at once (the start date is now).
    assert!(
        text.contains("Sync status") && text.contains("only when asked"),
        "{text}"
    );
    assert!(text.contains("Credentials are stored"), "{text}");
    assert!(
        !b.client.source().await.unwrap().contains(&password),
        "never shown"
    );
    let api = call(&s, Admin, Method::GET, "/repository/acme/app/mirror", None).await;
    ok(&api, 200);
    assert_eq!(api.1["external_registry_config"]["verify_tls"], false);
    assert_eq!(api.1["robot_username"], "acme+mirror");
    assert_eq!(api.1["sync_interval"], 0);
    assert_eq!(api.1["root_rule"]["rule_value"], serde_json::json!(["v1.*"]));

    // The status follows the sync, and the matched tag is there.
    eventually("the sync succeeds", || async {
        b.goto(&s.url("/repository/acme/app?tab=mirror")).await;
        b.main_text().await.contains("SUCCESS")
    })
    .await;
    assert_eq!(tags(&s, "acme/app").await, ["v1.0"]);
    look(&b, "mirror").await;

    // Settings changed from the page keep the stored credentials: the
    // next sync, asked for with "sync now", still authenticates and
    // copies every tag now.
    b.fill("#m-tags", "*").await;
    b.click("main form:has(input[value='save']) button[type=submit]")
        .await;
    assert!(b.main_text().await.contains("Mirror settings saved"));
    assert!(b.main_text().await.contains("Credentials are stored"));
    // The usage log names what the save changed, nothing else.
    let changed: Vec<Value> = usage_log(&s, "acme")
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "repo_mirror_config_changed")
        .map(|(_, m)| m["changed"].clone())
        .collect();
    assert_eq!(changed, [json!("root_rule")]);
    // A platform filter needs sparse indexes, which this registry has off:
    // refused, saying so.
    b.find("#m-arch-amd64").await.click().await.unwrap();
    b.click("main form:has(input[value='save']) button[type=submit]")
        .await;
    assert!(b.title().await.starts_with("Bad Request"), "{}", b.title().await);
    assert!(
        b.main_text().await.contains("FEATURE_SPARSE_INDEX"),
        "{}",
        b.main_text().await
    );
    b.goto(&s.url("/repository/acme/app?tab=mirror")).await;
    b.click("form:has(input[value='sync_now']) button").await;
    assert!(b.main_text().await.contains("Sync requested"));
    eventually("the second sync copies every tag", || async {
        tags(&s, "acme/app").await == ["dev", "v1.0"]
    })
    .await;
    eventually("the status says so", || async {
        b.goto(&s.url("/repository/acme/app?tab=mirror")).await;
        b.main_text().await.contains("SUCCESS")
    })
    .await;

    // The settings page leaves the state to the mirror; the usage log
    // holds the syncs.
    b.goto(&s.url("/repository/acme/app?tab=settings")).await;
    assert!(b.main_text().await.contains("This repository is a mirror"));
    b.goto(&s.url("/repository/acme/app?tab=logs")).await;
    let log = b.main_text().await;
    assert!(
        log.contains("repo_mirror_sync_success") || log.contains("mirror"),
        "{log}"
    );

    // The form without its CSRF token is refused and changes nothing.
    b.goto(&s.url("/repository/acme/app?tab=mirror")).await;
    b.fill("#m-tags", "nothing-matches").await;
    b.execute(
        "document.querySelector('main form:has(input[value=save]) input[name=csrf_token]').remove();",
        vec![],
    )
    .await;
    b.click("main form:has(input[value='save']) button[type=submit]")
        .await;
    assert!(b.title().await.starts_with("Forbidden"), "{}", b.title().await);
    let api = call(&s, Admin, Method::GET, "/repository/acme/app/mirror", None).await;
    assert_eq!(api.1["root_rule"]["rule_value"], serde_json::json!(["*"]));

    // The password is in no log either.
    let server_log = std::fs::read_to_string(s.log_file.as_ref().unwrap()).unwrap();
    assert!(server_log.contains("acme/app"), "the log is captured");
    assert!(!server_log.contains(&password), "the password was logged");

    // An outsider, and a visitor signed out, find no such page.
    s.create_user("mallory", "mallory-console-password", false);
    let outsider = Browser::start("repo-mirror-outsider", 1280).await;
    outsider
        .sign_in(&s.url(""), "mallory", "mallory-console-password")
        .await;
    outsider.goto(&s.url("/repository/acme/app?tab=mirror")).await;
    assert!(outsider.title().await.starts_with("Not Found"));
    let anon = Browser::start("repo-mirror-anon", 1280).await;
    anon.goto(&s.url("/repository/acme/app?tab=mirror")).await;
    assert!(!anon.main_text().await.contains("Sync status"));

    // At phone width.
    let phone = Browser::start("repo-mirror-phone", 390).await;
    phone.sign_in(&s.url(""), ADMIN, ADMIN_PASSWORD).await;
    phone.goto(&s.url("/repository/acme/app?tab=mirror")).await;
    look(&phone, "mirror").await;
}

/// The digest `/v2` answers for `repo:reference` (an OCI client's accept).
async fn digest_of(s: &Server, repo: &str, reference: &str) -> (u16, String) {
    let r = s
        .client
        .get(s.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header(
            "accept",
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .unwrap();
    let digest = r
        .headers()
        .get("docker-content-digest")
        .map(|d| d.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), digest)
}

#[tokio::test]
async fn proxy_cache_page_checks_creates_and_removes_a_configuration() {
    let password = format!("console-proxy-pw-{}", unique_seed());
    let up = Distribution::start("proxyuser", &password).await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[1500], unique_seed());
    up.push_all(&layout, &[("v1", &image)], "ns/app");

    let s = Server::start_capturing_logs_with(
        "FEATURE_SECURITY_SCANNER: false\n\
         DATABASE_SECRET_KEY: console-proxy-key-0123456789abcdef\n\
         SSRF_ALLOWED_HOSTS: [127.0.0.1]\n",
    )
    .await;
    create_org(&s, "cache").await;
    let b = Browser::start("org-proxy", 1280).await;
    b.sign_in(&s.url(""), ADMIN, ADMIN_PASSWORD).await;
    b.goto(&s.url("/organization/cache")).await;
    b.click("a[href='/organization/cache/proxycache']").await;
    assert!(
        b.main_text()
            .await
            .contains("Make this organization a proxy cache")
    );
    look(&b, "proxy-cache-new").await;

    // A check with a wrong password says what the upstream answered, and
    // the page keeps what was typed (but the password).
    let upstream = format!("{}/ns", up.addr);
    b.fill("#p-upstream", &upstream).await;
    b.find("#p-insecure").await.click().await.unwrap();
    b.fill("#p-username", "proxyuser").await;
    b.fill("#p-password", "wrong-password").await;
    b.click("button[value='check']").await;
    let problem = b.find("p.error").await.text().await.unwrap();
    assert!(problem.contains("401"), "{problem}");
    assert_eq!(
        b.find("#p-upstream").await.prop("value").await.unwrap().unwrap(),
        upstream
    );
    assert_eq!(
        b.find("#p-password").await.prop("value").await.unwrap().unwrap(),
        ""
    );
    look(&b, "proxy-cache-refused").await;

    // The right one passes the check; then the configuration is created.
    b.fill("#p-password", &password).await;
    b.click("button[value='check']").await;
    assert!(
        b.main_text().await.contains("The upstream answered"),
        "{}",
        b.main_text().await
    );
    b.fill("#p-password", &password).await;
    b.click("button[value='create']").await;
    assert!(
        b.main_text().await.contains("Proxy cache configured"),
        "{}",
        b.main_text().await
    );
    assert!(b.main_text().await.contains(&upstream));
    assert!(
        !b.client.source().await.unwrap().contains(&password),
        "never shown"
    );
    look(&b, "proxy-cache").await;

    // Pulls through it get the upstream's digest.
    assert_eq!(
        digest_of(&s, "cache/app", "v1").await,
        (200, image.digest.clone())
    );
    let api = call(&s, Admin, Method::GET, "/organization/cache/proxycache", None).await;
    assert_eq!(api.1["upstream_registry"], upstream.as_str());
    assert_eq!(api.1["insecure"], true);

    // Removed from the page: the cached image stays.
    b.click("form:has(input[value='remove']) button").await;
    assert!(b.main_text().await.contains("Proxy cache removed"));
    assert_eq!(
        digest_of(&s, "cache/app", "v1").await,
        (200, image.digest.clone())
    );
    let server_log = std::fs::read_to_string(s.log_file.as_ref().unwrap()).unwrap();
    assert!(!server_log.contains(&password), "the password was logged");

    // Members who do not administer it get no such page.
    s.create_user("mallory", "mallory-console-password", false);
    let outsider = Browser::start("org-proxy-outsider", 1280).await;
    outsider
        .sign_in(&s.url(""), "mallory", "mallory-console-password")
        .await;
    outsider.goto(&s.url("/organization/cache/proxycache")).await;
    assert!(!outsider.main_text().await.contains("Upstream registry"));

    let phone = Browser::start("org-proxy-phone", 390).await;
    phone.sign_in(&s.url(""), ADMIN, ADMIN_PASSWORD).await;
    phone.goto(&s.url("/organization/cache/proxycache")).await;
    look(&phone, "proxy-cache").await;
}

#[tokio::test]
async fn org_mirror_page_creates_checks_syncs_and_removes_a_mirror() {
    let (up, token) = berth_upstream().await;
    push_upstream(&up, "app1", "v1").await;
    push_upstream(&up, "app2", "v1").await;
    push_upstream(&up, "other", "v1").await;

    let s = Server::start_capturing_logs_with(
        "FEATURE_SECURITY_SCANNER: false\n\
         DATABASE_SECRET_KEY: console-org-mirror-key-0123456789abcdef\n\
         SSRF_ALLOWED_HOSTS: [127.0.0.1]\n",
    )
    .await;
    create_org(&s, "acme").await;
    ok(
        &call(&s, Admin, Method::PUT, "/organization/acme/robots/mirror", None).await,
        201,
    );
    let b = Browser::start("org-mirror", 1280).await;
    b.sign_in(&s.url(""), ADMIN, ADMIN_PASSWORD).await;
    b.goto(&s.url("/organization/acme")).await;
    b.click("a[href='/organization/acme/mirror']").await;
    assert!(b.main_text().await.contains("This organization mirrors nothing"));
    look(&b, "org-mirror-new").await;

    // Created from the page, its first discovery scheduled far ahead so
    // that "sync now" is what starts it.
    b.find("#o-type").await.select_by_value("quay").await.unwrap();
    b.fill("#o-url", &format!("http://{}", up.host())).await;
    b.fill("#o-namespace", "team").await;
    b.fill("#o-filters", "app*").await;
    b.find("#o-robot")
        .await
        .select_by_value("acme+mirror")
        .await
        .unwrap();
    b.execute(
        "document.querySelector('#o-start').value = '2099-01-01T00:00';",
        vec![],
    )
    .await;
    b.find("#o-verify-tls").await.click().await.unwrap();
    b.fill("#o-username", "team+reader").await;
    b.fill("#o-password", &token).await;
    b.click("main form:has(input[value='create']) button[type=submit]")
        .await;
    let text = b.main_text().await;
    assert!(text.contains("Organization mirror created"), "{text}");
    assert!(
        text.contains("NEVER_RUN") && text.contains("Credentials are stored"),
        "{text}"
    );
    assert!(!b.client.source().await.unwrap().contains(&token), "never shown");

    // The check lists the upstream namespace with the stored credentials.
    b.click("button[value='verify']").await;
    assert!(
        b.main_text().await.contains("its namespace holds 3 repositories"),
        "{}",
        b.main_text().await
    );

    // Sync now: the matched repositories are created and synced, the
    // other is skipped.
    b.click("button[value='sync_now']").await;
    assert!(b.main_text().await.contains("Sync requested"));
    eventually("the discovery and both syncs succeed", || async {
        b.goto(&s.url("/organization/acme/mirror")).await;
        let rows = tables(&b).await;
        rows.contains("app1 SUCCESS") && rows.contains("app2 SUCCESS") && rows.contains("other SKIP")
    })
    .await;
    assert_eq!(tags(&s, "acme/app1").await, ["v1"]);
    look(&b, "org-mirror").await;

    // A refused change says why, as the API does.
    b.fill("#o-filters", "app*").await;
    b.fill("#o-url", "http://10.1.2.3").await;
    b.click("main form:has(input[value='save']) button[type=submit]")
        .await;
    let problem = b.find("p.error").await.text().await.unwrap();
    assert!(problem.contains("10.1.2.3"), "{problem}");

    // Removed: the repositories stay as ordinary ones.
    b.goto(&s.url("/organization/acme/mirror")).await;
    b.click("button[value='remove']").await;
    assert!(b.main_text().await.contains("Organization mirror removed"));
    assert_eq!(tags(&s, "acme/app1").await, ["v1"]);
    let server_log = std::fs::read_to_string(s.log_file.as_ref().unwrap()).unwrap();
    assert!(!server_log.contains(&token), "the token was logged");

    let phone = Browser::start("org-mirror-phone", 390).await;
    phone.sign_in(&s.url(""), ADMIN, ADMIN_PASSWORD).await;
    phone.goto(&s.url("/organization/acme/mirror")).await;
    look(&phone, "org-mirror").await;
}

/// The text of the page's tables, one line per row, cells joined by a
/// space.
async fn tables(b: &Browser) -> String {
    let rows = b
        .execute(
            "return Array.from(document.querySelectorAll('main table tbody tr'))\
               .map(r => Array.from(r.cells).map(c => c.textContent.trim()).join(' ')).join('\\n');",
            vec![],
        )
        .await;
    rows.as_str().unwrap_or_default().to_owned()
}
