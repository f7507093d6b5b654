//! Teams, organization members and repository roles, through the core
//! operations: who may join what, and the usage log they leave.

use berth_store::metadata::{AuditQuery, NewAccount};
use berth_store::{Db, PoolSettings};

use super::*;
use crate::identity::principal::{AccountRef, Actor, Credential, Principal};
use crate::identity::{IdentityConfig, OrganizationChange, TeamPermission};

/// An identity service on a fresh SQLite database; the directory is
/// removed by the caller.
async fn identity() -> (Identity, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("berth-teams-{}", uuid::Uuid::new_v4()));
    let db = Db::open_sqlite(&dir, PoolSettings::default()).await.unwrap();
    (Identity::start(db, IdentityConfig::default()).await.unwrap(), dir)
}

fn user(account: &Account) -> Principal {
    Principal {
        actor: Actor::User(AccountRef {
            id: account.id,
            name: account.name.clone(),
            super_user: false,
        }),
        credential: Credential::Password,
    }
}

async fn robot(identity: &Identity, owner: &Account, short: &str) -> Account {
    let name = format!("{}+{short}", owner.name);
    identity
        .db
        .create_account(&NewAccount {
            name: &name,
            kind: "robot",
            owner_id: Some(owner.id),
            ..NewAccount::default()
        })
        .await
        .unwrap();
    identity.account(&name).await.unwrap().unwrap()
}

fn caller(principal: &Principal) -> Caller {
    Caller::new(principal.clone(), None)
}

fn ns(name: &str) -> Namespace {
    Namespace::new(name).unwrap()
}

fn team(name: &str) -> TeamName {
    TeamName::new(name).unwrap()
}

fn repo(name: &str) -> RepositoryName {
    RepositoryName::new(name).unwrap()
}

#[tokio::test]
async fn robots_join_only_their_own_organization_and_never_count_as_owners() {
    let (identity, dir) = identity().await;
    let alice = identity
        .create_user("alice", None, "alice-password", false)
        .await
        .unwrap();
    let me = user(&alice);
    let acme = identity
        .create_organization(&caller(&me), "acme", None)
        .await
        .unwrap();
    let org_bot = robot(&identity, &acme, "bot").await;
    robot(&identity, &alice, "bot").await;
    identity
        .put_team(&caller(&me), &ns("acme"), &team("devs"), TeamRole::Member, None)
        .await
        .unwrap();

    // Team membership: the organization's robots only.
    let added = identity
        .add_team_member(&caller(&me), &ns("acme"), &team("devs"), "acme+bot")
        .await
        .unwrap();
    assert_eq!(added.id, org_bot.id);
    let err = identity
        .add_team_member(&caller(&me), &ns("acme"), &team("devs"), "alice+bot")
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Invalid(_)), "{err}");

    // Robots are members of their organization without teams, but not
    // listed among its (human) members.
    let member = identity
        .organization_member(&caller(&me), &ns("acme"), "acme+bot")
        .await
        .unwrap();
    assert!(member.is_robot);
    assert_eq!(member.teams, ["devs"]);
    assert!(
        identity
            .organization_member(&caller(&me), &ns("acme"), "alice+bot")
            .await
            .is_err()
    );
    let members = identity
        .organization_members(&caller(&me), &ns("acme"))
        .await
        .unwrap();
    assert_eq!(
        members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );

    // A robot in owners does not keep the organization administered.
    identity
        .add_team_member(&caller(&me), &ns("acme"), &team(OWNERS_TEAM), "acme+bot")
        .await
        .unwrap();
    let err = identity
        .remove_team_member(&caller(&me), &ns("acme"), &team(OWNERS_TEAM), "alice")
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Invalid(_)), "{err}");
    identity
        .remove_team_member(&caller(&me), &ns("acme"), &team(OWNERS_TEAM), "acme+bot")
        .await
        .unwrap();

    // Repository roles: robots of the repository's namespace only.
    identity
        .create_repository(&me, "acme/app", false, "", None)
        .await
        .unwrap();
    let granted = identity
        .grant_to_account(&caller(&me), &repo("acme/app"), "acme+bot", Role::Write)
        .await
        .unwrap();
    assert!(granted.is_robot);
    assert_eq!(granted.is_org_member, Some(true));
    let err = identity
        .grant_to_account(&caller(&me), &repo("acme/app"), "alice+bot", Role::Read)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Invalid(_)), "{err}");
    let robot_principal = Principal {
        actor: Actor::Robot(AccountRef {
            id: org_bot.id,
            name: org_bot.name.clone(),
            super_user: false,
        }),
        credential: Credential::RobotToken,
    };
    assert!(
        identity
            .allowed(&robot_principal, Action::Push("acme/app"))
            .await
            .unwrap()
    );
    assert!(
        !identity
            .allowed(&robot_principal, Action::Push("acme/other"))
            .await
            .unwrap()
    );

    // Viewing a team is for its human members and the administrators.
    assert!(
        identity
            .allowed(&me, Action::ViewTeam("acme", "devs"))
            .await
            .unwrap()
    );
    assert!(
        !identity
            .allowed(&robot_principal, Action::ViewTeam("acme", "devs"))
            .await
            .unwrap()
    );
    let bob = identity
        .create_user("bob", None, "bob-password", false)
        .await
        .unwrap();
    identity
        .add_team_member(&caller(&me), &ns("acme"), &team("devs"), "bob")
        .await
        .unwrap();
    assert!(
        identity
            .allowed(&user(&bob), Action::ViewTeam("acme", "devs"))
            .await
            .unwrap()
    );
    assert!(
        !identity
            .allowed(&user(&bob), Action::ViewTeam("acme", OWNERS_TEAM))
            .await
            .unwrap()
    );

    // Team grants go to teams of the repository's organization.
    let granted_team: TeamPermission = identity
        .grant_to_team(&caller(&me), &repo("acme/app"), &team("devs"), Role::Read)
        .await
        .unwrap();
    assert_eq!(granted_team.role, Role::Read);
    identity
        .create_repository(&user(&bob), "bob/own", false, "", None)
        .await
        .unwrap();
    assert!(
        identity
            .grant_to_team(&caller(&me), &repo("bob/own"), &team("devs"), Role::Read)
            .await
            .is_err()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The usage-log kinds recorded in namespace `ns`.
async fn logged_kinds(identity: &Identity, ns: &str) -> Vec<String> {
    let q = AuditQuery {
        namespace: Some(ns.into()),
        end_ms: i64::MAX,
        ..AuditQuery::default()
    };
    let mut kinds: Vec<String> = identity
        .db
        .audit_entries(&q, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

#[tokio::test]
async fn mutations_leave_usage_log_entries_with_quay_kinds() {
    let (identity, dir) = identity().await;
    let alice = identity
        .create_user("alice", None, "alice-password", false)
        .await
        .unwrap();
    identity
        .create_user("bob", None, "bob-password", false)
        .await
        .unwrap();
    let me = user(&alice);
    identity
        .create_organization(&caller(&me), "acme", None)
        .await
        .unwrap();
    let change = OrganizationChange {
        email: Some("ops@acme.example".into()),
        invoice_email: Some(true),
        tag_expiration_s: Some(86_400),
        ..OrganizationChange::default()
    };
    identity
        .change_organization(&caller(&me), &ns("acme"), change)
        .await
        .unwrap();
    identity
        .put_team(&caller(&me), &ns("acme"), &team("devs"), TeamRole::Member, None)
        .await
        .unwrap();
    identity
        .put_team(
            &caller(&me),
            &ns("acme"),
            &team("devs"),
            TeamRole::Creator,
            Some("Developers"),
        )
        .await
        .unwrap();
    identity
        .add_team_member(&caller(&me), &ns("acme"), &team("devs"), "bob")
        .await
        .unwrap();
    identity
        .remove_team_member(&caller(&me), &ns("acme"), &team("devs"), "bob")
        .await
        .unwrap();
    identity
        .add_team_member(&caller(&me), &ns("acme"), &team("devs"), "bob")
        .await
        .unwrap();
    identity
        .create_repository(&me, "acme/app", false, "", None)
        .await
        .unwrap();
    identity
        .grant_to_account(&caller(&me), &repo("acme/app"), "bob", Role::Read)
        .await
        .unwrap();
    identity
        .grant_to_account(&caller(&me), &repo("acme/app"), "bob", Role::Write)
        .await
        .unwrap();
    identity
        .revoke_from_account(&caller(&me), &repo("acme/app"), "bob")
        .await
        .unwrap();
    identity
        .grant_to_team(&caller(&me), &repo("acme/app"), &team("devs"), Role::Read)
        .await
        .unwrap();
    identity
        .revoke_from_team(&caller(&me), &repo("acme/app"), &team("devs"))
        .await
        .unwrap();
    identity
        .remove_organization_member(&caller(&me), &ns("acme"), "bob")
        .await
        .unwrap();
    identity
        .delete_team(&caller(&me), &ns("acme"), &team("devs"))
        .await
        .unwrap();
    identity
        .create_organization(&caller(&me), "gone", None)
        .await
        .unwrap();
    identity
        .delete_organization(&caller(&me), &ns("gone"))
        .await
        .unwrap();

    assert_eq!(
        logged_kinds(&identity, "acme").await,
        [
            "add_repo_permission",
            "change_repo_permission",
            "create_repo",
            "delete_repo_permission",
            "org_add_team_member",
            "org_change_email",
            "org_change_invoicing",
            "org_change_tag_expiration",
            "org_create",
            "org_create_team",
            "org_delete_team",
            "org_remove_member",
            "org_remove_team_member",
            "org_set_team_description",
            "org_set_team_role",
        ]
    );
    assert_eq!(
        logged_kinds(&identity, "gone").await,
        ["org_create", "org_delete"]
    );
    let _ = std::fs::remove_dir_all(dir);
}
