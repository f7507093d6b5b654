//! The methods on real receivers: e-mail through a real SMTP server, Slack's
//! message shape, and the test endpoint's sample of every event.

use super::*;

/// A real SMTP server (aiosmtpd) on loopback, keeping mail in a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Smtp {
    fn start() -> Smtp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = tempfile::tempdir().unwrap();
        // Debian's interpreter, where python3-aiosmtpd installs the module.
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/python3 -m aiosmtpd (Debian's python3-aiosmtpd)");
        Smtp { child, port, maildir }
    }

    /// Every message received, as text.
    fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail/new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn e_mail_and_slack_reach_real_receivers() {
    let smtp = Smtp::start();
    let s = setup(&format!(
        "MAIL_SERVER: 127.0.0.1\nMAIL_PORT: {}\nMAIL_USE_TLS: false\nMAIL_DEFAULT_SENDER: registry@example.com\n",
        smtp.port
    ))
    .await;
    let slack = Receiver::start().await;
    create(
        &s,
        "repo_push",
        "email",
        json!({"email": "team@example.com"}),
        json!({}),
    )
    .await;
    create(&s, "repo_push", "slack", json!({"url": slack.url()}), json!({})).await;
    s.push_image("acme/app", "release-1", 1).await;

    eventually("the e-mail arrives", || async { smtp.messages().len() == 1 }).await;
    let mail = smtp.messages().remove(0);
    assert!(mail.contains("To: team@example.com"), "{mail}");
    assert!(mail.contains("From: registry@example.com"), "{mail}");
    let subject = mail.lines().find(|l| l.starts_with("Subject:")).unwrap();
    assert!(
        subject.contains("acme/app") && subject.contains("release-1"),
        "{subject}"
    );
    assert!(mail.contains("updated_tags: release-1"), "{mail}");
    assert!(mail.contains("repository: acme/app"), "{mail}");

    eventually("the Slack message arrives", || async {
        slack.received().len() == 1
    })
    .await;
    let msg = slack.received()[0].json();
    assert_eq!(msg["text"], "Repository acme/app updated with tags release-1");
    let attachment = &msg["attachments"][0];
    assert_eq!(attachment["color"], "#ffffff");
    assert_eq!(attachment["mrkdwn_in"], json!(["text"]));
    assert!(
        attachment["text"]
            .as_str()
            .unwrap()
            .contains("/repository/acme/app|")
    );
    assert!(attachment["fallback"].is_string());
}

#[tokio::test]
async fn the_test_endpoint_delivers_a_sample_of_every_event() {
    let s = setup("").await;
    let hook = Receiver::start().await;
    let repo_events = [
        ("repo_push", json!({})),
        ("vulnerability_found", json!({"level": 0})),
        ("repo_mirror_sync_started", json!({})),
        ("repo_mirror_sync_success", json!({})),
        ("repo_mirror_sync_failed", json!({})),
        ("repo_image_expiry", json!({"days": 7})),
    ];
    let admin = Caller::admin(&s);
    for (event, event_config) in &repo_events {
        let n = create(
            &s,
            event,
            "webhook",
            json!({"url": hook.url()}),
            event_config.clone(),
        )
        .await;
        let uuid = n["uuid"].as_str().unwrap();
        let (status, body) = admin
            .post(
                &format!("/repository/acme/app/notification/{uuid}/test"),
                json!({}),
            )
            .await;
        assert_eq!((status, body), (200, json!({})));
    }
    for event in ["quota_warning", "quota_error"] {
        let (status, n) = admin
            .post(
                "/organization/acme/notifications",
                json!({"event": event, "method": "webhook", "config": {"url": hook.url()}, "eventConfig": {}}),
            )
            .await;
        assert_eq!(status, 201, "{n}");
        let uuid = n["uuid"].as_str().unwrap();
        let (status, _) = admin
            .post(
                &format!("/organization/acme/notifications/{uuid}/test"),
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
    }
    eventually("every sample arrives", || async { hook.received().len() == 8 }).await;
    let by_event = |event: &str| {
        hook.received()
            .into_iter()
            .find(|r| r.header("x-berth-event").as_deref() == Some(event))
            .unwrap_or_else(|| panic!("no {event}"))
            .json()
    };
    assert_eq!(by_event("repo_push")["updated_tags"], json!(["latest", "foo"]));
    let vuln = by_event("vulnerability_found");
    assert_eq!(vuln["vulnerability"]["priority"], "Critical");
    assert_eq!(vuln["repository"], "acme/app");
    for event in [
        "repo_mirror_sync_started",
        "repo_mirror_sync_success",
        "repo_mirror_sync_failed",
    ] {
        assert!(by_event(event)["message"].is_string());
    }
    assert_eq!(by_event("repo_image_expiry")["expiring_in"], "7 days");
    let quota = by_event("quota_warning");
    assert_eq!(quota["namespace"], "acme");
    for key in [
        "threshold_percent",
        "usage_bytes",
        "limit_bytes",
        "usage_percent",
        "usage_bytes_formatted",
        "limit_bytes_formatted",
    ] {
        assert!(quota.get(key).is_some(), "{key} in {quota}");
    }
    assert_eq!(by_event("quota_error")["threshold_percent"], 100);

    // Quota events belong to namespaces, push events to repositories.
    let (status, _) = admin
        .post(
            "/organization/acme/notifications",
            json!({"event": "repo_push", "method": "webhook", "config": {"url": hook.url()}, "eventConfig": {}}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, list) = admin.get("/organization/acme/notifications").await;
    assert_eq!(status, 200);
    assert_eq!(list["notifications"].as_array().unwrap().len(), 2);
}
