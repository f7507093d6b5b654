//! The repository side of the web console in a real Chromium: moving a
//! tag; a manifest's page (layers and sizes, the config's history, an
//! index's platforms, referrers, the vulnerability table with its
//! filters and its empty states); repository settings (visibility,
//! description, state, deletion after a confirmation); notifications
//! (created with a webhook's secret shown once, tested, their delivery
//! log, failures and their reset, deleted). Every new page is
//! screenshotted to `target/console-screenshots/` and checked with
//! axe-core, at 1280 px and at phone width; a new form posted without its
//! CSRF token is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::browser::Browser;
use common::feeds::FeedServer;
use common::layout::{gzip_layer, write_image_layers, write_layout_index};
use common::receiver::{Answer, Receiver};
use common::{ADMIN, ADMIN_PASSWORD, OCI_INDEX, OCI_MANIFEST, Server, eventually, run, sha256};

/// Screenshot the page and check it with axe-core.
async fn look(b: &Browser, name: &str) {
    b.screenshot(name).await;
    b.assert_accessible(name).await;
}

/// Sign in as the registry's administrator (who pushes the test images).
async fn sign_in(b: &Browser, s: &Server) {
    b.goto(&s.url("/signin")).await;
    b.fill("#username", ADMIN).await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("main form button[type=submit]").await;
    assert!(
        b.page_text().await.contains("Signed in as"),
        "{}",
        b.page_text().await
    );
}

/// The text of the page's tables.
async fn tables(b: &Browser) -> String {
    let mut out = String::new();
    for t in b
        .client
        .find_all(fantoccini::Locator::Css("main table"))
        .await
        .unwrap()
    {
        out.push_str(&t.text().await.unwrap());
        out.push('\n');
    }
    out
}

/// Push an image through `/v2` whose config records a history, by tag
/// or (with no tag) by its digest; returns its manifest digest and bytes.
async fn push_image(s: &Server, repo: &str, tag: Option<&str>, arch: &str) -> (String, Vec<u8>) {
    let seed = common::unique_seed();
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","seed":{seed},"history":[
            {{"created":"2026-01-02T03:04:05Z","created_by":"/bin/sh -c #(nop) ADD file:base in / "}},
            {{"created":"2026-01-02T03:04:06Z","created_by":"/bin/sh -c apt-get install -y curl"}},
            {{"created_by":"/bin/sh -c #(nop)  CMD [\"bash\"]","empty_layer":true}}]}}"#
    )
    .into_bytes();
    let config_digest = s.push_blob(repo, &config).await;
    let mut layers = Vec::new();
    for (i, size) in [3000usize, 70_000].into_iter().enumerate() {
        let bytes = common::random_bytes(size, seed + i as u64);
        layers.push((s.push_blob(repo, &bytes).await, bytes.len()));
    }
    let manifest = common::image_manifest(&config_digest, config.len(), &layers, None);
    let digest = sha256(&manifest);
    let r = s
        .put_manifest(repo, tag.unwrap_or(&digest), OCI_MANIFEST, &manifest)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    (digest, manifest)
}

/// An index over two fresh images (amd64 and arm64/v8), tagged `tag`;
/// returns its digest and its children's.
async fn push_index(s: &Server, repo: &str, tag: &str) -> (String, [String; 2]) {
    let (amd, amd_bytes) = push_image(s, repo, None, "amd64").await;
    let (arm, arm_bytes) = push_image(s, repo, None, "arm64").await;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{amd}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{arm}","size":{},"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#,
        amd_bytes.len(),
        arm_bytes.len()
    )
    .into_bytes();
    let r = s.put_manifest(repo, tag, OCI_INDEX, &index).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    (sha256(&index), [amd, arm])
}

/// An SBOM artifact whose subject is `subject`; returns its digest.
async fn push_sbom(s: &Server, repo: &str, subject: &str, subject_len: usize) -> String {
    let empty = s.push_blob(repo, b"{}").await;
    let sbom = br#"{"spdxVersion":"SPDX-2.3"}"#;
    let layer = s.push_blob(repo, sbom).await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/spdx+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/spdx+json","digest":"{layer}","size":{}}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":{subject_len}}}}}"#,
        sbom.len()
    )
    .into_bytes();
    let digest = sha256(&manifest);
    let r = s.put_manifest(repo, &digest, OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    digest
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A tar stream of (path, content) files.
fn tar_layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, *content).unwrap();
    }
    b.into_inner().unwrap()
}

/// Debian 12's dpkg database and a Python package (see `tests/vulns.rs`
/// for the findings they give against `tests/data/vulndata`), pushed with
/// skopeo; returns the manifest digest.
fn push_debian(s: &Server, repo: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let status = std::fs::read(data().join("images/debian-12/status")).unwrap();
    let os_release = std::fs::read(data().join("images/debian-12/os-release")).unwrap();
    let base = tar_layer(&[("var/lib/dpkg/status", &status), ("etc/os-release", &os_release)]);
    let redis = b"Metadata-Version: 2.1\nName: redis\nVersion: 4.5.1\n";
    let app = tar_layer(&[(
        "usr/lib/python3/dist-packages/redis-4.5.1.dist-info/METADATA",
        redis.as_slice(),
    )]);
    let image = write_image_layers(&layout, "amd64", &[gzip_layer(&base), gzip_layer(&app)]);
    write_layout_index(&layout, &[("v1", &image)]);
    run(common::cli::skopeo(s.host())
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{}/{repo}:v1", s.host())));
    image.digest
}

#[tokio::test]
async fn manifest_pages_and_moving_tags() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let s = Server::start_with_config(&format!(
        "SECURITY_SCANNER_UPDATERS:\n  debian:\n    url: {base}/debian/tracker/data/json\n  \
         osv:\n    url: {base}/osv/\n    ecosystems: [PyPI]\n",
        base = feeds.base
    ))
    .await;
    let mut vulndb = std::process::Command::new(common::berth_bin());
    vulndb
        .args(["vulndb", "update", "--data-dir"])
        .arg(s.data_dir.path())
        .arg("--config")
        .arg(s.config_path());
    if let Some(uri) = s.db_uri() {
        vulndb.arg("--db-uri").arg(uri);
    }
    tokio::task::spawn_blocking(move || run(&mut vulndb))
        .await
        .unwrap();

    let repo = "acme/web";
    push_image(&s, repo, Some("v1"), "amd64").await;
    let (two, two_bytes) = push_image(&s, repo, Some("v2"), "amd64").await;
    let (index, [amd, arm]) = push_index(&s, repo, "multi").await;
    let sbom = push_sbom(&s, repo, &two, two_bytes.len()).await;
    let debian = push_debian(&s, "acme/debian");

    let b = Browser::start("repo-desktop", 1280).await;
    sign_in(&b, &s).await;

    // Move v1 to v2's manifest.
    b.goto(&s.url(&format!("/repository/{repo}"))).await;
    let field = "form:has(input[value='move_tag']):has(input[name='tag'][value='v1']) input[name='digest']";
    let button = "form:has(input[value='move_tag']):has(input[name='tag'][value='v1']) button";
    b.fill(field, &two).await;
    b.click(button).await;
    assert!(
        b.main_text().await.contains("Tag moved"),
        "{}",
        b.main_text().await
    );
    let short = &two[..19];
    let rows = tables(&b).await;
    assert_eq!(rows.matches(short).count(), 2, "both tags on {short}:\n{rows}");
    // A move to a manifest the repository lacks is refused, saying why.
    b.fill(field, &format!("sha256:{}", "1".repeat(64))).await;
    b.click(button).await;
    assert!(b.title().await.starts_with("Not Found"), "{}", b.title().await);
    assert!(
        b.main_text().await.to_lowercase().contains("manifest"),
        "{}",
        b.main_text().await
    );

    // The manifest page: layers with sizes, the history's commands,
    // the SBOM that refers to it.
    b.goto(&s.url(&format!("/repository/{repo}"))).await;
    b.click(&format!("main a[href='/repository/{repo}/manifest/{two}']"))
        .await;
    let text = b.main_text().await;
    for want in [
        "Layers",
        "68.4 KiB",
        "2.9 KiB",
        "apt-get install -y curl",
        "CMD [\"bash\"]",
        "linux/amd64",
        "application/spdx+json",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    look(&b, "manifest").await;
    // The SBOM's own page names its subject.
    b.click(&format!("a[href='/repository/{repo}/manifest/{sbom}']"))
        .await;
    assert!(b.main_text().await.contains("Refers to"));
    assert!(
        b.has(&format!("a[href='/repository/{repo}/manifest/{two}']"))
            .await
    );
    assert!(b.main_text().await.contains("Not an image the scanner reads"));
    look(&b, "manifest-referrer").await;

    // An index: its platforms, each linking to its manifest; it is not
    // scanned itself, and says so.
    b.goto(&s.url(&format!("/repository/{repo}/manifest/{index}")))
        .await;
    let text = b.main_text().await;
    assert!(
        text.contains("linux/amd64") && text.contains("linux/arm64/v8"),
        "{text}"
    );
    assert!(text.contains("An index is not scanned itself"), "{text}");
    look(&b, "manifest-index").await;
    b.click(&format!("a[href='/repository/{repo}/manifest/{arm}']"))
        .await;
    assert!(b.main_text().await.contains("linux/arm64"));
    assert!(
        !b.has(&format!("a[href='/repository/{repo}/manifest/{amd}']"))
            .await
    );

    // A scanned image: the findings, filtered by severity and fixability,
    // grouped by package.
    let security = format!("/api/v1/repository/acme/debian/manifest/{debian}/security");
    eventually("the image is scanned", || async {
        s.get_json(&security).await["status"] == "scanned"
    })
    .await;
    // The tags table summarizes the same report the API's tag listing does.
    let listing = s.get_json("/api/v1/repository/acme/debian/tag/").await;
    let counts = listing["tags"][0]["security_summary"]["vulnerabilities"].clone();
    let found: Vec<String> = ["Critical", "High", "Medium", "Low", "Negligible", "Unknown"]
        .iter()
        .filter_map(|sev| {
            let n = counts[*sev].as_u64().unwrap_or(0);
            (n > 0).then(|| format!("{n} {sev}"))
        })
        .collect();
    assert!(!found.is_empty(), "{listing}");
    b.goto(&s.url("/repository/acme/debian")).await;
    let tags_table = tables(&b).await;
    assert!(
        tags_table.contains(&found.join(", ")),
        "{found:?} not in:\n{tags_table}"
    );
    look(&b, "repository-security-summary").await;
    b.goto(&s.url(&format!("/repository/acme/debian/manifest/{debian}")))
        .await;
    let all = tables(&b).await;
    for want in [
        "libc6",
        "CVE-2024-2961",
        "CVE-2010-4756",
        "redis",
        "PYSEC-2023-45",
        "2.36-9+deb12u6",
    ] {
        assert!(all.contains(want), "{want} missing:\n{all}");
    }
    look(&b, "manifest-vulnerabilities").await;
    b.find("#fixable").await.click().await.unwrap();
    b.click("form[role=search] button").await;
    let fixable = tables(&b).await;
    assert!(fixable.contains("CVE-2024-2961"), "{fixable}");
    assert!(
        !fixable.contains("CVE-2010-4756"),
        "no fix, filtered out:\n{fixable}"
    );
    b.find("#fixable").await.click().await.unwrap();
    b.find("#severity")
        .await
        .select_by_value("Negligible")
        .await
        .unwrap();
    b.click("form[role=search] button").await;
    let negligible = tables(&b).await;
    assert!(negligible.contains("CVE-2010-4756"), "{negligible}");
    assert!(
        !negligible.contains("CVE-2024-2961"),
        "Unknown is below Negligible:\n{negligible}"
    );
    b.find("#severity")
        .await
        .select_by_value("Critical")
        .await
        .unwrap();
    b.click("form[role=search] button").await;
    assert!(
        b.main_text()
            .await
            .contains("No vulnerability matches this filter")
    );

    // At phone width.
    let phone = Browser::start("repo-phone", 390).await;
    sign_in(&phone, &s).await;
    phone
        .goto(&s.url(&format!("/repository/acme/debian/manifest/{debian}")))
        .await;
    look(&phone, "manifest-vulnerabilities").await;
    phone
        .goto(&s.url(&format!("/repository/{repo}/manifest/{two}")))
        .await;
    look(&phone, "manifest").await;
}

#[tokio::test]
async fn repository_settings() {
    let s = Server::start_with_config("FEATURE_SECURITY_SCANNER: false\n").await;
    let repo = "acme/app";
    push_image(&s, repo, Some("v1"), "amd64").await;
    let b = Browser::start("repo-settings", 1280).await;
    sign_in(&b, &s).await;
    b.goto(&s.url(&format!("/repository/{repo}"))).await;
    b.click(&format!("a[href='/repository/{repo}?tab=settings']"))
        .await;
    look(&b, "settings").await;

    // Visibility.
    b.find("#visibility")
        .await
        .select_by_value("public")
        .await
        .unwrap();
    b.click("form:has(input[value='set_visibility']) button").await;
    assert!(b.main_text().await.contains("Visibility changed"));
    assert_eq!(
        s.anon
            .get(s.url(&format!("/repository/{repo}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The description: Markdown, made safe.
    b.fill(
        "#description",
        "# App\n\nThe *app*.\n\n<img src=x alt=logo onerror=alert(1)>",
    )
    .await;
    b.click("form:has(input[value='set_description']) button").await;
    assert!(b.main_text().await.contains("Description saved"));
    assert!(b.has(".preview h1").await && b.has(".preview em").await);
    assert!(b.has(".preview img").await, "{}", b.main_text().await);
    assert!(!b.has(".preview img[onerror]").await, "handlers are removed");

    // A form posted without its token changes nothing.
    b.fill("#description", "forged").await;
    b.execute(
        "document.querySelector('form:has(input[value=set_description]) input[name=csrf_token]').remove();",
        vec![],
    )
    .await;
    b.click("form:has(input[value='set_description']) button").await;
    assert!(b.title().await.starts_with("Forbidden"), "{}", b.title().await);
    let view = s.get_json(&format!("/api/v1/repository/{repo}")).await;
    assert!(
        view["description"].as_str().unwrap().starts_with("# App"),
        "{view}"
    );

    // Read-only: the tags offer no changes any more; then normal again.
    b.goto(&s.url(&format!("/repository/{repo}?tab=settings"))).await;
    b.find("#state").await.select_by_value("READ_ONLY").await.unwrap();
    b.click("form:has(input[value='set_state']) button").await;
    assert!(b.main_text().await.contains("State changed"));
    assert!(b.main_text().await.contains("READ_ONLY"));
    look(&b, "settings-read-only").await;
    b.goto(&s.url(&format!("/repository/{repo}"))).await;
    assert!(b.main_text().await.contains("v1"));
    assert!(
        !b.has("form:has(input[value='delete_tag'])").await,
        "no writes offered"
    );
    b.goto(&s.url(&format!("/repository/{repo}?tab=settings"))).await;
    b.find("#state").await.select_by_value("NORMAL").await.unwrap();
    b.click("form:has(input[value='set_state']) button").await;
    assert_eq!(
        s.get_json(&format!("/api/v1/repository/{repo}")).await["state"],
        "NORMAL"
    );

    // Deleting asks for the name first.
    b.fill("#confirm", "acme/other").await;
    b.click("form:has(input[value='delete_repository']) button").await;
    assert!(b.title().await.starts_with("Bad Request"));
    assert!(b.main_text().await.contains("to confirm its deletion"));
    assert_eq!(s.get(&format!("/api/v1/repository/{repo}")).await.status(), 200);
    b.goto(&s.url(&format!("/repository/{repo}?tab=settings"))).await;
    b.fill("#confirm", repo).await;
    b.click("form:has(input[value='delete_repository']) button").await;
    assert_eq!(b.path().await, "/?namespace=acme");
    assert_eq!(s.get(&format!("/api/v1/repository/{repo}")).await.status(), 404);
    b.goto(&s.url(&format!("/repository/{repo}?tab=settings"))).await;
    assert!(b.title().await.starts_with("Not Found"));

    // At phone width.
    push_image(&s, repo, Some("v1"), "amd64").await;
    let phone = Browser::start("repo-settings-phone", 390).await;
    sign_in(&phone, &s).await;
    phone
        .goto(&s.url(&format!("/repository/{repo}?tab=settings")))
        .await;
    look(&phone, "settings").await;
}

#[tokio::test]
async fn repository_notifications() {
    let s = Server::start_with_config(
        "FEATURE_SECURITY_SCANNER: false\n\
         DATABASE_SECRET_KEY: console-notification-key-0123456789\n\
         SSRF_ALLOWED_HOSTS: [127.0.0.1]\n\
         NOTIFICATION_RETRY_DELAY_S: 1\n\
         NOTIFICATION_SEND_TIMEOUT: 2\n",
    )
    .await;
    let repo = "acme/app";
    push_image(&s, repo, Some("v1"), "amd64").await;
    let hook = Receiver::start().await;
    let b = Browser::start("repo-notifications", 1280).await;
    sign_in(&b, &s).await;
    b.goto(&s.url(&format!("/repository/{repo}"))).await;
    b.click(&format!("a[href='/repository/{repo}?tab=notifications']"))
        .await;
    assert!(b.main_text().await.contains("No notifications"));
    look(&b, "notifications-empty").await;

    // A webhook: its secret is shown once.
    b.fill("#n-title", "Deploy hook").await;
    b.find("#n-event")
        .await
        .select_by_value("repo_push")
        .await
        .unwrap();
    b.find("#n-method")
        .await
        .select_by_value("webhook")
        .await
        .unwrap();
    b.fill("#n-url", &hook.url()).await;
    b.click("form:has(input[value='create']) button[type=submit]")
        .await;
    assert!(b.main_text().await.contains("Notification created"));
    let secret = b
        .find("#webhook-secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.len() >= 32, "{secret}");
    look(&b, "notifications-secret").await;
    b.goto(&s.url(&format!("/repository/{repo}?tab=notifications")))
        .await;
    assert!(!b.client.source().await.unwrap().contains(&secret), "shown once");
    assert!(tables(&b).await.contains(&hook.url()));

    // An in-app notification for vulnerabilities, with its level.
    b.fill("#n-title", "").await;
    b.find("#n-event")
        .await
        .select_by_value("vulnerability_found")
        .await
        .unwrap();
    b.find("#n-level").await.select_by_value("1").await.unwrap();
    b.find("#n-method")
        .await
        .select_by_value("quay_notification")
        .await
        .unwrap();
    b.find("#n-target-kind")
        .await
        .select_by_value("user")
        .await
        .unwrap();
    b.fill("#n-target-name", ADMIN).await;
    b.click("form:has(input[value='create']) button[type=submit]")
        .await;
    assert!(!b.has("#webhook-secret").await, "only webhooks have secrets");
    assert!(tables(&b).await.contains("High or worse"), "{}", tables(&b).await);

    // A refused creation says why, as the API does.
    b.find("#n-event")
        .await
        .select_by_value("repo_push")
        .await
        .unwrap();
    b.find("#n-method")
        .await
        .select_by_value("webhook")
        .await
        .unwrap();
    b.fill("#n-url", "http://10.1.2.3/hook").await;
    b.click("form:has(input[value='create']) button[type=submit]")
        .await;
    assert!(b.title().await.starts_with("Bad Request"), "{}", b.title().await);
    assert!(
        b.main_text().await.contains("config.url"),
        "{}",
        b.main_text().await
    );

    // Test it: the delivery log shows the delivery.
    b.goto(&s.url(&format!("/repository/{repo}?tab=notifications")))
        .await;
    let first = b.find("main table tbody tr").await.text().await.unwrap();
    assert!(first.contains(&hook.url()), "the webhook comes first: {first}");
    b.click("main table tbody tr:first-child form:has(input[value='test']) button")
        .await;
    assert!(b.main_text().await.contains("Test event queued"));
    let log_url = b.path().await;
    eventually("the test is delivered", || async { !hook.received().is_empty() }).await;
    eventually("the delivery is logged", || async {
        b.goto(&s.url(&log_url)).await;
        tables(&b).await.contains("delivered")
    })
    .await;
    look(&b, "notifications-log").await;

    // Failures count up to the notification being disabled; a reset
    // brings it back.
    hook.answer(Answer::Status(500));
    b.click("main table tbody tr:first-child form:has(input[value='test']) button")
        .await;
    eventually("three failures disable it", || async {
        b.goto(&s.url(&format!("/repository/{repo}?tab=notifications")))
            .await;
        b.main_text().await.contains("disabled")
    })
    .await;
    b.goto(&s.url(&log_url)).await;
    assert!(tables(&b).await.contains("500"), "the log shows the status");
    b.click("main table tbody tr:first-child form:has(input[value='reset']) button")
        .await;
    assert!(b.main_text().await.contains("Failures reset"));
    assert!(!b.main_text().await.contains("disabled"));
    look(&b, "notifications").await;

    // Delete both.
    b.click("form:has(input[value='delete']) button").await;
    assert!(b.main_text().await.contains("Notification deleted"));
    b.click("form:has(input[value='delete']) button").await;
    assert!(b.main_text().await.contains("No notifications"));

    // An outsider finds no such page.
    s.create_user("mallory", "mallory-console-password", false);
    let outsider = Browser::start("repo-notifications-outsider", 1280).await;
    outsider.goto(&s.url("/signin")).await;
    outsider.fill("#username", "mallory").await;
    outsider.fill("#password", "mallory-console-password").await;
    outsider.click("main form button[type=submit]").await;
    outsider
        .goto(&s.url(&format!("/repository/{repo}?tab=notifications")))
        .await;
    assert!(outsider.title().await.starts_with("Not Found"));

    // At phone width.
    let phone = Browser::start("repo-notifications-phone", 390).await;
    sign_in(&phone, &s).await;
    phone
        .goto(&s.url(&format!("/repository/{repo}?tab=notifications")))
        .await;
    look(&phone, "notifications").await;
}
