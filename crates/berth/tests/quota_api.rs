//! The quota API in Quay's shapes: quotas and limits of organizations,
//! user quotas, the superuser endpoints; bad input is a 400, and who may
//! read and change quotas follows Quay (members read, superusers with full
//! access change, any superuser through `/superuser`). Every change is in
//! the usage log.
#![allow(clippy::unwrap_used)]

mod common;

use common::Server;
use common::quota::{Caller, FULL_ACCESS, audit, create_org};
use serde_json::{Value, json};

/// The one quota of a namespace listed at `base`: its id.
async fn only_quota(admin: &Caller<'_>, base: &str) -> i64 {
    let (status, list) = admin.get(base).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    list[0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn quotas_and_limits_have_quays_shapes_and_refuse_bad_input() {
    let s = Server::start_with_config(FULL_ACCESS).await;
    let admin = Caller::admin(&s);
    create_org(&s, "shapes").await;
    let base = "/organization/shapes/quota";
    assert_eq!(admin.get(base).await, (200, json!([])));

    for bad in [
        json!({ "limit": "12 parsecs" }),
        json!({ "limit": "1.5 GiB" }),
        json!({ "limit": "GiB" }),
        json!({ "limit": "9 ZiB" }),
        json!({ "limit_bytes": 0 }),
        json!({ "limit_bytes": -5 }),
        json!({ "limit_bytes": 1, "limit": "1 K" }),
        json!({}),
        json!({ "limit_bytes": "many" }),
        json!({ "limits": 5 }),
    ] {
        let (status, err) = admin.post(base, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert_eq!(err["error_type"], "invalid_request");
    }
    assert_eq!(
        admin.post(base, json!({ "limit": "10 GiB" })).await,
        (201, json!("Created"))
    );
    let (status, err) = admin.post(base, json!({ "limit_bytes": 5 })).await;
    assert_eq!(status, 400);
    assert_eq!(err["detail"], "Organization quota for 'shapes' already exists");

    let id = only_quota(&admin, base).await;
    let view = json!({
        "id": id,
        "limit_bytes": 10u64 << 30,
        "limit": "10.0 GiB",
        "default_config": false,
        "limits": [],
        "default_config_exists": false,
        "quota_report": {
            "quota_bytes": 0,
            "configured_quota": 10u64 << 30,
            "running_backfill": "complete",
            "backfill_status": "complete",
        },
    });
    assert_eq!(admin.get(base).await, (200, json!([view.clone()])));
    let quota = format!("{base}/{id}");
    assert_eq!(admin.get(&quota).await, (200, view));
    for missing in ["abc", "999999"] {
        assert_eq!(admin.get(&format!("{base}/{missing}")).await.0, 404);
    }

    // Limits.
    let limits = format!("{quota}/limit");
    let warning = json!({ "type": "Warning", "threshold_percent": 80 });
    assert_eq!(
        admin.post(&limits, warning.clone()).await,
        (201, json!("Created"))
    );
    let (status, err) = admin.post(&limits, warning).await;
    assert_eq!(
        (status, &err["detail"]),
        (400, &json!("Quota limit already exists"))
    );
    for bad in [
        json!({ "type": "Warning", "threshold_percent": 0 }),
        json!({ "type": "Warning", "threshold_percent": 101 }),
        json!({ "type": "Panic", "threshold_percent": 50 }),
        json!({ "type": "Reject" }),
        json!({ "threshold_percent": 50 }),
    ] {
        let (status, err) = admin.post(&limits, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {err}");
    }
    let reject = json!({ "type": "Reject", "threshold_percent": 100 });
    assert_eq!(admin.post(&limits, reject.clone()).await.0, 201);
    let (status, list) = admin.get(&limits).await;
    assert_eq!(status, 200);
    let (warning_id, reject_id) = (list[0]["id"].as_i64().unwrap(), list[1]["id"].as_i64().unwrap());
    let reject_view = json!({ "id": reject_id, "type": "Reject", "limit_percent": 100 });
    assert_eq!(
        list,
        json!([{ "id": warning_id, "type": "Warning", "limit_percent": 80 }, reject_view])
    );
    assert_eq!(
        admin.get(&format!("{limits}/{reject_id}")).await,
        (200, reject_view)
    );
    assert_eq!(admin.get(&format!("{limits}/999999")).await.0, 404);
    let warning = format!("{limits}/{warning_id}");
    let (status, changed) = admin.put(&warning, json!({ "threshold_percent": 90 })).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        changed["limits"][0],
        json!({ "id": warning_id, "type": "Warning", "limit_percent": 90 })
    );
    let (status, err) = admin.put(&warning, reject).await;
    assert_eq!(
        (status, &err["detail"]),
        (400, &json!("Quota limit already exists"))
    );
    assert_eq!(
        admin.put(&warning, json!({ "threshold_percent": 101 })).await.0,
        400
    );

    // Changing the quota.
    let (status, changed) = admin.put(&quota, json!({ "limit_bytes": 2048 })).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&changed["limit_bytes"], &changed["limit"]),
        (&json!(2048), &json!("2.0 KiB"))
    );
    assert_eq!(changed["limits"].as_array().unwrap().len(), 2);
    let (status, same) = admin.put(&quota, json!({})).await;
    assert_eq!((status, &same["limit_bytes"]), (200, &json!(2048)));
    let (status, changed) = admin.put(&quota, json!({ "limit": "3 MB" })).await;
    assert_eq!((status, &changed["limit_bytes"]), (200, &json!(3_000_000)));
    assert_eq!(admin.put(&quota, json!({ "limit": "lots" })).await.0, 400);

    // Deleting.
    assert_eq!(admin.delete(&warning).await.0, 204);
    assert_eq!(admin.get(&warning).await.0, 404);
    assert_eq!(admin.delete(&warning).await.0, 404);
    assert_eq!(admin.delete(&quota).await.0, 204);
    assert_eq!(admin.get(base).await, (200, json!([])));
    assert_eq!(admin.delete(&quota).await.0, 404);
    assert_eq!(admin.get(&limits).await.0, 404);

    // Every change is in the usage log.
    let kinds: Vec<String> = audit(&s, "shapes").await.into_iter().map(|(k, _)| k).collect();
    for kind in [
        "org_create_quota",
        "org_change_quota",
        "org_delete_quota",
        "org_create_quota_limit",
        "org_change_quota_limit",
        "org_delete_quota_limit",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn members_read_quotas_and_only_superusers_change_them() {
    let s = Server::start_with_config(FULL_ACCESS).await;
    let admin = Caller::admin(&s);
    let carol = Caller::user(&s, "carol");
    let dave = Caller::user(&s, "dave");
    let anonymous = Caller::anonymous(&s);
    assert_eq!(
        carol
            .post("/organization/", json!({ "name": "carolorg" }))
            .await
            .0,
        201
    );
    let base = "/organization/carolorg/quota";
    assert_eq!(admin.post(base, json!({ "limit": "1 GiB" })).await.0, 201);
    let id = only_quota(&admin, base).await;
    let quota = format!("{base}/{id}");
    assert_eq!(
        admin
            .post(
                &format!("{quota}/limit"),
                json!({ "type": "Reject", "threshold_percent": 100 })
            )
            .await
            .0,
        201
    );
    let limit = format!(
        "{quota}/limit/{}",
        admin.get(&format!("{quota}/limit")).await.1[0]["id"]
    );

    // Members (carol owns the organization) read; others do not; the
    // anonymous caller must log in.
    for path in [
        base.to_owned(),
        quota.clone(),
        format!("{quota}/limit"),
        limit.clone(),
    ] {
        assert_eq!(carol.get(&path).await.0, 200, "{path}");
        let (status, err) = dave.get(&path).await;
        assert_eq!(
            (status, &err["error_type"]),
            (403, &json!("insufficient_scope")),
            "{path}"
        );
        assert_eq!(anonymous.get(&path).await.0, 401, "{path}");
    }
    // Superusers learn a namespace does not exist; others do not.
    assert_eq!(admin.get("/organization/nobody/quota").await.0, 404);
    assert_eq!(dave.get("/organization/nobody/quota").await.0, 403);

    // Only superusers change, even the organization's owner.
    let size = json!({ "limit": "2 GiB" });
    for (caller, expected) in [(&carol, 403), (&dave, 403), (&anonymous, 401)] {
        assert_eq!(caller.post(base, size.clone()).await.0, expected);
        assert_eq!(caller.put(&quota, size.clone()).await.0, expected);
        assert_eq!(
            caller
                .post(
                    &format!("{quota}/limit"),
                    json!({ "type": "Warning", "threshold_percent": 5 })
                )
                .await
                .0,
            expected
        );
        assert_eq!(
            caller.put(&limit, json!({ "threshold_percent": 5 })).await.0,
            expected
        );
        assert_eq!(caller.delete(&limit).await.0, expected);
        assert_eq!(caller.delete(&quota).await.0, expected);
        assert_eq!(
            caller.get("/superuser/organization/carolorg/quota").await.0,
            expected
        );
        assert_eq!(
            caller.post("/superuser/users/carol/quota", size.clone()).await.0,
            expected
        );
    }
    assert_eq!(
        admin.get(&quota).await.1["limit_bytes"],
        1u64 << 30,
        "nothing changed"
    );
    assert_eq!(anonymous.get("/user/quota").await.0, 401);

    // A user's quota, set by a superuser, is readable by that user only.
    assert_eq!(
        admin
            .post("/superuser/users/carol/quota", json!({ "limit_bytes": 1 << 20 }))
            .await
            .0,
        201
    );
    let (status, own) = carol.get("/user/quota").await;
    assert_eq!(status, 200);
    assert_eq!(own[0]["limit_bytes"], 1 << 20);
    let carol_quota = own[0]["id"].as_i64().unwrap();
    assert_eq!(
        carol.get(&format!("/user/quota/{carol_quota}")).await,
        (200, own[0].clone())
    );
    assert_eq!(
        carol.get(&format!("/user/quota/{carol_quota}/limit")).await,
        (200, json!([]))
    );
    assert_eq!(
        carol.get(&format!("/user/quota/{carol_quota}/limit/1")).await.0,
        404
    );
    assert_eq!(dave.get("/user/quota").await, (200, json!([])));
    assert_eq!(dave.get(&format!("/user/quota/{carol_quota}")).await.0, 404);
    assert_eq!(admin.get("/superuser/users/nobody/quota").await.0, 404);
    let logged = audit(&s, "carol").await;
    assert!(
        logged
            .iter()
            .any(|(k, m): &(String, Value)| k == "org_create_quota" && m["limit_bytes"] == 1 << 20),
        "{logged:?}"
    );
}

#[tokio::test]
async fn superusers_without_full_access_use_the_superuser_endpoints() {
    let s = Server::start_with_config("FEATURE_SECURITY_SCANNER: false\n").await;
    let admin = Caller::admin(&s);
    create_org(&s, "plain").await;
    let size = json!({ "limit_bytes": 1 << 20 });
    assert_eq!(admin.post("/organization/plain/quota", size.clone()).await.0, 403);
    let su = "/superuser/organization/plain/quota";
    assert_eq!(admin.post(su, size).await, (201, json!("Created")));
    // Superusers read every namespace's quota.
    let (status, list) = admin.get("/organization/plain/quota").await;
    assert_eq!(status, 200);
    assert_eq!(admin.get(su).await, (200, list.clone()));
    let id = list[0]["id"].as_i64().unwrap();
    let limit = json!({ "type": "Reject", "threshold_percent": 100 });
    let (status, _) = admin
        .post(&format!("/organization/plain/quota/{id}/limit"), limit)
        .await;
    assert_eq!(status, 403, "limits need full access, as in Quay");
    let (status, view) = admin
        .put(&format!("{su}/{id}"), json!({ "limit": "2 MiB" }))
        .await;
    assert_eq!((status, &view["limit"]), (200, &json!("2.0 MiB")));
    assert_eq!(admin.delete(&format!("{su}/{id}")).await.0, 204);
    assert_eq!(admin.get("/organization/plain/quota").await, (200, json!([])));
    // The users path takes user namespaces (and, as in Quay, any other).
    assert_eq!(
        admin
            .post("/superuser/users/admin/quota", json!({ "limit": "5 G" }))
            .await
            .0,
        201
    );
    let (status, own) = admin.get("/user/quota").await;
    assert_eq!((status, &own[0]["limit_bytes"]), (200, &json!(5_000_000_000u64)));

    // The endpoints are in the OpenAPI document under Quay's nicknames.
    let (_, doc) = Caller::anonymous(&s).get("/discovery").await;
    for (path, method, nickname) in [
        ("/organization/{orgname}/quota", "get", "listOrganizationQuota"),
        (
            "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
            "put",
            "changeOrganizationQuotaLimit",
        ),
        (
            "/user/quota/{quota_id}/limit/{limit_id}",
            "get",
            "getUserQuotaLimit",
        ),
        (
            "/superuser/users/{namespace}/quota",
            "post",
            "createUserQuotaSuperUser",
        ),
        (
            "/superuser/organization/{namespace}/quota/{quota_id}",
            "delete",
            "deleteOrganizationQuotaSuperUser",
        ),
    ] {
        assert_eq!(doc["paths"][path][method]["operationId"], nickname, "{path}");
    }
}
