//! `/api/v1` organizations and teams: Quay's shapes and status codes, who
//! may do what, bad input, the last-owner rule, and that team roles decide
//! who may create repositories.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;

use api_support::*;
use common::Server;
use serde_json::{Value, json};

#[tokio::test]
async fn organization_details_change_with_quay_shapes_and_checks() {
    let s = setup(&["alice"]).await;
    let org = "/organization/acme";
    let r = put(
        &s,
        Admin,
        org,
        json!({
            "email": "ops@acme.example",
            "invoice_email": true,
            "invoice_email_address": "billing@acme.example",
            "tag_expiration_s": 86400,
        }),
    )
    .await;
    ok(&r, 200);
    assert_eq!(r.1["name"], "acme");
    assert_eq!(r.1["email"], "ops@acme.example");
    assert_eq!(r.1["invoice_email"], true);
    assert_eq!(r.1["invoice_email_address"], "billing@acme.example");
    assert_eq!(r.1["tag_expiration_s"], 86400);
    assert_eq!(r.1["is_admin"], true);
    assert!(r.1["teams"]["owners"].is_object(), "{}", r.1);

    // Absent fields stay; null clears the invoice address.
    let r = put(&s, Admin, org, json!({ "invoice_email_address": null })).await;
    ok(&r, 200);
    assert_eq!(r.1["email"], "ops@acme.example");
    assert_eq!(r.1["invoice_email"], true);
    assert_eq!(r.1["invoice_email_address"], Value::Null);
    let got = get(&s, Admin, org).await.1;
    assert_eq!(
        (&got["tag_expiration_s"], &got["email"]),
        (&json!(86400), &json!("ops@acme.example"))
    );

    // Only configured time-machine windows; well-formed JSON.
    for bad in [json!(12345), json!(-1), json!("1d")] {
        refused(
            &put(&s, Admin, org, json!({ "tag_expiration_s": bad })).await,
            BAD,
        );
    }
    refused(&put_raw(&s, org, "{\"email\": ").await, BAD);

    // Admins only; organizations only.
    let body = json!({ "email": "x@y.example" });
    refused(&put(&s, ALICE, org, body.clone()).await, FORBIDDEN);
    refused(&put(&s, Anon, org, body.clone()).await, UNAUTHENTICATED);
    refused(
        &put(&s, ALICE, "/organization/alice", body.clone()).await,
        NOT_FOUND,
    );
    refused(&put(&s, Admin, "/organization/nosuch", body).await, NOT_FOUND);
    assert_eq!(get(&s, Admin, org).await.1["email"], "ops@acme.example");
}

#[tokio::test]
async fn organization_delete_refused_while_it_holds_repositories() {
    let s = setup(&["alice"]).await;
    create_org(&s, "empty-org").await;
    ok(&create_repo(&s, Admin, "acme", "app").await, 201);

    refused(&del(&s, ALICE, "/organization/acme").await, FORBIDDEN);
    refused(&del(&s, Anon, "/organization/acme").await, UNAUTHENTICATED);
    refused(&del(&s, ALICE, "/organization/alice").await, NOT_FOUND);
    let r = del(&s, Admin, "/organization/acme").await;
    refused(&r, BAD);
    assert!(
        r.1["detail"].as_str().unwrap().contains("repositories"),
        "{}",
        r.1
    );
    ok(&get(&s, Admin, "/organization/acme").await, 200);

    ok(&del(&s, Admin, "/organization/empty-org").await, 204);
    refused(&get(&s, Admin, "/organization/empty-org").await, NOT_FOUND);
    create_org(&s, "empty-org").await;
}

#[tokio::test]
async fn teams_are_created_updated_and_deleted_with_quay_shapes() {
    let s = setup(&["alice"]).await;
    let devs = "/organization/acme/team/devs";
    let r = put(
        &s,
        Admin,
        devs,
        json!({ "role": "member", "description": "Developers" }),
    )
    .await;
    ok(&r, 200);
    assert_eq!(r.1["name"], "devs");
    assert_eq!(r.1["description"], "Developers");
    assert_eq!(r.1["role"], "member");
    assert_eq!(r.1["can_view"], true);
    assert_eq!(r.1["new_team"], true);
    assert_eq!(r.1["avatar"]["kind"], "team");

    // Update: the role changes, the description stays when absent.
    let r = put(&s, Admin, devs, json!({ "role": "creator" })).await;
    ok(&r, 200);
    assert_eq!(
        (&r.1["role"], &r.1["description"]),
        (&json!("creator"), &json!("Developers"))
    );
    assert_eq!(r.1["new_team"], false);
    let org = get(&s, Admin, "/organization/acme").await.1;
    assert_eq!(org["teams"]["devs"]["role"], "creator");
    assert_eq!(org["ordered_teams"], json!(["devs", "owners"]));

    // Bad input.
    let qa = "/organization/acme/team/qa";
    for body in [
        json!({ "role": "boss" }),
        json!({ "description": "no role" }),
        json!({ "role": 3 }),
    ] {
        refused(&put(&s, Admin, qa, body).await, BAD);
    }
    for bad in ["x", "Bad", "a--b", "a+b"] {
        let path = format!("/organization/acme/team/{bad}");
        refused(&put(&s, Admin, &path, json!({ "role": "member" })).await, BAD);
    }
    refused(&put_raw(&s, qa, "{role: member}").await, BAD);
    let owners = "/organization/acme/team/owners";
    refused(&put(&s, Admin, owners, json!({ "role": "member" })).await, BAD);

    // Admins only; organizations only.
    let body = json!({ "role": "member" });
    refused(&put(&s, ALICE, qa, body.clone()).await, FORBIDDEN);
    refused(&put(&s, Anon, qa, body.clone()).await, UNAUTHENTICATED);
    refused(
        &put(&s, ALICE, "/organization/alice/team/qa", body).await,
        NOT_FOUND,
    );
    refused(&del(&s, ALICE, devs).await, FORBIDDEN);
    refused(&del(&s, Anon, devs).await, UNAUTHENTICATED);

    // Delete; never owners.
    refused(&del(&s, Admin, owners).await, BAD);
    ok(&del(&s, Admin, devs).await, 204);
    refused(&del(&s, Admin, devs).await, NOT_FOUND);
    assert_eq!(
        get(&s, Admin, "/organization/acme").await.1["ordered_teams"],
        json!(["owners"])
    );
}

#[tokio::test]
async fn team_members_are_added_listed_and_removed() {
    let s = setup(&["alice", "bob"]).await;
    put_team(&s, "devs", "member").await;
    let team = "/organization/acme/team/devs";

    let r = put_empty(&s, Admin, &format!("{team}/members/alice")).await;
    ok(&r, 200);
    let avatar = r.1["avatar"].clone();
    assert_eq!(
        r.1,
        json!({ "name": "alice", "kind": "user", "is_robot": false, "avatar": avatar, "invited": false })
    );
    assert_eq!(avatar["kind"], "user");
    // Already a member; unknown user; an organization is no member.
    for member in ["alice", "nobody", "acme"] {
        refused(
            &put_empty(&s, Admin, &format!("{team}/members/{member}")).await,
            BAD,
        );
    }
    refused(
        &put_empty(&s, Admin, "/organization/acme/team/nosuch/members/bob").await,
        NOT_FOUND,
    );
    refused(
        &put_empty(&s, ALICE, &format!("{team}/members/bob")).await,
        FORBIDDEN,
    );
    refused(
        &put_empty(&s, Anon, &format!("{team}/members/bob")).await,
        UNAUTHENTICATED,
    );

    // Members of the team and admins may look; only admins may edit.
    let members = format!("{team}/members");
    let r = get(&s, Admin, &members).await;
    ok(&r, 200);
    assert_eq!((&r.1["name"], &r.1["can_edit"]), (&json!("devs"), &json!(true)));
    assert_eq!(names(&r.1["members"]), ["alice"]);
    assert_eq!(r.1["members"][0]["is_robot"], false);
    let r = get(&s, ALICE, &members).await;
    ok(&r, 200);
    assert_eq!(r.1["can_edit"], false);
    refused(&get(&s, BOB, &members).await, FORBIDDEN);
    refused(
        &get(&s, ALICE, "/organization/acme/team/owners/members").await,
        FORBIDDEN,
    );
    refused(&get(&s, Anon, &members).await, UNAUTHENTICATED);
    refused(
        &get(&s, Admin, "/organization/acme/team/nosuch/members").await,
        NOT_FOUND,
    );
    let org = get(&s, ALICE, "/organization/acme").await.1;
    assert_eq!(org["is_member"], true);
    assert_eq!(org["teams"]["devs"]["can_view"], true);
    assert_eq!(org["teams"]["owners"]["can_view"], false);

    // Removal.
    let alice = format!("{team}/members/alice");
    refused(&del(&s, ALICE, &alice).await, FORBIDDEN);
    ok(&del(&s, Admin, &alice).await, 204);
    refused(&del(&s, Admin, &alice).await, BAD);
    refused(
        &del(&s, Admin, &format!("{team}/members/nobody")).await,
        NOT_FOUND,
    );
    assert_eq!(get(&s, Admin, &members).await.1["members"], json!([]));
}

#[tokio::test]
async fn an_organization_never_loses_its_last_owner() {
    let s = setup(&["alice"]).await;
    refused(
        &del(&s, Admin, "/organization/acme/team/owners/members/admin").await,
        BAD,
    );
    refused(&del(&s, Admin, "/organization/acme/members/admin").await, BAD);

    // With a second owner, the first may leave; the second then cannot.
    add_member(&s, "owners", "alice").await;
    ok(
        &del(&s, Admin, "/organization/acme/team/owners/members/admin").await,
        204,
    );
    refused(&get(&s, Admin, "/organization/acme/members").await, FORBIDDEN);
    refused(
        &del(&s, ALICE, "/organization/acme/team/owners/members/alice").await,
        BAD,
    );
    refused(&del(&s, ALICE, "/organization/acme/members/alice").await, BAD);
    let r = get(&s, ALICE, "/organization/acme/members").await;
    ok(&r, 200);
    assert_eq!(names(&r.1["members"]), ["alice"]);
}

#[tokio::test]
async fn organization_members_are_listed_and_removed_everywhere() {
    let s = setup(&["alice", "bob"]).await;
    put_team(&s, "devs", "member").await;
    put_team(&s, "qa", "member").await;
    add_member(&s, "devs", "alice").await;
    add_member(&s, "qa", "alice").await;
    ok(&create_repo(&s, Admin, "acme", "app").await, 201);
    let grant = put(
        &s,
        Admin,
        "/repository/acme/app/permissions/user/alice",
        json!({ "role": "read" }),
    );
    ok(&grant.await, 200);

    let r = get(&s, Admin, "/organization/acme/members").await;
    ok(&r, 200);
    assert_eq!(names(&r.1["members"]), ["admin", "alice"]);
    let alice = &r.1["members"][1];
    assert_eq!(
        (&alice["kind"], &alice["avatar"]["name"]),
        (&json!("user"), &json!("alice"))
    );
    assert_eq!(names(&alice["teams"]), ["devs", "qa"]);
    assert_eq!(alice["teams"][0]["avatar"]["kind"], "team");
    assert_eq!(alice["repositories"], json!(["app"]));

    let r = get(&s, Admin, "/organization/acme/members/alice").await;
    ok(&r, 200);
    assert_eq!((&r.1["name"], &r.1["kind"]), (&json!("alice"), &json!("user")));
    assert_eq!(r.1["repositories"], json!(["app"]));
    assert_eq!(names(&r.1["teams"]), ["devs", "qa"]);
    for who in ["bob", "nobody", "acme"] {
        refused(
            &get(&s, Admin, &format!("/organization/acme/members/{who}")).await,
            NOT_FOUND,
        );
    }
    for path in ["/organization/acme/members", "/organization/acme/members/alice"] {
        refused(&get(&s, ALICE, path).await, FORBIDDEN);
        refused(&get(&s, Anon, path).await, UNAUTHENTICATED);
    }
    refused(&get(&s, BOB, "/organization/bob/members").await, NOT_FOUND);
    refused(
        &del(&s, ALICE, "/organization/acme/members/alice").await,
        FORBIDDEN,
    );
    refused(
        &del(&s, Anon, "/organization/acme/members/alice").await,
        UNAUTHENTICATED,
    );

    ok(&del(&s, Admin, "/organization/acme/members/alice").await, 204);
    refused(
        &get(&s, Admin, "/organization/acme/members/alice").await,
        NOT_FOUND,
    );
    let perms = get(&s, Admin, "/repository/acme/app/permissions/user/").await;
    assert_eq!(perms.1["permissions"], json!({}));
    assert_eq!(
        names(&get(&s, Admin, "/organization/acme/members").await.1["members"]),
        ["admin"]
    );
    refused(
        &del(&s, Admin, "/organization/acme/members/nobody").await,
        NOT_FOUND,
    );
}

#[tokio::test]
async fn team_roles_decide_who_may_create_repositories() {
    let s = setup(&["alice", "bob", "carol"]).await;
    put_team(&s, "builders", "creator").await;
    put_team(&s, "readers", "member").await;
    put_team(&s, "admins", "admin").await;
    add_member(&s, "builders", "alice").await;
    add_member(&s, "readers", "bob").await;
    add_member(&s, "admins", "carol").await;

    ok(&create_repo(&s, ALICE, "acme", "built").await, 201);
    refused(&create_repo(&s, BOB, "acme", "nope").await, FORBIDDEN);
    // The creator administers what it created; an admin team, everything.
    let r = get(&s, ALICE, "/repository/acme/built/permissions/user/").await;
    ok(&r, 200);
    assert_eq!(r.1["permissions"]["alice"]["role"], "admin");
    ok(
        &get(&s, CAROL, "/repository/acme/built/permissions/user/").await,
        200,
    );
    ok(&get(&s, CAROL, "/organization/acme/members").await, 200);
    refused(
        &get(&s, BOB, "/repository/acme/built/permissions/user/").await,
        FORBIDDEN,
    );

    // Demoting the team takes the right away.
    put_team(&s, "builders", "member").await;
    refused(&create_repo(&s, ALICE, "acme", "later").await, FORBIDDEN);
}

#[tokio::test]
async fn discovery_lists_the_new_operations() {
    let s = Server::start().await;
    let doc = get(&s, Anon, "/discovery").await.1.to_string();
    for op in [
        "changeOrganizationDetails",
        "deleteAdminedOrganization",
        "getOrganizationMembers",
        "getOrganizationMember",
        "removeOrganizationMember",
        "updateOrganizationTeam",
        "deleteOrganizationTeam",
        "getOrganizationTeamMembers",
        "updateOrganizationTeamMember",
        "deleteOrganizationTeamMember",
        "getOrganizationTeamPermissions",
        "listRepoUserPermissions",
        "getUserPermissions",
        "changeUserPermissions",
        "deleteUserPermissions",
        "getUserTransitivePermission",
        "listRepoTeamPermissions",
        "getTeamPermissions",
        "changeTeamPermissions",
        "deleteTeamPermissions",
    ] {
        assert!(doc.contains(&format!("\"{op}\"")), "{op} missing from discovery");
    }
}

#[tokio::test]
async fn request_bodies_refuse_unknown_fields_by_name() {
    let s = setup(&["alice"]).await;
    put_team(&s, "devs", "member").await;
    ok(&create_repo(&s, Admin, "acme", "app").await, 201);
    let post = call(
        &s,
        Admin,
        reqwest::Method::POST,
        "/organization/",
        Some(json!({ "name": "other", "colour": "red" })),
    )
    .await;
    for r in [
        post,
        put(&s, Admin, "/organization/acme", json!({ "colour": "red" })).await,
        put(
            &s,
            Admin,
            "/organization/acme/team/devs",
            json!({ "role": "member", "colour": "red" }),
        )
        .await,
        put(
            &s,
            Admin,
            "/repository/acme/app/permissions/user/alice",
            json!({ "role": "read", "colour": "red" }),
        )
        .await,
        put(
            &s,
            Admin,
            "/repository/acme/app/permissions/team/devs",
            json!({ "role": "read", "colour": "red" }),
        )
        .await,
    ] {
        refused(&r, BAD);
        assert!(r.1["detail"].as_str().unwrap().contains("colour"), "{}", r.1);
    }
    // Nothing was changed or created.
    refused(&get(&s, Admin, "/organization/other").await, NOT_FOUND);
    let perms = get(&s, Admin, "/repository/acme/app/permissions/user/").await;
    assert_eq!(perms.1["permissions"], json!({}));
}

#[tokio::test]
async fn organization_settings_are_keys_only_admins_get() {
    let s = setup(&["alice"]).await;
    put_team(&s, "devs", "member").await;
    add_member(&s, "devs", "alice").await;
    let admin = get(&s, Admin, "/organization/acme").await.1;
    for key in ["email", "invoice_email_address", "tag_expiration_s"] {
        assert_eq!(admin.get(key), Some(&Value::Null), "{key}: {admin}");
    }
    assert_eq!(admin["is_free_account"], true);
    let member = get(&s, ALICE, "/organization/acme").await.1;
    assert_eq!(member["ordered_teams"], json!(["devs", "owners"]));
    for key in ["email", "invoice_email", "is_free_account", "tag_expiration_s"] {
        assert!(member.get(key).is_none(), "{key}: {member}");
    }
    let anon = get(&s, Anon, "/organization/acme").await.1;
    assert_eq!(
        (&anon["is_admin"], &anon["is_member"]),
        (&json!(false), &json!(false))
    );
    assert!(
        anon.get("teams").is_none() && anon.get("ordered_teams").is_none(),
        "{anon}"
    );
}

#[tokio::test]
async fn discovery_documents_the_response_bodies() {
    let s = Server::start().await;
    let doc = get(&s, Anon, "/discovery").await.1;
    let schemas = &doc["components"]["schemas"];
    for name in [
        "OrganizationView",
        "OrganizationMembersView",
        "TeamView",
        "TeamMembersView",
        "TeamRepositoryRolesView",
        "UserPermissionsView",
        "TeamPermissionsView",
        "TransitivePermissionsView",
        "Avatar",
    ] {
        assert!(schemas[name].is_object(), "{name} missing from discovery");
    }
    let paths = doc["paths"].as_object().unwrap();
    let (_, org) = paths
        .iter()
        .find(|(path, _)| path.ends_with("/organization/{orgname}"))
        .unwrap();
    let answer = &org["get"]["responses"]["200"];
    assert!(answer.to_string().contains("OrganizationView"), "{answer}");
}
