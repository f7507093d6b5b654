//! The web console in a real Chromium: signing in, creating an
//! organization, a team, a robot and a repository, pushing with skopeo, deleting,
//! restoring and expiring tags, changing a permission, reading the usage
//! log, signing out; forms without their CSRF token are refused, private
//! repositories are hidden, sessions expire. Every page is screenshotted
//! to `target/console-screenshots/` and checked with axe-core.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::Browser;
use common::cli::skopeo;
use common::layout::{write_image, write_layout_index};
use common::{Server, run, unique_seed};

const ALICE: &str = "alice";
const ALICE_PASSWORD: &str = "alice-console-password";
const MALLORY: &str = "mallory";
const MALLORY_PASSWORD: &str = "mallory-console-password";

/// Look at the page: screenshot it and check it with axe-core.
async fn look(b: &Browser, name: &str) {
    b.screenshot(name).await;
    b.assert_accessible(name).await;
}

/// Sign in through the form reached from `/`.
async fn sign_in(b: &Browser, s: &Server, user: &str, password: &str) {
    b.goto(&s.url("/")).await;
    b.click("a[href='/signin']").await;
    b.fill("#username", user).await;
    b.fill("#password", password).await;
    b.click("main form button[type=submit]").await;
    assert!(
        b.page_text().await.contains(&format!("Signed in as {user}")),
        "{}",
        b.page_text().await
    );
}

/// Push `tags` of one fresh image to `repo` with skopeo, as `user`.
fn push(s: &Server, repo: &str, tags: &[&str], user: &str, secret: &str) {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[2048, 4096], unique_seed());
    write_layout_index(&layout, &[("v1", &image)]);
    for tag in tags {
        run(skopeo(s.host())
            .args(["copy", "--dest-tls-verify=false", "--dest-creds"])
            .arg(format!("{user}:{secret}"))
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", s.host())));
    }
}

/// The text of the first table's body.
async fn table_text(b: &Browser) -> String {
    if b.has("main table tbody").await {
        b.find("main table tbody").await.text().await.unwrap()
    } else {
        String::new()
    }
}

/// Click the button of the row form whose hidden `field` is `value`.
async fn submit_row(b: &Browser, field: &str, value: &str, button: &str) {
    b.click(&format!(
        "form:has(input[name='{field}'][value='{value}']) {button}"
    ))
    .await;
}

#[tokio::test]
async fn console_end_to_end() {
    let s = Server::start().await;
    s.create_user(ALICE, ALICE_PASSWORD, false);
    s.create_user(MALLORY, MALLORY_PASSWORD, false);
    let b = Browser::start("desktop", 1280).await;

    // Signed out: the home page and the sign-in form.
    b.goto(&s.url("/")).await;
    look(&b, "home-signed-out").await;
    b.goto(&s.url("/signin")).await;
    look(&b, "signin").await;
    // A wrong password is refused on the form, saying why.
    b.fill("#username", ALICE).await;
    b.fill("#password", "wrong").await;
    b.click("main form button[type=submit]").await;
    assert!(b.main_text().await.contains("invalid username or password"));
    look(&b, "signin-refused").await;

    sign_in(&b, &s, ALICE, ALICE_PASSWORD).await;
    look(&b, "home").await;

    // An organization.
    b.click("a[href='/organizations/new']").await;
    look(&b, "new-organization").await;
    b.fill("#name", "acme").await;
    b.click("main form button[type=submit]").await;
    assert_eq!(b.path().await, "/organization/acme");
    assert!(
        b.main_text().await.contains("owners"),
        "the owners team is listed"
    );

    // A robot: its token is shown once.
    b.fill("#robot-name", "ci").await;
    b.fill("#robot-description", "builds").await;
    b.click("form:has(input[value='create_robot']) button[type=submit]")
        .await;
    let token = b.find("#robot-token").await.prop("value").await.unwrap().unwrap();
    assert!(token.len() >= 32, "{token}");
    look(&b, "organization-robot-created").await;
    b.goto(&s.url("/organization/acme")).await;
    assert!(b.main_text().await.contains("acme+ci"));
    assert!(
        !b.client.source().await.unwrap().contains(&token),
        "the token is shown once"
    );
    look(&b, "organization").await;

    // A team.
    b.fill("#team-name", "devs").await;
    b.find("#team-role")
        .await
        .select_by_value("member")
        .await
        .unwrap();
    b.click("form:has(input[value='put_team']) button[type=submit]")
        .await;
    assert!(b.main_text().await.contains("Team saved"));
    assert!(table_text(&b).await.contains("devs"));

    // A private repository.
    b.click("a[href='/repositories/new']").await;
    look(&b, "new-repository").await;
    b.find("#namespace").await.select_by_value("acme").await.unwrap();
    b.fill("#name", "web").await;
    b.fill(
        "#description",
        "# Web\n\nThe *web* image.\n\n<script>window.bad = 1</script>",
    )
    .await;
    b.click("main form button[type=submit]").await;
    assert_eq!(b.path().await, "/repository/acme/web");
    assert!(b.has(".description h1").await, "Markdown is rendered");
    assert!(!b.has(".description script").await, "scripts are removed");
    assert!(b.main_text().await.contains("No tags"));
    assert!(
        b.find("#pull-command")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap()
            == format!("podman pull {}/acme/web", s.host())
    );
    look(&b, "repository-empty").await;

    // Give the robot write access, then push with its token.
    b.click("a[href='/repository/acme/web?tab=permissions']").await;
    b.fill("#grant-account", "acme+ci").await;
    b.find("#grant-role")
        .await
        .select_by_value("write")
        .await
        .unwrap();
    b.click("form.add button[type=submit]").await;
    assert!(b.main_text().await.contains("Permission changed"));
    push(&s, "acme/web", &["v1", "v2"], "acme+ci", &token);

    // Its tags.
    b.goto(&s.url("/repository/acme/web")).await;
    let tags = table_text(&b).await;
    assert!(tags.contains("v1") && tags.contains("v2"), "{tags}");
    assert!(tags.contains("KiB"), "sizes are shown: {tags}");
    look(&b, "repository-tags").await;

    // Delete v1, then restore it from the history.
    submit_row(&b, "tag", "v1", "button.danger").await;
    assert!(b.main_text().await.contains("Tag deleted"));
    let tags = table_text(&b).await;
    assert!(!tags.contains("v1") && tags.contains("v2"), "{tags}");
    b.click("a[href='/repository/acme/web?tab=history']").await;
    look(&b, "repository-history").await;
    b.click("form:has(input[value='restore_tag']):has(input[name='tag'][value='v1']) button")
        .await;
    assert!(b.main_text().await.contains("Tag restored"));
    b.goto(&s.url("/repository/acme/web")).await;
    assert!(table_text(&b).await.contains("v1"));

    // Plan v2's expiry a week from now.
    let expiry = chrono::Utc::now() + chrono::TimeDelta::days(7);
    let field = "form:has(input[name='tag'][value='v2']) input[type='datetime-local']";
    b.execute(
        "document.querySelector(arguments[0]).value = arguments[1];",
        vec![field.into(), expiry.format("%Y-%m-%dT%H:%M").to_string().into()],
    )
    .await;
    b.click("form:has(input[value='set_expiry']):has(input[name='tag'][value='v2']) button")
        .await;
    assert!(b.main_text().await.contains("Expiry saved"));
    let shown = expiry.format("%Y-%m-%d %H:%M UTC").to_string();
    assert!(table_text(&b).await.contains(&shown), "{}", table_text(&b).await);

    // Change the robot's role from write to read.
    b.goto(&s.url("/repository/acme/web?tab=permissions")).await;
    b.find("form:has(input[name='account'][value='acme+ci']) select")
        .await
        .select_by_value("read")
        .await
        .unwrap();
    submit_row(&b, "account", "acme+ci", "button").await;
    assert!(b.main_text().await.contains("Permission changed"));
    let selected = b
        .find("form:has(input[name='account'][value='acme+ci']) select")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(selected.as_deref(), Some("read"));
    // And give the team write access.
    b.fill("#grant-team", "devs").await;
    b.find("#grant-team-role")
        .await
        .select_by_value("write")
        .await
        .unwrap();
    b.click("form:has(#grant-team) button[type=submit]").await;
    assert!(b.main_text().await.contains("Permission changed"));
    let team_role = b
        .find("form:has(input[name='team'][value='devs']) select")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(team_role.as_deref(), Some("write"));
    look(&b, "repository-permissions").await;

    // Each change is in the repository's usage log, and the organization's.
    b.click("a[href='/repository/acme/web?tab=logs']").await;
    let log = table_text(&b).await;
    for kind in [
        "create_repo",
        "add_repo_permission",
        "push_repo",
        "delete_tag",
        "revert_tag",
        "change_tag_expiration",
        "change_repo_permission",
    ] {
        assert!(
            log.contains(kind),
            "{kind} missing from the repository log:\n{log}"
        );
    }
    look(&b, "repository-log").await;
    b.goto(&s.url("/organization/acme?tab=logs")).await;
    let log = table_text(&b).await;
    for kind in ["org_create", "org_create_team", "create_robot", "delete_tag"] {
        assert!(
            log.contains(kind),
            "{kind} missing from the organization log:\n{log}"
        );
    }
    look(&b, "organization-log").await;

    // The home page lists and filters the repository.
    b.goto(&s.url("/?namespace=acme&filter=we")).await;
    assert!(table_text(&b).await.contains("acme/web"));
    b.goto(&s.url("/?namespace=acme&filter=zz")).await;
    assert!(b.main_text().await.contains("No repositories"));

    // Sign out: the private repository is now "not found".
    b.goto(&s.url("/")).await;
    b.click("header form button[type=submit]").await;
    assert!(b.has("a[href='/signin']").await, "signed out");
    b.goto(&s.url("/repository/acme/web")).await;
    assert!(b.title().await.starts_with("Not Found"), "{}", b.title().await);
    look(&b, "not-found").await;

    // So it is for an outsider.
    sign_in(&b, &s, MALLORY, MALLORY_PASSWORD).await;
    b.goto(&s.url("/repository/acme/web")).await;
    assert!(b.title().await.starts_with("Not Found"));
    b.goto(&s.url("/organization/acme")).await;
    assert!(!b.has("#robot-name").await, "outsiders cannot create robots");
    assert!(!b.main_text().await.contains("acme+ci"));
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let s = Server::start().await;
    s.create_user(ALICE, ALICE_PASSWORD, false);
    let b = Browser::start("csrf", 1280).await;

    // Sign-in included: the form posted without its token is a 403 and
    // signs no one in.
    b.goto(&s.url("/signin")).await;
    b.fill("#username", ALICE).await;
    b.fill("#password", ALICE_PASSWORD).await;
    b.execute(
        "document.querySelector('main input[name=csrf_token]').remove();",
        vec![],
    )
    .await;
    b.click("main form button[type=submit]").await;
    assert!(b.title().await.starts_with("Forbidden"), "{}", b.title().await);
    look(&b, "forbidden").await;
    b.goto(&s.url("/")).await;
    assert!(b.has("a[href='/signin']").await, "still signed out");

    // A wrong token is refused too.
    sign_in(&b, &s, ALICE, ALICE_PASSWORD).await;
    b.goto(&s.url("/organizations/new")).await;
    b.fill("#name", "forged").await;
    b.execute(
        "document.querySelector('main input[name=csrf_token]').value = 'not-the-token';",
        vec![],
    )
    .await;
    b.click("main form button[type=submit]").await;
    assert!(b.title().await.starts_with("Forbidden"));
    // Nothing was created.
    let r = s.get("/api/v1/organization/forged").await;
    assert_eq!(r.status(), 404);

    // Another client holding no token and no cookie: 403 as well.
    let r = s
        .anon
        .post(s.url("/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={ALICE}&password={ALICE_PASSWORD}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The accessibility check can fail: a field without a label is found.
    b.goto(&s.url("/signin")).await;
    b.execute(
        "document.querySelector('main').append(document.createElement('input'));",
        vec![],
    )
    .await;
    let found = b.accessibility_violations().await;
    assert!(found.iter().any(|v| v.starts_with("label")), "{found:?}");
}

#[tokio::test]
async fn sessions_expire_and_end_at_sign_out() {
    let s = Server::start().await;
    s.create_user(ALICE, ALICE_PASSWORD, false);
    let b = Browser::start("session", 1280).await;
    sign_in(&b, &s, ALICE, ALICE_PASSWORD).await;

    // Only a hash of the token is stored.
    let cookie = b.client.get_named_cookie("berth_session").await.unwrap();
    assert!(cookie.http_only().unwrap_or(false), "HttpOnly");
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Lax)");
    let db = common::gc::open_db(&s).await;
    let stored = stored_session_hashes(&db).await;
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], cookie.value(), "the token itself is not stored");

    // Move the session's end into the past: the next page is signed out.
    let ended = common::gc::execute(
        &db,
        "UPDATE web_sessions SET expires_ms = $1 WHERE account_id = (SELECT id FROM accounts WHERE name = $2)",
        1,
        ALICE,
    )
    .await;
    assert_eq!(ended, 1);
    b.goto(&s.url("/")).await;
    assert!(
        b.has("a[href='/signin']").await,
        "the expired session signs no one in"
    );

    // Signing out deletes the session row.
    sign_in(&b, &s, ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        stored_session_hashes(&db).await.len(),
        1,
        "the expired row was removed"
    );
    b.click("header form button[type=submit]").await;
    assert!(stored_session_hashes(&db).await.is_empty());

    // Phone width: the pages still lay out (screenshots for people).
    let phone = Browser::start("phone", 390).await;
    sign_in(&phone, &s, ALICE, ALICE_PASSWORD).await;
    look(&phone, "home").await;
    phone.goto(&s.url("/organizations/new")).await;
    look(&phone, "new-organization").await;
}

/// The stored token hashes of every session.
async fn stored_session_hashes(db: &berth_store::Db) -> Vec<String> {
    let sql = "SELECT token_hash FROM web_sessions ORDER BY token_hash";
    match db {
        berth_store::Db::Sqlite { write, .. } => sqlx::query_scalar(sql).fetch_all(write).await.unwrap(),
        berth_store::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
    }
}

/// The `csrf_token` of the first form in `html`.
fn form_token(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn read_only_mode_lets_people_sign_in_and_changes_nothing() {
    let s = Server::start_with_config("REGISTRY_STATE: readonly\n").await;
    s.create_user(ALICE, ALICE_PASSWORD, false);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(s.url("/signin")).send().await.unwrap();
    let seed = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = form_token(&r.text().await.unwrap());
    let form = |body: String| {
        client
            .post(s.url("/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let r = form(format!(
        "csrf_token={token}&username={ALICE}&password={ALICE_PASSWORD}"
    ))
    .header("cookie", &seed)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 303, "signing in works in read-only mode");
    let session = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = client
        .get(s.url("/organizations/new"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let token = form_token(&r.text().await.unwrap());
    let r = client
        .post(s.url("/organizations/new"))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={token}&name=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("read-only"));
    assert_eq!(s.get("/api/v1/organization/acme").await.status(), 404);
}

#[tokio::test]
async fn cookies_are_secure_under_tls_and_pages_carry_the_csp() {
    use common::tls::TestCa;
    let ca = TestCa::new("console");
    let cert = ca.server_cert();
    let s = Server::start_tls(&ca, &cert, "").await;
    s.create_user(ALICE, ALICE_PASSWORD, false);
    let client = ca
        .trust(reqwest::Client::builder())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let r = client.get(s.url("/signin")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("default-src 'self'")
    );
    let csrf_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(csrf_cookie.contains("; Secure"), "{csrf_cookie}");
    let seed = csrf_cookie.split(';').next().unwrap().to_owned();
    let html = r.text().await.unwrap();
    let token = form_token(&html);
    // The pages hold no inline script, handler attribute or script URL.
    for bad in ["<script>", " onclick=", " onload=", "javascript:", "style="] {
        assert!(!html.contains(bad), "{bad} in the sign-in page");
    }

    let r = client
        .post(s.url("/signin"))
        .header("cookie", &seed)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={token}&username={ALICE}&password={ALICE_PASSWORD}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = r.headers()["set-cookie"].to_str().unwrap();
    assert!(session.starts_with("berth_session="), "{session}");
    for attribute in ["; HttpOnly", "; SameSite=Lax", "; Secure", "; Path=/"] {
        assert!(session.contains(attribute), "{attribute} missing: {session}");
    }
}
