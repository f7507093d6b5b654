//! What a notification refuses: hostile receivers, loopback targets that are
//! not allowed, and bad input.

use super::*;

#[tokio::test]
async fn hostile_receivers_fail_cleanly_and_redirects_are_not_followed() {
    let s = setup("").await;
    let admin = Caller::admin(&s);
    for (answer, expected) in [
        (Answer::RedirectToPrivate, "302"),
        (Answer::Hang, "timed out"),
        (Answer::Endless, ""),
    ] {
        let hook = Receiver::start().await;
        hook.answer(answer);
        let n = create(&s, "repo_push", "webhook", json!({"url": hook.url()}), json!({})).await;
        let uuid = n["uuid"].as_str().unwrap();
        admin
            .post(
                &format!("/repository/acme/app/notification/{uuid}/test"),
                json!({}),
            )
            .await;
        let path = format!("/repository/acme/app/notification/{uuid}/deliveries");
        eventually("the attempt is logged", || async {
            !admin.get(&path).await.1["deliveries"]
                .as_array()
                .unwrap()
                .is_empty()
        })
        .await;
        let (_, log) = admin.get(&path).await;
        let first = &log["deliveries"][0];
        if answer == Answer::Endless {
            // A 200 whose body never ends is a delivery; only a bounded
            // prefix of it was read.
            assert_eq!(first["success"], true, "{first}");
        } else {
            assert_eq!(first["success"], false, "{first}");
            let text = format!("{}{}", first["status"], first["error"]);
            assert!(text.contains(expected), "{first}");
        }
        // The redirect target was never contacted: only the receiver was.
        assert!(hook.received().len() <= 2);
        let (status, _) = admin
            .delete(&format!("/repository/acme/app/notification/{uuid}"))
            .await;
        assert_eq!(status, 204);
    }
    // The server is still serving.
    s.push_image("acme/app", "after", 1).await;
}

#[tokio::test]
async fn loopback_targets_are_refused_unless_allowed_and_input_is_checked() {
    let s = Server::start_with_config(
        "FEATURE_SECURITY_SCANNER: false\nDATABASE_SECRET_KEY: notification-test-key-0123456789\n",
    )
    .await;
    create_org(&s, "acme").await;
    s.push_image("acme/app", "base", 1).await;
    let admin = Caller::admin(&s);
    let post = |body: Value| {
        let admin = &admin;
        async move { admin.post("/repository/acme/app/notification/", body).await }
    };
    for url in [
        "http://127.0.0.1:9/hook",
        "http://[::1]:9/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest",
        "http://localhost/",
    ] {
        let (status, body) = post(
            json!({"event": "repo_push", "method": "webhook", "config": {"url": url}, "eventConfig": {}}),
        )
        .await;
        // `localhost` resolves only at delivery; its refusal is checked below.
        if url == "http://localhost/" {
            assert_eq!(status, 201, "{body}");
            continue;
        }
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("SSRF_ALLOWED_HOSTS"),
            "{body}"
        );
    }
    let bad = [
        json!({"event": "no_such_event", "method": "webhook", "config": {"url": "https://example.com/"}, "eventConfig": {}}),
        json!({"event": "repo_push", "method": "carrier_pigeon", "config": {}, "eventConfig": {}}),
        json!({"event": "repo_push", "method": "webhook", "config": {}, "eventConfig": {}}),
        json!({"event": "repo_push", "method": "email", "config": {"email": "not an address"}, "eventConfig": {}}),
        json!({"event": "repo_image_expiry", "method": "webhook", "config": {"url": "https://example.com/"}, "eventConfig": {}}),
        json!({"event": "vulnerability_found", "method": "webhook", "config": {"url": "https://example.com/"}, "eventConfig": {"level": 9}}),
        json!({"event": "quota_error", "method": "webhook", "config": {"url": "https://example.com/"}, "eventConfig": {}}),
        json!({"event": "repo_push", "method": "webhook", "config": {"url": "https://example.com/"}}),
        json!({"event": "repo_push", "method": "webhook", "config": {"url": "https://example.com/"}, "eventConfig": {}, "extra": 1}),
    ];
    for body in bad {
        let (status, answer) = post(body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error_type"], "invalid_request", "{answer}");
    }
    // The localhost webhook fails at delivery: it resolves to loopback.
    let (_, list) = admin.get("/repository/acme/app/notification/").await;
    let uuid = list["notifications"][0]["uuid"].as_str().unwrap().to_owned();
    admin
        .post(
            &format!("/repository/acme/app/notification/{uuid}/test"),
            json!({}),
        )
        .await;
    let path = format!("/repository/acme/app/notification/{uuid}/deliveries");
    eventually("the refusal is logged", || async {
        !admin.get(&path).await.1["deliveries"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let (_, log) = admin.get(&path).await;
    assert!(
        log["deliveries"][0]["error"]
            .as_str()
            .unwrap()
            .contains("SSRF_ALLOWED_HOSTS"),
        "{log}"
    );

    // Only administrators of the repository manage its notifications.
    let user = Caller::user(&s, "mallory");
    assert_eq!(user.get("/repository/acme/app/notification/").await.0, 403);
    assert_eq!(
        Caller::anonymous(&s)
            .get("/repository/acme/app/notification/")
            .await
            .0,
        401
    );
    assert_eq!(
        admin
            .get("/repository/acme/app/notification/no-such-uuid")
            .await
            .0,
        404
    );
}
