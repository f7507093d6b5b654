//! The access matrix: every kind of actor against every kind of action,
//! over `/v2` (through registry tokens, as clients use it) and `/api/v1`,
//! with the expected answer for each cell; then the usage log must hold an
//! entry for every action that was allowed.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, ADMIN_PASSWORD, OCI_MANIFEST, Server, basic_auth, image_manifest, random_bytes, sha256};
use serde_json::{Value, json};

/// How an actor authenticates.
#[derive(Clone)]
enum Cred {
    None,
    Basic(String, String),
    OAuth(String),
}

#[derive(Clone)]
struct Actor {
    label: String,
    cred: Cred,
    /// The performer name its actions are logged under.
    performer: Option<String>,
}

impl Actor {
    fn user(name: &str) -> Actor {
        Actor {
            label: name.into(),
            cred: Cred::Basic(name.into(), format!("{name}-password")),
            performer: Some(name.into()),
        }
    }
}

const ACTIONS: [&str; 12] = [
    "pull /v2",
    "pull /api/v1",
    "push /v2",
    "delete tag /v2",
    "delete tag /api/v1",
    "change permissions /api/v1",
    "create repo /api/v1",
    "create repo /v2",
    "manage robots /api/v1",
    "manage teams /api/v1",
    "read org logs /api/v1",
    "read repo logs /api/v1",
];

/// Expected answers, one character per action above: Y allowed, N refused.
const EXPECTED: [(&str, &str); 20] = [
    ("anonymous", "NNNNNNNNNNNN"),
    ("outsider", "NNNNNNNNNNNN"),
    ("reader", "YYNNNNNNNNNN"),
    ("writer", "YYYYYNNNNNNN"),
    ("repoadmin", "YYYYYYNNNNNY"),
    ("tmember", "YYNNNNNNNNNN"),
    ("tcreator", "NNNNNNYYNNNN"),
    ("tadmin", "YYYYYYYYYYYY"),
    ("owner", "YYYYYYYYYYYY"),
    ("robot-write", "YYYYYNNNNNNN"),
    ("robot-none", "NNNNNNNNNNNN"),
    ("superuser", "NNNNNNNNNNNN"),
    ("oauth repo:read", "YYNNNNNNNNNN"),
    ("oauth repo:write", "YYYYYNNNNNNN"),
    ("oauth repo:admin", "YYYYYYNNNNNY"),
    // Creating works; pushing into it then needs repo:write.
    ("oauth repo:create", "NNNNNNYNNNNN"),
    ("oauth user:read", "NNNNNNNNNNNN"),
    ("oauth user:admin", "NNNNNNNNNNNN"),
    ("oauth org:admin", "NNNNNNNNYYYN"),
    ("oauth super:user", "NNNNNNNNNNNN"),
];

struct World {
    s: Server,
    owner: reqwest::Client,
}

impl World {
    /// An `/api/v1` call as `actor`.
    async fn api(
        &self,
        actor: &Actor,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.s.anon.request(method, self.s.url(&format!("/api/v1{path}")));
        req = match &actor.cred {
            Cred::None => req,
            Cred::Basic(u, p) => req.header("authorization", basic_auth(u, p)),
            Cred::OAuth(t) => req.header("authorization", format!("Bearer {t}")),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// A registry token for `scope`, obtained as `actor` would with podman.
    async fn token(&self, actor: &Actor, scope: &str) -> String {
        let mut req = self.s.anon.get(
            self.s
                .url(&format!("/v2/auth?service={}&scope={scope}", self.s.host())),
        );
        req = match &actor.cred {
            Cred::None => req,
            Cred::Basic(u, p) => req.header("authorization", basic_auth(u, p)),
            Cred::OAuth(t) => req.header("authorization", basic_auth("$oauthtoken", t)),
        };
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "token for {}", actor.label);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A `/v2` request as `actor`, with a token for `repo`.
    async fn v2(
        &self,
        actor: &Actor,
        repo: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> u16 {
        let token = self.token(actor, &format!("repository:{repo}:pull,push")).await;
        let mut req = self
            .s
            .anon
            .request(method, self.s.url(path))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", OCI_MANIFEST);
        if let Some((bytes, media_type)) = body {
            req = req.header("content-type", media_type).body(bytes);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// Push a small image to `repo:tag` as `actor`; the first refused
    /// request's status, or 201.
    async fn push(&self, actor: &Actor, repo: &str, tag: &str) -> u16 {
        let layer = random_bytes(500, common::unique_seed());
        let config = format!(r#"{{"seed":{}}}"#, common::unique_seed()).into_bytes();
        for blob in [&layer, &config] {
            let status = self
                .v2(
                    actor,
                    repo,
                    reqwest::Method::POST,
                    &format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob)),
                    Some((blob.clone(), "application/octet-stream")),
                )
                .await;
            if status != 201 {
                return status;
            }
        }
        let manifest = image_manifest(
            &sha256(&config),
            config.len(),
            &[(sha256(&layer), layer.len())],
            None,
        );
        self.v2(
            actor,
            repo,
            reqwest::Method::PUT,
            &format!("/v2/{repo}/manifests/{tag}"),
            Some((manifest, OCI_MANIFEST)),
        )
        .await
    }

    /// An `/api/v1` call as the organization's owner, which must succeed.
    async fn setup(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.owner.request(method, self.s.url(&format!("/api/v1{path}")));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "setup {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// Run one action as `actor`; whether it was allowed. A refusal must be a
/// clean 401 or 403.
async fn attempt(w: &World, actor: &Actor, i: usize, action: &str) -> bool {
    use reqwest::Method as M;
    let status = match action {
        "pull /v2" => w.v2(actor, "acme/app", M::GET, "/v2/acme/app/manifests/v1", None).await,
        "pull /api/v1" => w.api(actor, M::GET, "/repository/acme/app", None).await.status().as_u16(),
        "push /v2" => w.push(actor, "acme/app", &format!("push{i}")).await,
        "delete tag /v2" => {
            w.v2(actor, "acme/app", M::DELETE, &format!("/v2/acme/app/manifests/v2del{i}"), None)
                .await
        }
        "delete tag /api/v1" => {
            w.api(actor, M::DELETE, &format!("/repository/acme/app/tag/apidel{i}"), None)
                .await
                .status()
                .as_u16()
        }
        "change permissions /api/v1" => {
            let s = w
                .api(
                    actor,
                    M::PUT,
                    "/repository/acme/app/permissions/user/target",
                    Some(json!({"role": "read"})),
                )
                .await
                .status()
                .as_u16();
            if s == 200 {
                w.setup(M::DELETE, "/repository/acme/app/permissions/user/target", None).await;
            }
            s
        }
        "create repo /api/v1" => {
            w.api(
                actor,
                M::POST,
                "/repository",
                Some(json!({"namespace": "acme", "repository": format!("api{i}"), "visibility": "private", "description": ""})),
            )
            .await
            .status()
            .as_u16()
        }
        "create repo /v2" => w.push(actor, &format!("acme/v2new{i}"), "v1").await,
        "manage robots /api/v1" => {
            w.api(actor, M::PUT, &format!("/organization/acme/robots/bot{i}"), None)
                .await
                .status()
                .as_u16()
        }
        "manage teams /api/v1" => {
            w.api(actor, M::PUT, &format!("/organization/acme/team/team{i}"), Some(json!({"role": "member"})))
                .await
                .status()
                .as_u16()
        }
        "read org logs /api/v1" => w.api(actor, M::GET, "/organization/acme/logs", None).await.status().as_u16(),
        "read repo logs /api/v1" => {
            w.api(actor, M::GET, "/repository/acme/app/logs", None)
                .await
                .status()
                .as_u16()
        }
        other => panic!("unknown action {other}"),
    };
    match status {
        200..=299 => true,
        401 | 403 => false,
        other => panic!("{} / {action}: unexpected status {other}", actor.label),
    }
}

#[tokio::test]
async fn every_actor_against_every_action() {
    use reqwest::Method as M;
    let s = Server::start().await;
    for u in [
        "owner",
        "outsider",
        "reader",
        "writer",
        "repoadmin",
        "tmember",
        "tcreator",
        "tadmin",
        "target",
    ] {
        s.create_user(u, &format!("{u}-password"), false);
    }
    let w = World {
        owner: s.client_as("owner", "owner-password"),
        s,
    };
    w.setup(M::POST, "/organization/", Some(json!({"name": "acme"})))
        .await;
    let (_, _) = w.s.push_image_via(&w.owner, "acme/app", "v1", 1).await;
    for (team, role, member) in [
        ("members", "member", "tmember"),
        ("creators", "creator", "tcreator"),
        ("admins", "admin", "tadmin"),
    ] {
        w.setup(
            M::PUT,
            &format!("/organization/acme/team/{team}"),
            Some(json!({"role": role})),
        )
        .await;
        w.setup(
            M::PUT,
            &format!("/organization/acme/team/{team}/members/{member}"),
            None,
        )
        .await;
    }
    w.setup(
        M::PUT,
        "/repository/acme/app/permissions/team/members",
        Some(json!({"role": "read"})),
    )
    .await;
    for (user, role) in [("reader", "read"), ("writer", "write"), ("repoadmin", "admin")] {
        w.setup(
            M::PUT,
            &format!("/repository/acme/app/permissions/user/{user}"),
            Some(json!({"role": role})),
        )
        .await;
    }
    let mut robots = Vec::new();
    for short in ["write", "none"] {
        let v = w
            .setup(
                M::PUT,
                &format!("/organization/acme/robots/{short}"),
                Some(json!({})),
            )
            .await;
        let name = v["name"].as_str().unwrap().to_owned();
        assert_eq!(name, format!("acme+{short}"));
        let token = v["token"].as_str().unwrap().to_owned();
        robots.push(Actor {
            label: format!("robot-{short}"),
            cred: Cred::Basic(name.clone(), token),
            performer: Some(name),
        });
    }
    w.setup(
        M::PUT,
        "/repository/acme/app/permissions/user/acme+write",
        Some(json!({"role": "write"})),
    )
    .await;
    let app = w
        .setup(
            M::POST,
            "/organization/acme/applications",
            Some(json!({"name": "matrix"})),
        )
        .await;
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    let mut actors = vec![Actor {
        label: "anonymous".into(),
        cred: Cred::None,
        performer: None,
    }];
    for u in [
        "outsider",
        "reader",
        "writer",
        "repoadmin",
        "tmember",
        "tcreator",
        "tadmin",
        "owner",
    ] {
        actors.push(Actor::user(u));
    }
    actors.extend(robots);
    actors.push(Actor {
        label: "superuser".into(),
        cred: Cred::Basic(ADMIN.into(), ADMIN_PASSWORD.into()),
        performer: Some(ADMIN.into()),
    });
    // super:user may only be granted by a superuser who also administers
    // the application's organization: the superuser's own organization.
    let su = w.s.client.clone();
    let r = su
        .post(w.s.url("/api/v1/organization/"))
        .json(&json!({"name": "sys"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let sys_app: Value = su
        .post(w.s.url("/api/v1/organization/sys/applications"))
        .json(&json!({"name": "admin-tools"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sys_client = sys_app["client_id"].as_str().unwrap().to_owned();
    for scope in [
        "repo:read",
        "repo:write",
        "repo:admin",
        "repo:create",
        "user:read",
        "user:admin",
        "org:admin",
        "super:user",
    ] {
        let (maker, org, app, performer) = if scope == "super:user" {
            (&su, "sys", &sys_client, ADMIN)
        } else {
            (&w.owner, "acme", &client_id, "owner")
        };
        let url =
            w.s.url(&format!("/api/v1/organization/{org}/applications/{app}/tokens"));
        let r = maker
            .post(url)
            .json(&json!({"scope": scope}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        let token = v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("token for {scope}: {status} {v}"));
        actors.push(Actor {
            label: format!("oauth {scope}"),
            cred: Cred::OAuth(token.to_owned()),
            performer: Some(performer.to_owned()),
        });
    }
    assert_eq!(actors.len(), EXPECTED.len());

    // Tags to delete, one per actor and API.
    for i in 0..actors.len() {
        for tag in [format!("v2del{i}"), format!("apidel{i}")] {
            let manifest = w
                .owner
                .get(w.s.url("/v2/acme/app/manifests/v1"))
                .header("accept", OCI_MANIFEST)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let r = w
                .owner
                .put(w.s.url(&format!("/v2/acme/app/manifests/{tag}")))
                .header("content-type", OCI_MANIFEST)
                .body(manifest)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    }

    let mut failures = Vec::new();
    let mut allowed_cells = Vec::new();
    for (i, actor) in actors.iter().enumerate() {
        let (label, expected) = EXPECTED[i];
        assert_eq!(label, actor.label);
        for (j, action) in ACTIONS.iter().enumerate() {
            let want = expected.as_bytes()[j] == b'Y';
            let got = attempt(&w, actor, i, action).await;
            if got != want {
                failures.push(format!(
                    "{label} / {action}: expected {}, got {}",
                    yes(want),
                    yes(got)
                ));
            }
            if got {
                allowed_cells.push((i, actor.clone(), *action));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "access matrix mismatches:\n{}",
        failures.join("\n")
    );

    // Every allowed action left a usage-log entry naming who did it.
    let logs = all_org_logs(&w).await;
    let mut missing = Vec::new();
    for (i, actor, action) in &allowed_cells {
        let Some((kind, mark)) = logged_as(action, *i) else {
            continue;
        };
        let found = logs.iter().any(|e| {
            e["kind"] == kind
                && e["performer"]["name"].as_str() == actor.performer.as_deref()
                && e.to_string().contains(&mark)
        });
        if !found {
            missing.push(format!(
                "{} / {action}: no {kind} entry mentioning {mark}",
                actor.label
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "missing usage-log entries:\n{}",
        missing.join("\n")
    );
}

fn yes(b: bool) -> &'static str {
    if b { "allowed" } else { "refused" }
}

/// The log kind an allowed action leaves, and a string its entry holds.
fn logged_as(action: &str, i: usize) -> Option<(&'static str, String)> {
    Some(match action {
        "pull /v2" => ("pull_repo", "\"v1\"".into()),
        "push /v2" => ("push_repo", format!("push{i}")),
        "delete tag /v2" => ("delete_tag", format!("v2del{i}")),
        "delete tag /api/v1" => ("delete_tag", format!("apidel{i}")),
        "change permissions /api/v1" => ("add_repo_permission", "target".into()),
        "create repo /api/v1" => ("create_repo", format!("api{i}")),
        "create repo /v2" => ("create_repo", format!("v2new{i}")),
        "manage robots /api/v1" => ("create_robot", format!("bot{i}")),
        "manage teams /api/v1" => ("org_create_team", format!("team{i}")),
        // Reading is not logged (nor in Quay): viewing a repository or logs.
        _ => return None,
    })
}

/// Every entry of the organization's usage log for today, all pages.
async fn all_org_logs(w: &World) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(n) => format!("/organization/acme/logs?next_page={n}"),
            None => "/organization/acme/logs".to_owned(),
        };
        let v = w.setup(reqwest::Method::GET, &path, None).await;
        out.extend(v["logs"].as_array().unwrap().iter().cloned());
        match v["next_page"].as_str() {
            Some(n) => next = Some(n.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn superusers_with_full_access_may_do_everything() {
    use reqwest::Method as M;
    let s = Server::start_with_config("FEATURE_SUPERUSERS_FULL_ACCESS: true\n").await;
    s.create_user("owner", "owner-password", false);
    s.create_user("target", "target-password", false);
    let w = World {
        owner: s.client_as("owner", "owner-password"),
        s,
    };
    w.setup(M::POST, "/organization/", Some(json!({"name": "acme"})))
        .await;
    w.s.push_image_via(&w.owner, "acme/app", "v1", 1).await;
    let su = Actor {
        label: "superuser".into(),
        cred: Cred::Basic(ADMIN.into(), ADMIN_PASSWORD.into()),
        performer: Some(ADMIN.into()),
    };
    for tag in ["v2del0", "apidel0"] {
        w.s.push_image_via(&w.owner, "acme/app", tag, 1).await;
    }
    for action in ACTIONS {
        assert!(attempt(&w, &su, 0, action).await, "superuser / {action}");
    }
}
