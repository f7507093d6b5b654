//! Event notifications, end to end against real receivers on loopback: a
//! webhook gets exactly one signed delivery per push (skopeo), a receiver
//! that was down gets what was queued, a server killed with SIGKILL right
//! after acknowledging a push delivers it once after its restart, e-mail
//! reaches a real SMTP server, Slack gets its message shape, the test
//! endpoint sends a sample of every event, three failures disable a
//! notification until it is reset, hostile receivers are survived,
//! loopback targets are refused unless allowed, and tags about to expire
//! are announced once each.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "notifications/expiry.rs"]
mod expiry;
#[path = "notifications/methods.rs"]
mod methods;
#[path = "notifications/refusals.rs"]
mod refusals;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};

use aws_lc_rs::hmac;
use common::api::{logged, usage_log};
use common::cli::skopeo_round_trip;
use common::quota::{Caller, config, create_org, layer, push, pushed, set_quota};
use common::receiver::{Answer, Receiver};
use common::{Server, eventually};
use serde_json::{Value, json};

/// Loopback receivers allowed, retries after a second, bounded attempts.
const CONFIG: &str = "FEATURE_SECURITY_SCANNER: false\n\
    DATABASE_SECRET_KEY: notification-test-key-0123456789\n\
    SSRF_ALLOWED_HOSTS: [127.0.0.1]\n\
    NOTIFICATION_RETRY_DELAY_S: 1\n\
    NOTIFICATION_SEND_TIMEOUT: 2\n";

/// One count from the server's database.
async fn count(s: &Server, sql: &'static str) -> i64 {
    macro_rules! fetch {
        ($pool:expr) => {{
            let pool = $pool;
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }};
    }
    match s.db_uri() {
        Some(uri) => fetch!(sqlx::PgPool::connect(uri).await.unwrap()),
        None => {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(s.data_dir.path().join("metadata.db"))
                .read_only(true);
            fetch!(sqlx::SqlitePool::connect_with(opts).await.unwrap())
        }
    }
}

/// Deliveries still queued.
async fn queued(s: &Server) -> i64 {
    count(s, "SELECT count(*) FROM notification_queue").await
}

/// A server with organization `acme` and its repository `acme/app`.
async fn setup(extra: &str) -> Server {
    let s = Server::start_with_config(&format!("{CONFIG}{extra}")).await;
    create_org(&s, "acme").await;
    s.push_image("acme/app", "base", 1).await;
    s
}

/// Create a notification on `acme/app`; returns its view.
async fn create(s: &Server, event: &str, method: &str, config: Value, event_config: Value) -> Value {
    let (status, body) = Caller::admin(s)
        .post(
            "/repository/acme/app/notification/",
            json!({"event": event, "method": method, "config": config, "eventConfig": event_config,
                   "title": format!("{event} by {method}")}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn verify(secret: &str, body: &[u8], signature: &str) {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let hex = signature.strip_prefix("sha256=").unwrap();
    hmac::verify(&key, body, &hex::decode(hex).unwrap()).expect("the signature verifies");
}

#[tokio::test]
async fn a_webhook_gets_exactly_one_signed_delivery_per_push() {
    let s = setup("").await;
    let hook = Receiver::start().await;
    let n = create(&s, "repo_push", "webhook", json!({"url": hook.url()}), json!({})).await;
    let secret = n["webhook_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    assert_eq!(n["number_of_failures"], 0);
    assert_eq!(n["event_config"], json!({}));
    // Shown once: never again.
    let (_, again) = Caller::admin(&s)
        .get(&format!(
            "/repository/acme/app/notification/{}",
            n["uuid"].as_str().unwrap()
        ))
        .await;
    assert!(again.get("webhook_secret").is_none(), "{again}");
    eventually("the creation is logged", || async {
        logged(
            &s,
            "acme",
            "add_repo_notification",
            json!({"event": "repo_push", "method": "webhook"}),
        )
        .await
    })
    .await;

    // A real client's push, by tag.
    skopeo_round_trip(s.host(), "acme/app", &[2000]);
    eventually("the push is delivered", || async { hook.received().len() == 1 }).await;
    eventually("nothing is left queued", || async { queued(&s).await == 0 }).await;
    let got = hook.received();
    assert_eq!(got.len(), 1, "exactly one delivery");
    let d = &got[0];
    assert_eq!(d.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(d.header("x-berth-event").as_deref(), Some("repo_push"));
    verify(&secret, &d.body, &d.header("x-berth-signature-256").unwrap());
    let host = s.host().to_owned();
    assert_eq!(
        d.json(),
        json!({"repository": "acme/app", "namespace": "acme", "name": "app",
               "docker_url": format!("{host}/acme/app"),
               "homepage": format!("http://{host}/repository/acme/app"),
               "updated_tags": ["v1"]})
    );

    // Two more pushes, two more deliveries, each with its own id.
    s.push_image("acme/app", "v2", 1).await;
    s.push_image("acme/app", "v3", 1).await;
    eventually("both are delivered", || async { hook.received().len() == 3 }).await;
    eventually("nothing is left queued", || async { queued(&s).await == 0 }).await;
    let got = hook.received();
    assert_eq!(got.len(), 3);
    let ids: BTreeSet<String> = got
        .iter()
        .map(|r| r.header("x-berth-delivery").unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "one id per event");
    let tags: BTreeSet<String> = got
        .iter()
        .map(|r| r.json()["updated_tags"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tags, BTreeSet::from(["v1".into(), "v2".into(), "v3".into()]));

    // The delivery log records each attempt.
    let uuid = n["uuid"].as_str().unwrap();
    let (status, log) = Caller::admin(&s)
        .get(&format!("/repository/acme/app/notification/{uuid}/deliveries"))
        .await;
    assert_eq!(status, 200, "{log}");
    let entries = log["deliveries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(
        entries
            .iter()
            .all(|e| e["success"] == true && e["status"] == 200 && e["error"].is_null())
    );

    // CloudEvents 1.0, on request.
    let ce = Receiver::start().await;
    create(
        &s,
        "repo_push",
        "webhook",
        json!({"url": ce.url(), "cloudevents": true}),
        json!({}),
    )
    .await;
    s.push_image("acme/app", "v4", 1).await;
    eventually("the CloudEvent arrives", || async { ce.received().len() == 1 }).await;
    let event = ce.received()[0].clone();
    assert_eq!(
        event.header("content-type").as_deref(),
        Some("application/cloudevents+json")
    );
    let body = event.json();
    assert_eq!(body["specversion"], "1.0");
    assert_eq!(body["type"], "berth.repo_push");
    assert_eq!(body["id"].as_str(), event.header("x-berth-delivery").as_deref());
    assert_eq!(body["subject"], "acme/app");
    assert_eq!(body["data"]["updated_tags"], json!(["v4"]));
}

#[tokio::test]
async fn a_receiver_down_for_30_seconds_gets_the_queued_deliveries() {
    // Retries 20 s apart: the outage costs two failed tries, fewer than
    // the three that disable a notification.
    let s = Server::start_with_config(
        &CONFIG.replace("NOTIFICATION_RETRY_DELAY_S: 1", "NOTIFICATION_RETRY_DELAY_S: 20"),
    )
    .await;
    create_org(&s, "acme").await;
    s.push_image("acme/app", "base", 1).await;
    let mut hook = Receiver::start().await;
    let n = create(&s, "repo_push", "webhook", json!({"url": hook.url()}), json!({})).await;
    let uuid = n["uuid"].as_str().unwrap().to_owned();
    hook.stop().await;
    let down = std::time::Instant::now();
    for tag in ["a", "b", "c"] {
        s.push_image("acme/app", tag, 1).await;
    }
    let failures = "SELECT count(*) FROM notification_log WHERE success = FALSE";
    eventually("a delivery fails while the receiver is down", || async {
        count(&s, failures).await >= 1
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(30).saturating_sub(down.elapsed())).await;
    assert!(hook.received().is_empty(), "nothing arrived during the outage");
    hook.resume().await;
    eventually("the queued deliveries arrive", || async {
        hook.received().len() == 3
    })
    .await;
    eventually("nothing is left queued", || async { queued(&s).await == 0 }).await;
    let tags: Vec<String> = hook
        .received()
        .iter()
        .map(|r| r.json()["updated_tags"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tags, ["a", "b", "c"], "in order, each once");
    let (_, view) = Caller::admin(&s)
        .get(&format!("/repository/acme/app/notification/{uuid}"))
        .await;
    assert_eq!(view["number_of_failures"], 0, "a success clears the failures");
}

#[tokio::test]
async fn a_push_acknowledged_before_a_sigkill_is_delivered_once_after_restart() {
    let mut s = setup("").await;
    let mut hook = Receiver::start().await;
    create(&s, "repo_push", "webhook", json!({"url": hook.url()}), json!({})).await;
    // The receiver is down, so the push cannot be delivered before the kill.
    hook.stop().await;
    s.push_image("acme/app", "survivor", 1).await;
    s.kill();
    assert_eq!(
        queued(&s).await,
        1,
        "the acknowledged push has its delivery queued"
    );
    hook.resume().await;
    s.restart().await;
    eventually("the delivery arrives after the restart", || async {
        hook.received().len() == 1
    })
    .await;
    eventually("nothing is left queued", || async { queued(&s).await == 0 }).await;
    let got = hook.received();
    assert_eq!(got.len(), 1, "delivered once");
    assert_eq!(got[0].json()["updated_tags"], json!(["survivor"]));
    // Any attempt before the kill carried the same id.
    let ids = count(&s, "SELECT count(DISTINCT delivery) FROM notification_log").await;
    assert_eq!(ids, 1);
}

#[tokio::test]
async fn three_failures_disable_a_notification_until_it_is_reset() {
    let s = setup("").await;
    let hook = Receiver::start().await;
    hook.answer(Answer::Status(500));
    let n = create(&s, "repo_push", "webhook", json!({"url": hook.url()}), json!({})).await;
    let uuid = n["uuid"].as_str().unwrap().to_owned();
    let path = format!("/repository/acme/app/notification/{uuid}");
    let admin = Caller::admin(&s);
    s.push_image("acme/app", "one", 1).await;
    eventually("the notification is disabled", || async {
        admin.get(&path).await.1["number_of_failures"] == 3
    })
    .await;
    eventually("the usage log says so", || async {
        logged(
            &s,
            "acme",
            "disable_repo_notification",
            json!({"notification_id": uuid}),
        )
        .await
    })
    .await;
    assert_eq!(hook.received().len(), 3, "three attempts");
    assert_eq!(queued(&s).await, 0, "its deliveries were dropped");
    // Disabled: a push queues nothing for it.
    s.push_image("acme/app", "two", 1).await;
    assert_eq!(queued(&s).await, 0);
    let (_, log) = admin.get(&format!("{path}/deliveries")).await;
    let entries = log["deliveries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(
        entries
            .iter()
            .all(|e| e["success"] == false && e["status"] == 500)
    );

    // Reset brings it back.
    hook.answer(Answer::Ok);
    let (status, _) = admin.post(&path, json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(admin.get(&path).await.1["number_of_failures"], 0);
    eventually("the reset is logged", || async {
        logged(
            &s,
            "acme",
            "reset_repo_notification",
            json!({"notification_id": uuid}),
        )
        .await
    })
    .await;
    s.push_image("acme/app", "three", 1).await;
    eventually("deliveries resume", || async { hook.received().len() == 4 }).await;
    assert_eq!(hook.received()[3].json()["updated_tags"], json!(["three"]));

    // Deleting removes it, and is logged.
    let (status, _) = admin.delete(&path).await;
    assert_eq!(status, 204);
    assert_eq!(admin.get(&path).await.0, 404);
    eventually("the delete is logged", || async {
        logged(
            &s,
            "acme",
            "delete_repo_notification",
            json!({"notification_id": uuid}),
        )
        .await
    })
    .await;
    let kinds: Vec<String> = usage_log(&s, "acme").await.into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"add_repo_notification".to_owned()));
}

#[tokio::test]
async fn in_app_notifications_can_be_read_and_dismissed() {
    let s = setup("").await;
    let admin = Caller::admin(&s);
    create(
        &s,
        "repo_push",
        "quay_notification",
        json!({"target": {"kind": "user", "name": "admin"}}),
        json!({}),
    )
    .await;
    s.push_image("acme/app", "inapp", 1).await;
    eventually("the in-app notification appears", || async {
        !admin.get("/user/notifications").await.1["notifications"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let (_, list) = admin.get("/user/notifications").await;
    let first = &list["notifications"][0];
    assert_eq!(first["kind"], "repo_push");
    assert_eq!(first["dismissed"], false);
    assert_eq!(first["organization"], "acme");
    assert_eq!(first["metadata"]["updated_tags"], json!(["inapp"]));
    let id = first["id"].as_str().unwrap();
    let (status, updated) = admin
        .put(&format!("/user/notifications/{id}"), json!({"dismissed": true}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["dismissed"], true);
    assert_eq!(
        admin.get(&format!("/user/notifications/{id}")).await.1["dismissed"],
        true
    );
    assert_eq!(
        admin
            .put("/user/notifications/nope", json!({"dismissed": true}))
            .await
            .0,
        404
    );
    let (status, _) = admin
        .post(
            "/repository/acme/app/notification/",
            json!({"event": "repo_push", "method": "quay_notification", "config": {"target": {"kind": "user", "name": "nobody"}}, "eventConfig": {}}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn quota_events_reach_the_namespaces_notifications() {
    let s = setup("FEATURE_SUPERUSERS_FULL_ACCESS: true\n").await;
    let hook = Receiver::start().await;
    let (status, n) = Caller::admin(&s)
        .post(
            "/organization/acme/notifications",
            json!({"event": "quota_warning", "method": "webhook", "config": {"url": hook.url()}, "eventConfig": {}}),
        )
        .await;
    assert_eq!(status, 201, "{n}");
    Caller::admin(&s)
        .post(
            "/organization/acme/notifications",
            json!({"event": "quota_error", "method": "webhook", "config": {"url": hook.url()}, "eventConfig": {}}),
        )
        .await;
    set_quota(&s, "acme", 20_000, &[("Warning", 50), ("Reject", 100)]).await;
    // Over the warning threshold: the push goes through and warns.
    pushed(&s, "acme/app", "big", &[&config(), &layer(12_000)]).await;
    eventually("the warning arrives", || async { hook.received().len() == 1 }).await;
    let warning = hook.received()[0].clone();
    assert_eq!(warning.header("x-berth-event").as_deref(), Some("quota_warning"));
    let body = warning.json();
    assert_eq!(body["namespace"], "acme");
    assert_eq!(body["threshold_percent"], 50);
    assert_eq!(body["limit_bytes"], 20_000);
    // Past the reject limit: refused, and the error is delivered.
    let (r, _) = push(&s, "acme/app", "bigger", &[&config(), &layer(12_000)]).await;
    assert_eq!(r.status(), 403);
    eventually("the error arrives", || async {
        hook.received()
            .iter()
            .any(|r| r.header("x-berth-event").as_deref() == Some("quota_error"))
    })
    .await;
}
