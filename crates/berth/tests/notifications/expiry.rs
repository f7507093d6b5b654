//! `repo_image_expiry`: tags with a planned expiry, and tags an auto-prune
//! policy will prune, within the notification's days are announced once
//! each, to that notification alone, however often the scan runs.

use std::collections::BTreeSet;

use common::api::now_s;
use common::quota::Caller;
use common::receiver::Receiver;
use common::{Server, eventually};
use serde_json::{Value, json};

use super::{common, create, setup};

/// Scans every second, each notification on every scan.
const EVERY_SECOND: &str = "AUTO_PRUNING_POLL_PERIOD: 1\n\
    NOTIFICATION_TASK_RUN_MINIMUM_INTERVAL_MINUTES: 0\n";

async fn expire_in(s: &Server, tag: &str, days: i64) {
    let (status, body) = Caller::admin(s)
        .put(
            &format!("/repository/acme/app/tag/{tag}"),
            json!({"expiration": now_s() + days * 86_400}),
        )
        .await;
    assert!(status < 300, "{status} {body}");
}

/// The tags of each delivery, in order.
fn announced(hook: &Receiver) -> Vec<BTreeSet<String>> {
    hook.received()
        .iter()
        .map(|r| {
            r.json()["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn set(tags: &[&str]) -> BTreeSet<String> {
    tags.iter().map(|t| (*t).to_owned()).collect()
}

#[tokio::test]
async fn tags_about_to_expire_are_announced_once_each() {
    let s = setup(EVERY_SECOND).await;
    for tag in ["a", "b", "c"] {
        s.push_image("acme/app", tag, 1).await;
    }
    expire_in(&s, "a", 2).await;
    expire_in(&s, "b", 30).await;
    let hook = Receiver::start().await;
    let n = create(
        &s,
        "repo_image_expiry",
        "webhook",
        json!({"url": hook.url()}),
        json!({"days": 7}),
    )
    .await;
    let uuid = n["uuid"].as_str().unwrap().to_owned();
    // A second notification of another event must not receive it.
    let push_hook = Receiver::start().await;
    create(
        &s,
        "repo_push",
        "webhook",
        json!({"url": push_hook.url()}),
        json!({}),
    )
    .await;

    eventually("the tag expiring in 2 days is announced", || async {
        !hook.received().is_empty()
    })
    .await;
    let first = hook.received()[0].json();
    assert_eq!(first["repository"], "acme/app", "{first}");
    assert_eq!(first["expiring_in"], "7 days", "{first}");
    assert_eq!(first["notification_uuid"], Value::String(uuid.clone()), "{first}");
    assert_eq!(
        hook.received()[0].header("x-berth-event").as_deref(),
        Some("repo_image_expiry")
    );
    assert_eq!(announced(&hook), [set(&["a"])], "b expires in 30 days, c never");

    // Several more scans announce nothing again.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(announced(&hook).len(), 1, "each tag is announced once");

    // A policy pruning tags 5 days after creation brings base, b and c
    // within 7 days.
    let (status, body) = Caller::admin(&s)
        .post(
            "/repository/acme/app/autoprunepolicy/",
            json!({"method": "creation_date", "value": "5d"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    eventually("the tags the policy will prune are announced", || async {
        announced(&hook).len() == 2
    })
    .await;
    assert_eq!(announced(&hook)[1], set(&["b", "base", "c"]));

    // A tag pushed again is a new tag row: announced again once it expires soon.
    s.push_image("acme/app", "a", 2).await;
    eventually("the re-pushed tag is announced", || async {
        announced(&hook).len() == 3
    })
    .await;
    assert_eq!(announced(&hook)[2], set(&["a"]));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(announced(&hook).len(), 3, "nothing more");
    assert!(
        push_hook
            .received()
            .iter()
            .all(|r| r.json().get("expiring_in").is_none()),
        "other notifications get no expiry event"
    );
}

#[tokio::test]
async fn the_trigger_can_be_turned_off() {
    let s = setup(&format!("{EVERY_SECOND}FEATURE_IMAGE_EXPIRY_TRIGGER: false\n")).await;
    expire_in(&s, "base", 1).await;
    let hook = Receiver::start().await;
    create(
        &s,
        "repo_image_expiry",
        "webhook",
        json!({"url": hook.url()}),
        json!({"days": 7}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert!(hook.received().is_empty(), "no scan runs with the trigger off");
}
