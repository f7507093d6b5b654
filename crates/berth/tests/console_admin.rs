//! The console's organization, account and superuser pages in a real
//! Chromium: members, teams, OAuth applications, settings, quota and the
//! usage log with its chart and export; the account's password, app
//! tokens, e-mail and time machine; the superuser's users,
//! organizations, quotas, log and registry status. Every page is
//! screenshotted to `target/console-screenshots/` and checked with
//! axe-core; forms without their CSRF token are refused; superuser pages
//! are 404 to everyone else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::browser::Browser;
use common::{ADMIN, ADMIN_PASSWORD, Server, basic_auth};
use serde_json::Value;

const ALICE: &str = "alice";
const ALICE_PASSWORD: &str = "alice-admin-password";
const BOB: &str = "bob";
const BOB_PASSWORD: &str = "bob-admin-password";

/// Look at the page: screenshot it and check it with axe-core.
async fn look(b: &Browser, name: &str) {
    b.screenshot(name).await;
    b.assert_accessible(name).await;
}

/// Sign in through the form.
async fn sign_in(b: &Browser, s: &Server, user: &str, password: &str) {
    b.goto(&s.url("/signin")).await;
    b.fill("#username", user).await;
    b.fill("#password", password).await;
    b.click("main form button[type=submit]").await;
    assert!(
        b.page_text().await.contains(&format!("Signed in as {user}")),
        "{}",
        b.page_text().await
    );
}

/// Sign out through the header's form (of the home page: error pages
/// have no menu).
async fn sign_out(b: &Browser, s: &Server) {
    b.goto(&s.url("/")).await;
    b.click("header form button[type=submit]").await;
    assert!(b.has("a[href='/signin']").await);
}

/// The text of the first table body in `main`.
async fn table_text(b: &Browser) -> String {
    if b.has("main table tbody").await {
        b.find("main table tbody").await.text().await.unwrap()
    } else {
        String::new()
    }
}

/// The value of the field `css` selects.
async fn value(b: &Browser, css: &str) -> String {
    b.find(css).await.prop("value").await.unwrap().unwrap_or_default()
}

/// Fetch `path` in the page (with the browser's cookies): status and body.
async fn fetch(b: &Browser, path: &str) -> (u16, String) {
    let r = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(async (r) => done([r.status, await r.text()]),
                                      (e) => done([0, String(e)]));",
            vec![path.into()],
        )
        .await
        .unwrap();
    (r[0].as_u64().unwrap() as u16, r[1].as_str().unwrap().to_owned())
}

/// Remove the `csrf_token` of the form `form_css` selects, then submit it
/// with `button_css`: the answer must be 403.
async fn post_without_token(b: &Browser, form_css: &str, button_css: &str) {
    b.execute(
        "document.querySelector(arguments[0]).querySelector('input[name=csrf_token]').remove();",
        vec![form_css.into()],
    )
    .await;
    b.click(&format!("{form_css} {button_css}")).await;
    assert!(b.title().await.starts_with("Forbidden"), "{}", b.title().await);
}

/// Post the password form; the browser's own length check is removed so
/// the server's reasons are seen.
async fn change_password(b: &Browser, current: &str, new: &str) {
    b.fill("#current-password", current).await;
    b.fill("#new-password", new).await;
    b.fill("#confirm-password", new).await;
    b.execute(
        "document.querySelectorAll('input').forEach((i) => i.removeAttribute('minlength'));",
        vec![],
    )
    .await;
    b.click("form:has(input[value='password']) button[type=submit]")
        .await;
}

/// Whether `user` with `secret` gets 200 from `GET /api/v1/user/`.
async fn api_user_status(s: &Server, user: &str, secret: &str) -> u16 {
    s.anon
        .get(s.url("/api/v1/user/"))
        .header("authorization", basic_auth(user, secret))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn organization_pages() {
    let s = Server::start().await;
    s.create_user(ALICE, ALICE_PASSWORD, false);
    s.create_user(BOB, BOB_PASSWORD, false);
    let b = Browser::start("org", 1280).await;
    sign_in(&b, &s, ALICE, ALICE_PASSWORD).await;

    // An organization with a team and a repository.
    b.goto(&s.url("/organizations/new")).await;
    b.fill("#name", "acme").await;
    b.click("main form button[type=submit]").await;
    b.fill("#team-name", "devs").await;
    b.click("form:has(input[value='put_team']) button[type=submit]")
        .await;
    b.goto(&s.url("/repositories/new")).await;
    b.find("#namespace").await.select_by_value("acme").await.unwrap();
    b.fill("#name", "web").await;
    b.click("main form button[type=submit]").await;
    assert_eq!(b.path().await, "/repository/acme/web");

    // The team's page: add a member, grant a repository, change the role.
    b.goto(&s.url("/organization/acme")).await;
    b.click("a[href='/organization/acme/teams/devs']").await;
    look(&b, "team").await;
    b.fill("#add-member", BOB).await;
    b.click("form:has(input[value='add_member']) button[type=submit]")
        .await;
    assert!(b.main_text().await.contains("Member added"));
    assert!(table_text(&b).await.contains(BOB));
    // A member that does not exist: the page says why.
    b.fill("#add-member", "nobody-here").await;
    b.click("form:has(input[value='add_member']) button[type=submit]")
        .await;
    let text = b.main_text().await;
    assert!(b.has("main .error").await, "{text}");
    assert!(text.contains("nobody-here"), "{text}");
    b.fill("#grant-repository", "web").await;
    b.find("#grant-role")
        .await
        .select_by_value("write")
        .await
        .unwrap();
    b.click("form:has(#grant-repository) button[type=submit]").await;
    assert!(b.main_text().await.contains("Repository permission saved"));
    assert_eq!(
        value(&b, "form:has(input[name='repository'][value='web']) select").await,
        "write"
    );
    b.find("#team-role")
        .await
        .select_by_value("creator")
        .await
        .unwrap();
    b.click("form:has(input[value='set_role']) button[type=submit]")
        .await;
    assert!(b.main_text().await.contains("Role saved"));
    assert_eq!(value(&b, "#team-role").await, "creator");
    look(&b, "team-changed").await;

    // Members: bob is listed, and removed; the last owner cannot be.
    b.click("a[href='/organization/acme/members']").await;
    look(&b, "members").await;
    let members = table_text(&b).await;
    assert!(members.contains(ALICE) && members.contains(BOB), "{members}");
    b.click("form:has(input[name='member'][value='bob']) button")
        .await;
    assert!(b.main_text().await.contains("Member removed"));
    assert!(!table_text(&b).await.contains(BOB));
    b.click("form:has(input[name='member'][value='alice']) button")
        .await;
    assert!(
        b.main_text().await.contains("last user of the owners team"),
        "{}",
        b.main_text().await
    );
    look(&b, "members-refused").await;

    // OAuth applications: the client secret and a token, each shown once.
    b.click("a[href='/organization/acme/applications']").await;
    look(&b, "applications-empty").await;
    b.fill("#app-name", "deployer").await;
    b.fill("#app-redirect", "http://127.0.0.1/callback").await;
    b.click("form:has(input[value='create']) button[type=submit]")
        .await;
    let secret = value(&b, "#new-secret").await;
    assert!(secret.len() >= 20, "{secret}");
    assert!(table_text(&b).await.contains("deployer"));
    look(&b, "applications-created").await;
    b.find("#scope-1").await.click().await.unwrap();
    assert_eq!(value(&b, "#scope-1").await, "repo:read");
    b.click("form:has(input[value='token']) button[type=submit]")
        .await;
    let token = value(&b, "#new-secret").await;
    assert!(token.len() >= 20 && token != secret, "{token}");
    let r = s
        .anon
        .get(s.url("/api/v1/repository/acme/web"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the generated token reads the repository");
    b.goto(&s.url("/organization/acme/applications")).await;
    let html = b.client.source().await.unwrap();
    assert!(!html.contains(&secret) && !html.contains(&token), "shown once");
    b.click("form:has(input[value='delete']) button").await;
    assert!(b.main_text().await.contains("Application deleted"));
    assert!(b.main_text().await.contains("No applications yet"));

    // Settings: the time machine and the contact address; no quota yet.
    b.click("a[href='/organization/acme/settings']").await;
    assert!(b.main_text().await.contains("No quota"));
    b.find("#window").await.select_by_value("604800").await.unwrap();
    b.fill("#org-email", "ops@acme.test").await;
    b.click("main form button[type=submit]").await;
    assert!(b.main_text().await.contains("Settings saved"));
    assert_eq!(value(&b, "#window").await, "604800");
    let org: Value = s
        .client_as(ALICE, ALICE_PASSWORD)
        .get(s.url("/api/v1/organization/acme"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["tag_expiration_s"], 604800, "{org}");
    look(&b, "settings").await;

    // The usage log: the chart, the per-kind counts, the export.
    b.click("a[href='/organization/acme?tab=logs']").await;
    assert!(b.has("main .chart svg rect").await, "bars are drawn");
    let text = b.main_text().await;
    for kind in [
        "org_create",
        "org_add_team_member",
        "org_remove_member",
        "create_application",
        "oauth_token_assigned",
        "delete_application",
        "org_change_tag_expiration",
    ] {
        assert!(text.contains(kind), "{kind} missing:\n{text}");
    }
    look(&b, "org-log").await;
    let (status, csv) = fetch(&b, "/organization/acme/logs/export").await;
    assert_eq!(status, 200, "{csv}");
    assert!(
        csv.starts_with("time,kind,performer,namespace,repository,ip,metadata\r\n"),
        "{csv}"
    );
    assert!(csv.contains("\"create_application\""), "{csv}");
    assert!(csv.lines().count() > 8, "{csv}");
    b.goto(&s.url("/organization/acme?tab=logs")).await;
    assert!(b.main_text().await.contains("export_logs_success"));

    // Forms posted without their token are refused and change nothing.
    b.goto(&s.url("/organization/acme/teams/devs")).await;
    b.fill("#add-member", BOB).await;
    post_without_token(&b, "form:has(input[value='add_member'])", "button[type=submit]").await;
    b.goto(&s.url("/organization/acme/teams/devs")).await;
    assert!(!table_text(&b).await.contains(BOB));
    b.goto(&s.url("/organization/acme/settings")).await;
    post_without_token(&b, "main form", "button[type=submit]").await;

    // An outsider cannot see the members or settings, and is told why.
    sign_out(&b, &s).await;
    sign_in(&b, &s, BOB, BOB_PASSWORD).await;
    b.goto(&s.url("/organization/acme/members")).await;
    assert!(b.title().await.starts_with("Forbidden"), "{}", b.title().await);
    b.goto(&s.url("/organization/acme/settings")).await;
    assert!(b.title().await.starts_with("Forbidden"));
    look(&b, "org-forbidden").await;

    // Phone width.
    let phone = Browser::start("org-phone", 390).await;
    sign_in(&phone, &s, ALICE, ALICE_PASSWORD).await;
    for (path, name) in [
        ("/organization/acme/members", "members"),
        ("/organization/acme/teams/devs", "team"),
        ("/organization/acme/settings", "settings"),
        ("/organization/acme?tab=logs", "org-log"),
    ] {
        phone.goto(&s.url(path)).await;
        look(&phone, name).await;
    }
}

#[tokio::test]
async fn account_page() {
    let s = Server::start().await;
    s.create_user(ALICE, ALICE_PASSWORD, false);
    let b = Browser::start("account", 1280).await;
    sign_in(&b, &s, ALICE, ALICE_PASSWORD).await;
    b.click("a[href='/account']").await;
    look(&b, "account").await;

    // E-mail and the time machine.
    b.fill("#email", "alice@example.test").await;
    b.find("#window").await.select_by_value("86400").await.unwrap();
    b.click("form:has(input[value='profile']) button[type=submit]")
        .await;
    assert!(b.main_text().await.contains("Account saved"));
    assert_eq!(value(&b, "#email").await, "alice@example.test");
    assert_eq!(value(&b, "#window").await, "86400");

    // Another browser signed in as alice, signed out by the change below.
    let other = Browser::start("account-other", 1280).await;
    sign_in(&other, &s, ALICE, ALICE_PASSWORD).await;

    // The password: a wrong current one and a short new one are refused,
    // saying why; then it changes.
    let new_password = "alice-changed-password";
    change_password(&b, "not-the-password", "alice-changed-password").await;
    assert!(
        b.main_text()
            .await
            .contains("the current password is not correct")
    );
    look(&b, "account-refused").await;
    change_password(&b, ALICE_PASSWORD, "short").await;
    assert!(
        b.main_text().await.contains("at least 8 characters"),
        "{}",
        b.main_text().await
    );
    change_password(&b, ALICE_PASSWORD, "alice-changed-password").await;
    assert!(
        b.main_text().await.contains("Password changed"),
        "this session goes on"
    );
    other.goto(&s.url("/account")).await;
    assert!(
        other.title().await.starts_with("Forbidden"),
        "the other session ended"
    );
    drop(other);
    assert_eq!(api_user_status(&s, ALICE, ALICE_PASSWORD).await, 401);
    assert_eq!(api_user_status(&s, ALICE, new_password).await, 200);

    // App tokens: shown once, usable, revoked.
    b.fill("#token-title", "laptop").await;
    b.click("form:has(input[value='create_token']) button[type=submit]")
        .await;
    let code = value(&b, "#new-token").await;
    assert!(code.len() >= 20, "{code}");
    look(&b, "account-token").await;
    assert_eq!(api_user_status(&s, "$app", &code).await, 200);
    b.goto(&s.url("/account")).await;
    assert!(table_text(&b).await.contains("laptop"));
    assert!(!b.client.source().await.unwrap().contains(&code), "shown once");
    b.click("form:has(input[value='revoke_token']) button").await;
    assert!(b.main_text().await.contains("Token revoked"));
    assert!(b.main_text().await.contains("No app tokens yet"));
    assert_eq!(api_user_status(&s, "$app", &code).await, 401);

    // Each change is in the user's usage log.
    let logs = s
        .client_as(ALICE, new_password)
        .get(s.url("/api/v1/user/logs"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let kinds: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    for kind in [
        "user_change_email",
        "user_change_tag_expiration",
        "user_change_password",
        "create_app_specific_token",
        "revoke_app_specific_token",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }

    // A post without its token is refused and changes nothing.
    b.fill("#email", "forged@example.test").await;
    post_without_token(&b, "form:has(input[value='profile'])", "button[type=submit]").await;
    b.goto(&s.url("/account")).await;
    assert_eq!(value(&b, "#email").await, "alice@example.test");

    // Signed out, the page has nothing to show.
    sign_out(&b, &s).await;
    b.goto(&s.url("/account")).await;
    assert!(b.title().await.starts_with("Forbidden"));

    let phone = Browser::start("account-phone", 390).await;
    sign_in(&phone, &s, ALICE, new_password).await;
    phone.goto(&s.url("/account")).await;
    look(&phone, "account").await;
}

#[tokio::test]
async fn superuser_pages() {
    let s = Server::start().await;
    s.create_user(ALICE, ALICE_PASSWORD, false);
    // Something stored, and a garbage collection pass recorded.
    s.push_image("acme/app", "v1", 2).await;
    common::gc::run_gc(&s);

    let b = Browser::start("superuser", 1280).await;
    sign_in(&b, &s, ADMIN, ADMIN_PASSWORD).await;
    b.click("a[href='/superuser']").await;
    let text = b.main_text().await;
    assert!(text.contains("Storage used") && text.contains("KiB"), "{text}");
    assert!(text.contains("Last pass"), "{text}");
    assert!(text.contains("scanner (indexing)"), "{text}");
    assert!(text.contains("database") && text.contains("working"), "{text}");
    look(&b, "status").await;

    // Users: create one (the password shown once works), disable, enable,
    // delete; deleting oneself is refused, saying why.
    b.click("a[href='/superuser/users']").await;
    look(&b, "users").await;
    b.fill("#new-username", "carol").await;
    b.fill("#new-email", "carol@example.test").await;
    b.click("form:has(input[value='create']) button[type=submit]")
        .await;
    let password = value(&b, "#new-password").await;
    assert!(password.len() >= 12, "{password}");
    look(&b, "user-created").await;
    assert_eq!(api_user_status(&s, "carol", &password).await, 200);
    b.click("form:has(input[name='username'][value='carol']):has(input[value='disable']) button")
        .await;
    assert!(b.main_text().await.contains("User disabled"));
    assert_ne!(api_user_status(&s, "carol", &password).await, 200);
    b.click("form:has(input[name='username'][value='carol']):has(input[value='enable']) button")
        .await;
    assert!(b.main_text().await.contains("User enabled"));
    assert_eq!(api_user_status(&s, "carol", &password).await, 200);
    b.click("form:has(input[name='username'][value='carol']):has(input[value='delete']) button")
        .await;
    assert!(b.main_text().await.contains("User deleted"));
    assert!(!table_text(&b).await.contains("carol"));
    b.click("form:has(input[name='username'][value='admin']):has(input[value='delete']) button")
        .await;
    assert!(b.main_text().await.contains("you cannot delete your own account"));
    look(&b, "users-refused").await;

    // Organizations.
    b.click("a[href='/superuser/organizations']").await;
    assert!(table_text(&b).await.contains("acme"));
    look(&b, "organizations").await;

    // Quotas: set one on acme, add and remove a threshold; the
    // organization's own settings page shows the bar.
    b.click("a[href='/superuser/quotas']").await;
    look(&b, "quotas").await;
    b.fill("#quota-namespace", "nosuch").await;
    b.click("form[method=get] button[type=submit]").await;
    assert!(b.main_text().await.contains("nosuch"), "{}", b.main_text().await);
    assert!(b.has("main .error").await);
    b.fill("#quota-namespace", "acme").await;
    b.click("form[method=get] button[type=submit]").await;
    assert!(b.main_text().await.contains("No quota"));
    b.fill("#quota-limit", "10 MiB").await;
    b.click("form:has(input[value='set_quota']) button[type=submit]")
        .await;
    assert!(b.main_text().await.contains("Quota saved"));
    assert!(
        b.main_text().await.contains("of 10.0 MiB"),
        "{}",
        b.main_text().await
    );
    b.find("#limit-kind")
        .await
        .select_by_value("Reject")
        .await
        .unwrap();
    b.fill("#limit-percent", "80").await;
    b.click("form:has(input[value='add_limit']) button[type=submit]")
        .await;
    assert!(b.main_text().await.contains("Threshold added"));
    assert!(b.main_text().await.contains("Reject at 80%"));
    look(&b, "quota").await;
    let quota = s.get_json("/api/v1/organization/acme/quota").await;
    assert_eq!(quota[0]["limit_bytes"], 10 * 1024 * 1024, "{quota}");
    b.click("form:has(input[value='delete_limit']) button").await;
    assert!(b.main_text().await.contains("Threshold removed"));
    // A bad size says why.
    b.fill("#quota-limit", "lots").await;
    b.click("form:has(input[value='set_quota']) button[type=submit]")
        .await;
    assert!(b.main_text().await.contains("Invalid limit format"));

    // The system-wide log: chart, entries, export.
    b.click("a[href='/superuser/logs']").await;
    assert!(b.has("main .chart svg rect").await);
    let text = b.main_text().await;
    for kind in [
        "user_create",
        "user_disable",
        "user_delete",
        "org_create_quota",
        "push_repo",
    ] {
        assert!(text.contains(kind), "{kind} missing:\n{text}");
    }
    look(&b, "log").await;
    let (status, csv) = fetch(&b, "/superuser/logs/export").await;
    assert_eq!(status, 200);
    assert!(csv.contains("\"user_delete\""), "{csv}");

    // A post without its token is refused.
    b.goto(&s.url("/superuser/users")).await;
    b.fill("#new-username", "forged").await;
    post_without_token(&b, "form:has(input[value='create'])", "button[type=submit]").await;
    assert_eq!(s.get("/api/v1/superuser/users/forged").await.status(), 404);

    // Anyone else: 404 on every superuser page and post, and no menu link.
    sign_out(&b, &s).await;
    let pages = [
        "/superuser",
        "/superuser/users",
        "/superuser/organizations",
        "/superuser/quotas?namespace=acme",
        "/superuser/logs",
        "/superuser/logs/export",
    ];
    for page in pages {
        b.goto(&s.url(page)).await;
        assert!(
            b.title().await.starts_with("Not Found"),
            "{page} signed out: {}",
            b.title().await
        );
    }
    sign_in(&b, &s, ALICE, ALICE_PASSWORD).await;
    assert!(!b.has("a[href='/superuser']").await, "no menu link");
    for page in pages {
        b.goto(&s.url(page)).await;
        assert!(
            b.title().await.starts_with("Not Found"),
            "{page}: {}",
            b.title().await
        );
    }
    look(&b, "not-found").await;
    // A post with a valid token from a non-superuser: 404, nothing made.
    b.goto(&s.url("/")).await;
    let token = value(&b, "header input[name=csrf_token]").await;
    let (status, _) = {
        let r = b
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 const body = new URLSearchParams({csrf_token: arguments[0], action: 'create', username: 'sneaky'});
                 fetch('/superuser/users', {method: 'POST', body}).then((r) => done([r.status, '']));",
                vec![token.into()],
            )
            .await
            .unwrap();
        (r[0].as_u64().unwrap(), ())
    };
    assert_eq!(status, 404);
    assert_eq!(s.get("/api/v1/superuser/users/sneaky").await.status(), 404);

    let phone = Browser::start("superuser-phone", 390).await;
    sign_in(&phone, &s, ADMIN, ADMIN_PASSWORD).await;
    for (path, name) in [
        ("/superuser", "status"),
        ("/superuser/users", "users"),
        ("/superuser/quotas?namespace=acme", "quota"),
        ("/superuser/logs", "log"),
    ] {
        phone.goto(&s.url(path)).await;
        look(&phone, name).await;
    }
}
