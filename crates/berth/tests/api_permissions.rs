//! `/api/v1` repository permissions of users, robots and teams: Quay's
//! shapes and status codes, who may do what, bad input, and that granted
//! roles take effect on `/v2` pushes and pulls.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;

use api_support::*;
use serde_json::json;

#[tokio::test]
async fn repository_user_permissions_grant_and_revoke_push_and_pull() {
    let s = setup(&["alice", "bob", "carol"]).await;
    put_team(&s, "devs", "member").await;
    add_member(&s, "devs", "carol").await;
    ok(&create_repo(&s, Admin, "acme", "app").await, 201);
    let base = "/repository/acme/app/permissions/user";
    let user = |name: &str| format!("{base}/{name}");

    let r = put(&s, Admin, &user("alice"), json!({ "role": "write" })).await;
    ok(&r, 200);
    let avatar = r.1["avatar"].clone();
    assert_eq!(
        r.1,
        json!({ "role": "write", "name": "alice", "is_robot": false, "avatar": avatar, "is_org_member": false })
    );
    ok(
        &put(&s, Admin, &user("bob"), json!({ "role": "read" })).await,
        200,
    );
    let r = put(&s, Admin, &user("carol"), json!({ "role": "read" })).await;
    assert_eq!(r.1["is_org_member"], true);

    let r = get(&s, Admin, &format!("{base}/")).await;
    ok(&r, 200);
    let map = r.1["permissions"].as_object().unwrap();
    assert_eq!(map.keys().collect::<Vec<_>>(), ["alice", "bob", "carol"]);
    assert_eq!(
        (&map["alice"]["role"], &map["bob"]["role"]),
        (&json!("write"), &json!("read"))
    );
    assert_eq!(
        (&map["bob"]["name"], &map["bob"]["is_robot"]),
        (&json!("bob"), &json!(false))
    );
    assert_eq!(map["bob"]["avatar"]["kind"], "user");
    assert_eq!(get(&s, Admin, &user("alice")).await.1["role"], "write");

    // The roles take effect on /v2.
    assert_eq!(push_as(&s, "alice", "acme/app").await, 201);
    assert_eq!(push_as(&s, "bob", "acme/app").await, 403);
    assert_eq!(pull_as(&s, "bob", "acme/app").await, 200);

    // Changing a role; bad input.
    assert_eq!(
        put(&s, Admin, &user("bob"), json!({ "role": "write" })).await.1["role"],
        "write"
    );
    assert_eq!(push_as(&s, "bob", "acme/app").await, 201);
    for body in [json!({ "role": "owner" }), json!({}), json!({ "role": null })] {
        refused(&put(&s, Admin, &user("bob"), body).await, BAD);
    }
    refused(&put_raw(&s, &user("bob"), "[").await, BAD);
    for who in ["nobody", "acme"] {
        refused(&put(&s, Admin, &user(who), json!({ "role": "read" })).await, BAD);
    }
    refused(&get(&s, Admin, &user("nobody")).await, BAD);
    // The owner of a user namespace is always admin there.
    ok(&create_repo(&s, ALICE, "alice", "mine").await, 201);
    let mine = "/repository/alice/mine/permissions/user/";
    refused(
        &put(&s, ALICE, &format!("{mine}alice"), json!({ "role": "read" })).await,
        BAD,
    );
    let r = get(&s, ALICE, mine).await;
    ok(&r, 200);
    assert_eq!(r.1["permissions"], json!({}));

    // Transitive: own role and team roles.
    let devs = "/repository/acme/app/permissions/team/devs";
    ok(&put(&s, Admin, devs, json!({ "role": "admin" })).await, 200);
    let r = get(&s, Admin, &format!("{base}/carol/transitive")).await;
    ok(&r, 200);
    let perms = r.1["permissions"].as_array().unwrap();
    let mut roles: Vec<&str> = perms.iter().map(|p| p["role"].as_str().unwrap()).collect();
    roles.sort();
    assert_eq!(roles, ["admin", "read"]);
    let r = get(&s, Admin, &format!("{base}/alice/transitive")).await;
    assert_eq!(r.1, json!({ "permissions": [{ "role": "write" }] }));
    for who in ["nobody", "admin"] {
        refused(
            &get(&s, Admin, &format!("{base}/{who}/transitive")).await,
            NOT_FOUND,
        );
    }

    // Only repository admins; carol is one through her team.
    for (who, refusal) in [(ALICE, FORBIDDEN), (Anon, UNAUTHENTICATED)] {
        refused(&get(&s, who, &format!("{base}/")).await, refusal);
        refused(&get(&s, who, &user("bob")).await, refusal);
        refused(
            &put(&s, who, &user("bob"), json!({ "role": "admin" })).await,
            refusal,
        );
        refused(&del(&s, who, &user("bob")).await, refusal);
        refused(&get(&s, who, &format!("{base}/bob/transitive")).await, refusal);
    }
    ok(&get(&s, CAROL, &format!("{base}/")).await, 200);
    refused(
        &get(&s, Admin, "/repository/acme/nosuch/permissions/user/").await,
        FORBIDDEN,
    );

    // Revoking.
    ok(&del(&s, Admin, &user("bob")).await, 204);
    refused(&del(&s, Admin, &user("bob")).await, BAD);
    refused(&get(&s, Admin, &user("bob")).await, BAD);
    assert_eq!(push_as(&s, "bob", "acme/app").await, 403);
    assert_eq!(pull_as(&s, "bob", "acme/app").await, 403);
}

#[tokio::test]
async fn repository_team_permissions_apply_to_team_members() {
    let s = setup(&["alice"]).await;
    put_team(&s, "devs", "member").await;
    add_member(&s, "devs", "alice").await;
    ok(&create_repo(&s, Admin, "acme", "app").await, 201);
    let base = "/repository/acme/app/permissions/team";
    let devs = format!("{base}/devs");

    assert_eq!(push_as(&s, "alice", "acme/app").await, 403);
    let r = put(&s, Admin, &devs, json!({ "role": "write" })).await;
    ok(&r, 200);
    assert_eq!((&r.1["role"], &r.1["name"]), (&json!("write"), &json!("devs")));
    assert_eq!(r.1["avatar"]["kind"], "team");
    assert_eq!(push_as(&s, "alice", "acme/app").await, 201);

    let r = get(&s, Admin, &format!("{base}/")).await;
    ok(&r, 200);
    assert_eq!(r.1["permissions"].as_object().unwrap().len(), 1);
    assert_eq!(r.1["permissions"]["devs"]["role"], "write");
    assert_eq!(r.1["permissions"]["devs"]["name"], "devs");
    assert_eq!(get(&s, Admin, &devs).await.1["role"], "write");

    // The team's own listing of its repositories.
    let listing = "/organization/acme/team/devs/permissions";
    let r = get(&s, Admin, listing).await;
    ok(&r, 200);
    let expected = json!([{ "repository": { "name": "app", "is_public": false }, "role": "write" }]);
    assert_eq!(r.1["permissions"], expected);
    refused(&get(&s, ALICE, listing).await, FORBIDDEN);
    refused(&get(&s, Anon, listing).await, UNAUTHENTICATED);
    refused(
        &get(&s, Admin, "/organization/acme/team/nosuch/permissions").await,
        NOT_FOUND,
    );
    let org = get(&s, Admin, "/organization/acme").await.1;
    assert_eq!(
        (
            &org["teams"]["devs"]["repo_count"],
            &org["teams"]["devs"]["member_count"]
        ),
        (&json!(1), &json!(1))
    );

    // Bad input: unknown team, a team of another organization, bad role.
    create_org(&s, "other").await;
    ok(
        &put(
            &s,
            Admin,
            "/organization/other/team/outsiders",
            json!({ "role": "member" }),
        )
        .await,
        200,
    );
    for team in ["nosuch", "outsiders"] {
        refused(
            &put(&s, Admin, &format!("{base}/{team}"), json!({ "role": "read" })).await,
            BAD,
        );
    }
    refused(&put(&s, Admin, &devs, json!({ "role": "root" })).await, BAD);
    refused(&put_raw(&s, &devs, "role=read").await, BAD);
    refused(&get(&s, Admin, &format!("{base}/owners")).await, BAD);
    // Teams exist only in organizations.
    ok(&create_repo(&s, Admin, "admin", "solo").await, 201);
    let solo = "/repository/admin/solo/permissions/team/devs";
    refused(&put(&s, Admin, solo, json!({ "role": "read" })).await, BAD);

    // Only repository admins.
    for (who, refusal) in [(ALICE, FORBIDDEN), (Anon, UNAUTHENTICATED)] {
        refused(&get(&s, who, &format!("{base}/")).await, refusal);
        refused(&get(&s, who, &devs).await, refusal);
        refused(&put(&s, who, &devs, json!({ "role": "admin" })).await, refusal);
        refused(&del(&s, who, &devs).await, refusal);
    }

    // Revoking.
    ok(&del(&s, Admin, &devs).await, 204);
    refused(&del(&s, Admin, &devs).await, BAD);
    assert_eq!(push_as(&s, "alice", "acme/app").await, 403);
    assert_eq!(get(&s, Admin, listing).await.1, json!({ "permissions": [] }));
}
