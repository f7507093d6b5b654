//! Auto-prune policies through the real binary and real clients: Quay's
//! `autoprunepolicy` API for organizations, users and repositories; a
//! count policy keeps the newest tags, an age policy prunes older ones,
//! `last_pulled` keeps what podman just pulled; the preview lists exactly
//! what a run then prunes; pruned tags are restored by the time machine;
//! immutable tags and read-only repositories are never pruned; the
//! registry-wide default; two instances on PostgreSQL prune once; bad
//! bodies answer 400. Time passes by moving tag times in the database.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;

use std::process::Command;

use api_support::{Admin, BAD, FORBIDDEN, NOT_FOUND, call, create_org, del, get, ok, put, refused};
use common::api::{logged, resolve, tag_list, usage_log};
use common::cli::{podman, podman_import_hello};
use common::cluster::Cluster;
use common::gc::{execute, open_db};
use common::{Server, auth_file, eventually, run};
use reqwest::Method;
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;
/// The worker passes once at start, then waits: runs come from the tests.
const QUIET: &str = "AUTO_PRUNING_POLL_PERIOD: 3600\n";

fn now_ms() -> i64 {
    common::api::now_s() * 1000
}

/// `berth autoprune` against the server's database; how many it pruned.
fn autoprune(s: &Server) -> usize {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("autoprune")
        .arg("--data-dir")
        .arg(s.data_dir.path())
        .arg("--config")
        .arg(s.config_path());
    if let Some(uri) = s.db_uri() {
        cmd.arg("--db-uri").arg(uri);
    }
    cmd.env("RUST_LOG", "error");
    let out = run(&mut cmd);
    out.trim()
        .strip_prefix("pruned tags: ")
        .unwrap_or_else(|| panic!("unexpected output: {out}"))
        .parse()
        .unwrap()
}

/// Make live tag `tag` (in any repository) look set `days_ago` days ago.
async fn set_days_ago(s: &Server, tag: &str, days_ago: i64) {
    let db = open_db(s).await;
    let sql = "UPDATE tags SET start_ms = $1 WHERE name = $2 AND end_ms IS NULL";
    assert_eq!(
        execute(&db, sql, now_ms() - days_ago * DAY_MS, tag).await,
        1,
        "{tag}"
    );
    db.close().await;
}

/// Push tags `names` to `repo` (the last one most recent), each set a day
/// after the one before.
async fn push_tags(s: &Server, repo: &str, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        s.push_image(repo, name, 1).await;
        set_days_ago(s, name, (names.len() - i) as i64).await;
    }
}

/// The live tags of `repo`, sorted.
async fn live(s: &Server, repo: &str) -> Vec<String> {
    let list = tag_list(s, repo, "onlyActiveTags=true&limit=100").await;
    let mut names: Vec<String> = list["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// A policy's preview: (repository, tag) pairs, sorted.
async fn preview(s: &Server, policy_path: &str) -> Vec<(String, String)> {
    let got = get(s, Admin, &format!("{policy_path}/preview")).await;
    ok(&got, 200);
    let mut tags: Vec<(String, String)> = got.1["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["repository"].as_str().unwrap().to_owned(),
                t["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    tags.sort();
    tags
}

/// Create a policy under `base` (`.../autoprunepolicy/`); its path.
async fn create_policy(s: &Server, base: &str, body: Value) -> String {
    let got = call(s, Admin, Method::POST, base, Some(body)).await;
    ok(&got, 201);
    format!("{base}{}", got.1["uuid"].as_str().unwrap())
}

fn pairs(repo: &str, tags: &[&str]) -> Vec<(String, String)> {
    tags.iter().map(|t| (repo.to_owned(), (*t).to_owned())).collect()
}

/// The `autoprune_tag_delete` entries of `namespace`: the tags, sorted.
async fn pruned_log(s: &Server, namespace: &str) -> Vec<String> {
    let mut tags: Vec<String> = usage_log(s, namespace)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "autoprune_tag_delete")
        .map(|(_, m)| {
            assert_eq!(m["performer"], "autoprune worker", "{m}");
            m["tag"].as_str().unwrap().to_owned()
        })
        .collect();
    tags.sort();
    tags
}

#[tokio::test]
async fn a_count_policy_keeps_the_newest_tags_and_the_time_machine_restores_the_rest() {
    let s = Server::start_with_config(QUIET).await;
    create_org(&s, "acme").await;
    let repo = "acme/app";
    push_tags(&s, repo, &["t1", "t2", "t3", "t4", "t5"]).await;
    let digest_t1 = resolve(&s, repo, "t1").await.unwrap();

    let base = "/organization/acme/autoprunepolicy/";
    let policy = create_policy(&s, base, json!({"method": "number_of_tags", "value": 3})).await;
    let listed = get(&s, Admin, base).await;
    ok(&listed, 200);
    let view = &listed.1["policies"][0];
    assert_eq!(view["method"], "number_of_tags");
    assert_eq!(view["value"], 3);
    assert_eq!(view["tagPattern"], Value::Null);
    assert_eq!(view["tagPatternMatches"], true);
    assert!(
        logged(
            &s,
            "acme",
            "create_namespace_autoprune_policy",
            json!({"method": "number_of_tags", "value": 3})
        )
        .await
    );

    // The preview names the two oldest; the run prunes exactly those.
    let previewed = preview(&s, &policy).await;
    assert_eq!(previewed, pairs(repo, &["t1", "t2"]));
    assert_eq!(
        live(&s, repo).await,
        ["t1", "t2", "t3", "t4", "t5"],
        "the preview prunes nothing"
    );
    assert_eq!(autoprune(&s), 2);
    assert_eq!(live(&s, repo).await, ["t3", "t4", "t5"]);
    assert_eq!(resolve(&s, repo, "t1").await, None);
    assert_eq!(pruned_log(&s, "acme").await, ["t1", "t2"]);
    assert!(preview(&s, &policy).await.is_empty());
    assert_eq!(autoprune(&s), 0, "nothing more to prune");

    // A pruned tag is in the time machine.
    let restored = call(
        &s,
        Admin,
        Method::POST,
        &format!("/repository/{repo}/tag/t1/restore"),
        Some(json!({"manifest_digest": digest_t1})),
    )
    .await;
    ok(&restored, 200);
    assert_eq!(resolve(&s, repo, "t1").await, Some(digest_t1));

    // An immutable tag is never pruned: t1 is now the newest of four, so
    // the oldest, t3, goes, and t4 stays only because it is immutable.
    ok(
        &put(
            &s,
            Admin,
            &format!("/repository/{repo}/tag/t4"),
            json!({"immutable": true}),
        )
        .await,
        201,
    );
    let policy_2 = create_policy(&s, base, json!({"method": "number_of_tags", "value": 1})).await;
    assert_eq!(preview(&s, &policy_2).await, pairs(repo, &["t3", "t5"]));
    assert_eq!(autoprune(&s), 2);
    assert_eq!(live(&s, repo).await, ["t1", "t4"]);

    // Several policies per namespace; each one's own CRUD.
    ok(
        &put(
            &s,
            Admin,
            &policy,
            json!({"method": "creation_date", "value": "4w", "tagPattern": "v", "tagPatternMatches": false}),
        )
        .await,
        204,
    );
    let one = get(&s, Admin, &policy).await;
    ok(&one, 200);
    assert_eq!(one.1["value"], "4w");
    assert_eq!(one.1["tagPattern"], "v");
    assert_eq!(one.1["tagPatternMatches"], false);
    ok(&del(&s, Admin, &policy).await, 200);
    refused(&get(&s, Admin, &policy).await, NOT_FOUND);
    refused(&del(&s, Admin, &policy).await, NOT_FOUND);
    assert_eq!(
        get(&s, Admin, base).await.1["policies"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_age_policy_prunes_older_tags_but_not_in_read_only_repositories() {
    let s = Server::start_with_config(QUIET).await;
    create_org(&s, "acme").await;
    push_tags(&s, "acme/web", &["dev-old", "rel-old", "dev-new"]).await;
    set_days_ago(&s, "dev-old", 3).await;
    set_days_ago(&s, "rel-old", 3).await;
    set_days_ago(&s, "dev-new", 0).await;
    push_tags(&s, "acme/frozen", &["frozen-old"]).await;
    set_days_ago(&s, "frozen-old", 3).await;
    ok(
        &put(
            &s,
            Admin,
            "/repository/acme/frozen/changestate",
            json!({"state": "READ_ONLY"}),
        )
        .await,
        200,
    );

    // A repository policy on acme/web, for dev- tags only.
    let web = create_policy(
        &s,
        "/repository/acme/web/autoprunepolicy/",
        json!({"method": "creation_date", "value": "1d", "tagPattern": "dev-"}),
    )
    .await;
    assert_eq!(preview(&s, &web).await, pairs("acme/web", &["dev-old"]));
    // An organization policy by age: acme/frozen is read-only, so only web.
    let org = create_policy(
        &s,
        "/organization/acme/autoprunepolicy/",
        json!({"method": "creation_date", "value": "2d"}),
    )
    .await;
    assert_eq!(
        preview(&s, &org).await,
        pairs("acme/web", &["dev-old", "rel-old"])
    );
    assert_eq!(autoprune(&s), 2);
    assert_eq!(live(&s, "acme/web").await, ["dev-new"]);
    assert_eq!(live(&s, "acme/frozen").await, ["frozen-old"]);
    assert!(
        logged(
            &s,
            "acme",
            "create_repository_autoprune_policy",
            json!({"repo": "web", "tag_pattern": "dev-"})
        )
        .await
    );

    // Back to NORMAL: now it is pruned too.
    ok(
        &put(
            &s,
            Admin,
            "/repository/acme/frozen/changestate",
            json!({"state": "NORMAL"}),
        )
        .await,
        200,
    );
    assert_eq!(autoprune(&s), 1);
    assert!(live(&s, "acme/frozen").await.is_empty());

    // The caller's own namespace (`/user/...`): admin's.
    push_tags(&s, "admin/mine", &["m1", "m2"]).await;
    let mine = create_policy(
        &s,
        "/user/autoprunepolicy/",
        json!({"method": "number_of_tags", "value": 1}),
    )
    .await;
    assert_eq!(preview(&s, &mine).await, pairs("admin/mine", &["m1"]));
    assert_eq!(autoprune(&s), 1);
    assert_eq!(live(&s, "admin/mine").await, ["m2"]);
    ok(&del(&s, Admin, &mine).await, 200);
}

#[tokio::test]
async fn last_pulled_keeps_the_tag_podman_just_pulled() {
    let s = Server::start_with_config(QUIET).await;
    create_org(&s, "acme").await;
    let work = tempfile::tempdir().unwrap();
    let auth = auth_file(s.host());
    for tag in ["pulled", "idle"] {
        let image = format!("{}/acme/pulls:{tag}", s.host());
        podman_import_hello(work.path(), &image, &[]);
        run(podman(work.path()).env("REGISTRY_AUTH_FILE", &auth).args([
            "push",
            "--tls-verify=false",
            &image,
        ]));
        run(podman(work.path()).args(["rmi", &image]));
        set_days_ago(&s, tag, 3).await;
    }
    let pulled = format!("{}/acme/pulls:pulled", s.host());
    run(podman(work.path())
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["pull", "--tls-verify=false", &pulled]));
    eventually("the pull is written", || async {
        let v = s
            .get_json("/api/v1/repository/acme/pulls/tag/pulled/pull_statistics")
            .await;
        v["tag_pull_count"].as_i64().unwrap_or(0) > 0
    })
    .await;

    let policy = create_policy(
        &s,
        "/repository/acme/pulls/autoprunepolicy/",
        json!({"method": "last_pulled", "value": "1d"}),
    )
    .await;
    assert_eq!(preview(&s, &policy).await, pairs("acme/pulls", &["idle"]));
    assert_eq!(autoprune(&s), 1);
    assert_eq!(live(&s, "acme/pulls").await, ["pulled"]);
}

#[tokio::test]
async fn the_registry_default_applies_to_namespaces_without_a_policy() {
    let s = Server::start_with_config(&format!(
        "{QUIET}DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: {{method: number_of_tags, value: 1}}\n"
    ))
    .await;
    create_org(&s, "acme").await;
    create_org(&s, "beta").await;
    push_tags(&s, "acme/a", &["a1", "a2", "a3"]).await;
    push_tags(&s, "beta/b", &["b1", "b2", "b3"]).await;
    // beta has its own policy, which replaces the default there.
    create_policy(
        &s,
        "/organization/beta/autoprunepolicy/",
        json!({"method": "number_of_tags", "value": 2}),
    )
    .await;
    assert_eq!(autoprune(&s), 3);
    assert_eq!(live(&s, "acme/a").await, ["a3"]);
    assert_eq!(live(&s, "beta/b").await, ["b2", "b3"]);
}

#[tokio::test]
async fn bad_policies_answer_400_in_quays_shape() {
    let s = Server::start_with_config(QUIET).await;
    create_org(&s, "acme").await;
    let base = "/organization/acme/autoprunepolicy/";
    for (body, detail) in [
        (json!({"method": "size", "value": 3}), "Invalid method provided"),
        (
            json!({"method": "creation_date", "value": "2 weeks"}),
            "Invalid value given for method type",
        ),
        (
            json!({"method": "creation_date", "value": 7}),
            "Invalid value given for method type",
        ),
        (
            json!({"method": "number_of_tags", "value": 0}),
            "Invalid value given for method type",
        ),
        (
            json!({"method": "number_of_tags", "value": "3"}),
            "Invalid value given for method type",
        ),
        (
            json!({"method": "number_of_tags", "value": 3, "tagPattern": "v[0-9"}),
            "Invalid regex pattern",
        ),
        (
            json!({"method": "number_of_tags", "value": 3, "tagPattern": ""}),
            "tag_pattern cannot be empty",
        ),
        (json!({"method": "number_of_tags"}), "value"),
        (json!({"value": 3}), "method"),
        (
            json!({"method": "number_of_tags", "value": 3, "extra": 1}),
            "extra",
        ),
        (json!({"method": "number_of_tags", "value": true}), "value"),
    ] {
        let got = call(&s, Admin, Method::POST, base, Some(body.clone())).await;
        refused(&got, BAD);
        let text = got.1["detail"].as_str().unwrap();
        assert!(text.contains(detail), "{body}: {text}");
        assert_eq!(got.1["error_message"], got.1["detail"]);
        assert_eq!(got.1["status"], 400);
    }
    let policy = create_policy(&s, base, json!({"method": "number_of_tags", "value": 3})).await;
    refused(
        &put(&s, Admin, &policy, json!({"method": "last_pulled", "value": "x"})).await,
        BAD,
    );
    refused(
        &get(&s, Admin, &format!("{base}no-such-policy/preview")).await,
        NOT_FOUND,
    );
    // Only those who administer a namespace learn of it.
    refused(
        &get(&s, Admin, "/organization/nobody/autoprunepolicy/").await,
        FORBIDDEN,
    );
    assert!(get(&s, Admin, base).await.1["policies"].as_array().unwrap().len() == 1);
}

#[tokio::test]
async fn two_instances_prune_each_tag_once() {
    let Some(cluster) = Cluster::start(2, "AUTO_PRUNING_POLL_PERIOD: 1\n").await else {
        return;
    };
    let (a, b) = (&cluster.servers[0], &cluster.servers[1]);
    create_org(a, "acme").await;
    push_tags(a, "acme/app", &["c1", "c2", "c3", "c4", "c5", "c6"]).await;
    create_policy(
        b,
        "/organization/acme/autoprunepolicy/",
        json!({"method": "number_of_tags", "value": 2}),
    )
    .await;
    eventually("the workers prune", || async {
        live(a, "acme/app").await == ["c5", "c6"]
    })
    .await;
    // Nothing is left to prune; each tag was ended and logged once.
    assert_eq!(autoprune(b), 0);
    assert_eq!(pruned_log(a, "acme").await, ["c1", "c2", "c3", "c4"]);
}
