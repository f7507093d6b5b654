//! Authentication end to end: podman logins, the Bearer challenge,
//! anonymous access to public and private repositories, registry tokens
//! that must be refused, and failed-login throttling.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine;
use common::cli::{podman, podman_login, podman_round_trip_with};
use common::{OCI_MANIFEST, Server, basic_auth, error_code, run};
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A registry token from `/v2/auth`, with optional Basic credentials.
async fn token(s: &Server, creds: Option<(&str, &str)>, scope: &str, service: Option<&str>) -> String {
    let mut url = format!("/v2/auth?scope={scope}");
    url.push_str(&format!("&service={}", service.unwrap_or(s.host())));
    let mut req = s.anon.get(s.url(&url));
    if let Some((u, p)) = creds {
        req = req.header("authorization", basic_auth(u, p));
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// The claims of a token (unverified).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

async fn get_manifest(s: &Server, repo: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut req = s
        .anon
        .get(s.url(&format!("/v2/{repo}/manifests/v1")))
        .header("accept", OCI_MANIFEST);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn podman_login_then_push_and_pull_as_a_user() {
    let s = Server::start().await;
    s.create_user("alice", "alice-password", false);
    s.create_user("bob", "bob-password", false);
    let work = tempfile::tempdir().unwrap();
    let alice = podman_login(work.path(), s.host(), "alice", "alice-password");
    podman_round_trip_with(s.host(), "alice/app", &alice);

    // Private by default: bob and anonymous callers cannot pull it.
    let bob = podman_login(work.path(), s.host(), "bob", "bob-password");
    for auth in [Some(&bob), None] {
        let mut cmd = podman(work.path());
        cmd.args([
            "pull",
            "--tls-verify=false",
            &format!("{}/alice/app:v1", s.host()),
        ]);
        match auth {
            Some(a) => cmd.env("REGISTRY_AUTH_FILE", a),
            None => cmd.env("REGISTRY_AUTH_FILE", work.path().join("none.json")),
        };
        let out = cmd.output().unwrap();
        assert!(
            !out.status.success(),
            "a private repository is not pullable by others"
        );
    }
    // bob may not push into alice's namespace either.
    let out = podman(work.path())
        .env("REGISTRY_AUTH_FILE", &bob)
        .args([
            "push",
            "--tls-verify=false",
            &format!("{}/alice/app:v1", s.host()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // A wrong password fails the login itself.
    let out = podman(work.path())
        .env("REGISTRY_AUTH_FILE", work.path().join("bad.json"))
        .args([
            "login",
            "--tls-verify=false",
            "-u",
            "alice",
            "-p",
            "wrong-password",
            s.host(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn anonymous_pushes_get_the_bearer_challenge() {
    let s = Server::start().await;
    let r = s.anon.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        format!("Bearer realm=\"http://{0}/v2/auth\",service=\"{0}\"", s.host()).as_str()
    );
    let r = s
        .anon
        .post(s.url("/v2/acme/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        format!(
            "Bearer realm=\"http://{0}/v2/auth\",service=\"{0}\",scope=\"repository:acme/app:pull,push\"",
            s.host()
        )
        .as_str()
    );
    assert_eq!(error_code(r).await, "UNAUTHORIZED");
    // An anonymous token grants no push either.
    let t = token(&s, None, "repository:acme/app:pull,push", None).await;
    assert_eq!(claims(&t)["access"][0]["actions"], json!([]));
    let r = s
        .anon
        .post(s.url("/v2/acme/app/blobs/uploads/"))
        .header("authorization", format!("Bearer {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Credentials for no scope at all are refused without credentials.
    let r = s.anon.get(s.url("/v2/auth")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn anonymous_pulls_work_for_public_repositories_only() {
    let s = Server::start().await;
    s.push_image("acme/public", "v1", 1).await;
    s.push_image("acme/private", "v1", 1).await;
    let r = s
        .client
        .post(s.url("/api/v1/repository/acme/public/changevisibility"))
        .json(&json!({"visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Without any credentials, and with an anonymous token.
    assert_eq!(get_manifest(&s, "acme/public", None).await.status(), 200);
    let r = get_manifest(&s, "acme/private", None).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("repository:acme/private:pull")
    );
    let t = token(&s, None, "repository:acme/public:pull", None).await;
    assert_eq!(claims(&t)["access"][0]["actions"], json!(["pull"]));
    assert_eq!(get_manifest(&s, "acme/public", Some(&t)).await.status(), 200);
    let t = token(&s, None, "repository:acme/private:pull", None).await;
    assert_eq!(claims(&t)["access"][0]["actions"], json!([]));
    assert_eq!(get_manifest(&s, "acme/private", Some(&t)).await.status(), 401);

    // A real client without credentials.
    let out = run(common::cli::skopeo(s.host()).args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--no-creds",
        &format!("docker://{}/acme/public:v1", s.host()),
    ]));
    assert!(out.contains("schemaVersion"));
    let out = common::cli::skopeo(s.host())
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--no-creds",
            &format!("docker://{}/acme/private:v1", s.host()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // The catalog shows anonymous callers the public repository only.
    let v: Value = s
        .anon
        .get(s.url("/v2/_catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["repositories"], json!(["acme/public"]));
    let v: Value = s
        .client
        .get(s.url("/v2/_catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["repositories"], json!(["acme/private", "acme/public"]));
}

/// Sign `claims` with `key` (PKCS#8 Ed25519) under key id `kid`.
fn sign(claims: &Value, kid: &str, key: &[u8]) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ed_der(key)).unwrap()
}

/// The server's current signing key (kid, PKCS#8), read from its database.
async fn signing_key(s: &Server) -> (String, Vec<u8>) {
    let db = match s.db_uri() {
        Some(uri) => berth_store::Db::open(uri, Default::default()).await.unwrap(),
        None => berth_store::Db::open_sqlite(s.data_dir.path(), Default::default())
            .await
            .unwrap(),
    };
    let keys = db.signing_keys(0).await.unwrap();
    db.close().await;
    let key = keys.into_iter().find(|k| k.retired_ms.is_none()).unwrap();
    (key.kid, key.private_der)
}

#[tokio::test]
async fn registry_tokens_that_must_not_work_are_refused() {
    let s = Server::start().await;
    s.push_image("acme/app", "v1", 1).await;
    s.create_user("reader", "reader-password", false);
    let scope = "repository:acme/app:pull,push";
    let good = token(&s, Some((common::ADMIN, common::ADMIN_PASSWORD)), scope, None).await;
    assert_eq!(claims(&good)["access"][0]["actions"], json!(["pull", "push"]));
    assert_eq!(get_manifest(&s, "acme/app", Some(&good)).await.status(), 200);

    let (kid, key) = signing_key(&s).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut c = claims(&good);
    // The same claims re-signed with our key still work (the forgery tool
    // itself is sound) ...
    assert_eq!(
        get_manifest(&s, "acme/app", Some(&sign(&c, &kid, &key)))
            .await
            .status(),
        200
    );
    // ... but not once expired, beyond the 30 s clock-skew allowance.
    c["exp"] = json!(now - 120);
    c["iat"] = json!(now - 3720);
    c["nbf"] = json!(now - 3720);
    let expired = sign(&c, &kid, &key);
    // Nor when not yet valid.
    let mut future = claims(&good);
    future["nbf"] = json!(now + 600);
    let early = sign(&future, &kid, &key);
    // Signed by another key under our key id.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let other = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let wrongly_signed = sign(&claims(&good), &kid, other.as_ref());
    let unknown_kid = sign(&claims(&good), "0000000000000000", other.as_ref());
    // Issued for another service.
    let other_service = token(
        &s,
        Some((common::ADMIN, common::ADMIN_PASSWORD)),
        scope,
        Some("elsewhere"),
    )
    .await;
    assert_eq!(claims(&other_service)["aud"], "elsewhere");
    // A reader's token, widened by editing its claims (the signature no
    // longer matches).
    let narrow = token(&s, Some(("reader", "reader-password")), scope, None).await;
    assert_eq!(claims(&narrow)["access"][0]["actions"], json!([]));
    let mut widened = claims(&narrow);
    widened["access"][0]["actions"] = json!(["pull", "push"]);
    let parts: Vec<&str> = narrow.split('.').collect();
    let widened = format!("{}.{}.{}", parts[0], B64.encode(widened.to_string()), parts[2]);
    // No signature at all.
    let unsigned = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(claims(&good).to_string())
    );
    for (what, t) in [
        ("expired", &expired),
        ("not yet valid", &early),
        ("wrongly signed", &wrongly_signed),
        ("unknown key", &unknown_kid),
        ("other service", &other_service),
        ("widened", &widened),
        ("unsigned", &unsigned),
        ("garbage", &"not.a.token".to_owned()),
    ] {
        let r = get_manifest(&s, "acme/app", Some(t)).await;
        assert_eq!(r.status(), 401, "{what} token must be refused");
        assert!(r.headers().contains_key("www-authenticate"), "{what}");
        let r = s
            .anon
            .post(s.url("/v2/acme/app/blobs/uploads/"))
            .header("authorization", format!("Bearer {t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{what} token must not push");
    }
    // The reader's honest token: authenticated, but the policy says no.
    let r = s
        .anon
        .post(s.url("/v2/acme/app/blobs/uploads/"))
        .header("authorization", format!("Bearer {narrow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "DENIED");
}

#[tokio::test]
async fn signing_keys_rotate_without_breaking_issued_tokens() {
    let mut s = Server::start().await;
    s.push_image("acme/app", "v1", 1).await;
    let before = token(
        &s,
        Some((common::ADMIN, common::ADMIN_PASSWORD)),
        "repository:acme/app:pull",
        None,
    )
    .await;
    s.stop();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["admin", "keys", "rotate", "--data-dir"])
        .arg(s.data_dir.path());
    if let Some(uri) = s.db_uri() {
        cmd.arg("--db-uri").arg(uri);
    }
    run(&mut cmd);
    s.restart().await;
    let after = token(
        &s,
        Some((common::ADMIN, common::ADMIN_PASSWORD)),
        "repository:acme/app:pull",
        None,
    )
    .await;
    let kid = |t: &str| -> Value {
        serde_json::from_slice(&B64.decode(t.split('.').next().unwrap()).unwrap()).unwrap()
    };
    assert_ne!(kid(&before)["kid"], kid(&after)["kid"], "a new key signs");
    for t in [&before, &after] {
        assert_eq!(get_manifest(&s, "acme/app", Some(t)).await.status(), 200);
    }
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account() {
    let s = Server::start().await;
    s.create_user("carol", "carol-password", false);
    s.create_user("dave", "dave-password", false);
    let login = |user: &'static str, pw: &'static str| {
        let req = s
            .anon
            .get(s.url("/v2/auth?scope=repository:carol/x:pull"))
            .header("authorization", basic_auth(user, pw));
        async move { req.send().await.unwrap() }
    };
    for _ in 0..5 {
        assert_eq!(login("carol", "wrong-password").await.status(), 401);
    }
    // Locked now, even with the right password.
    let r = login("carol", "carol-password").await;
    assert_eq!(r.status(), 429);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(error_code(r).await, "TOOMANYREQUESTS");
    // Other accounts are not affected, on /v2 and /api/v1 alike.
    assert_eq!(login("dave", "dave-password").await.status(), 200);
    let r = s
        .anon
        .get(s.url("/api/v1/user/"))
        .header("authorization", basic_auth("carol", "carol-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn podman_login_then_push_and_pull_as_a_robot_and_with_an_app_token() {
    let s = Server::start().await;
    s.create_user("erin", "erin-password", false);
    let erin = s.client_as("erin", "erin-password");
    let api = |p: &str| s.url(&format!("/api/v1{p}"));
    let r = erin
        .post(api("/organization/"))
        .json(&json!({"name": "shop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let robot: Value = erin
        .put(api("/organization/shop/robots/deployer"))
        .json(&json!({"description": "CI"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let robot_token = robot["token"].as_str().unwrap().to_owned();
    // The repository exists (pushed by its owner) and the robot may write.
    s.push_image_via(&erin, "shop/web", "v0", 1).await;
    let r = erin
        .put(api("/repository/shop/web/permissions/user/shop+deployer"))
        .json(&json!({"role": "write"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let work = tempfile::tempdir().unwrap();
    let as_robot = podman_login(work.path(), s.host(), "shop+deployer", &robot_token);
    podman_round_trip_with(s.host(), "shop/web", &as_robot);
    // The robot has no rights elsewhere in the organization: it may not
    // create a repository there.
    s.push_image_via(&erin, "shop/db", "v0", 1).await;
    let out = podman(work.path())
        .env("REGISTRY_AUTH_FILE", &as_robot)
        .args(["pull", "--tls-verify=false", &format!("{}/shop/db:v0", s.host())])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a robot reads only what it was granted");

    let app: Value = erin
        .post(api("/user/apptoken"))
        .json(&json!({"title": "podman on the laptop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = app["token"]["token_code"].as_str().unwrap().to_owned();
    let with_app_token = podman_login(work.path(), s.host(), "$app", &code);
    podman_round_trip_with(s.host(), "erin/tools", &with_app_token);
    podman_round_trip_with(s.host(), "shop/app", &with_app_token);
}
