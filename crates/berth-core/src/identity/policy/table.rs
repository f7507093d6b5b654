//! The policy as a table: every kind of actor, every relation it can hold
//! to a namespace and a repository, both visibilities (and a repository
//! that does not exist), every OAuth scope, against every action. The
//! expected answers are written out by hand from Quay's rules, not
//! computed, so a change to `decide` that alters any cell fails here.

use super::*;
use crate::identity::principal::{AccountRef, Credential};

/// Answers in the order pull, push, administer, create a repository,
/// administer the namespace: `Y` allowed, `-` refused.
const ACTIONS: usize = 5;

fn account(name: &str, super_user: bool) -> AccountRef {
    AccountRef {
        id: 1,
        name: name.into(),
        super_user,
    }
}

fn user(name: &str) -> Principal {
    Principal {
        actor: Actor::User(account(name, false)),
        credential: Credential::Password,
    }
}

fn superuser() -> Principal {
    Principal {
        actor: Actor::User(account("admin", true)),
        credential: Credential::Password,
    }
}

fn robot() -> Principal {
    Principal {
        actor: Actor::Robot(account("acme+ci", false)),
        credential: Credential::RobotToken,
    }
}

fn oauth(principal: Principal, scope: Scope) -> Principal {
    Principal {
        credential: Credential::OAuth(vec![scope]),
        ..principal
    }
}

/// How a repository looks to the policy.
#[derive(Clone, Copy, Debug)]
enum Repo {
    Public,
    Private,
    Missing,
}

/// The facts of namespace `ns` (of `kind`) and its repository, with the
/// roles the actor holds.
fn facts(kind: &str, repo: Repo, repo_roles: &[&str], team_roles: &[&str]) -> AccessFacts {
    AccessFacts {
        repository: match repo {
            Repo::Public => Some((3, true)),
            Repo::Private => Some((3, false)),
            Repo::Missing => None,
        },
        namespace: Some((7, AccountKind::parse(kind).expect("a kind"))),
        repo_roles: repo_roles.iter().map(|r| r.to_string()).collect(),
        team_roles: team_roles.iter().map(|r| r.to_string()).collect(),
        teams: Vec::new(),
    }
}

fn answers(principal: &Principal, ns: &str, facts: &AccessFacts, settings: PolicySettings) -> String {
    let repo = format!("{ns}/app");
    let actions: [Action<'_>; ACTIONS] = [
        Action::Pull(&repo),
        Action::Push(&repo),
        Action::Administer(&repo),
        Action::CreateRepository(ns),
        Action::AdministerNamespace(ns),
    ];
    actions
        .iter()
        .map(|a| {
            if decide(principal, *a, facts, settings) {
                'Y'
            } else {
                '-'
            }
        })
        .collect()
}

fn check(rows: &[(&str, Principal, &str, AccessFacts, &str)], settings: PolicySettings) {
    let mut wrong = Vec::new();
    for (label, principal, ns, facts, expected) in rows {
        let got = answers(principal, ns, facts, settings);
        if got != *expected {
            wrong.push(format!(
                "{label} ({:?}): expected {expected}, got {got}",
                facts.repository
            ));
        }
    }
    assert!(wrong.is_empty(), "policy cells differ:\n{}", wrong.join("\n"));
}

/// An actor's relation to an organization: label, principal, repository
/// roles, team roles, and the answers for a public, a private and a
/// missing repository.
type Relation = (
    &'static str,
    Principal,
    &'static [&'static str],
    &'static [&'static str],
    [&'static str; 3],
);

#[test]
fn every_relation_and_visibility_in_an_organization() {
    let settings = PolicySettings::default();
    let mut rows = Vec::new();
    // (label, principal, repo roles, team roles, [public, private, missing]).
    let relations: [Relation; 14] = [
        (
            "anonymous",
            Principal::anonymous(),
            &[],
            &[],
            ["Y----", "-----", "-----"],
        ),
        ("outsider", user("bob"), &[], &[], ["Y----", "-----", "-----"]),
        (
            "repo read",
            user("bob"),
            &["read"],
            &[],
            ["Y----", "Y----", "-----"],
        ),
        (
            "repo write",
            user("bob"),
            &["write"],
            &[],
            ["YY---", "YY---", "-----"],
        ),
        (
            "repo admin",
            user("bob"),
            &["admin"],
            &[],
            ["YYY--", "YYY--", "-----"],
        ),
        (
            "member team",
            user("bob"),
            &[],
            &["member"],
            ["Y----", "-----", "-----"],
        ),
        (
            "member team with a write grant",
            user("bob"),
            &["write"],
            &["member"],
            ["YY---", "YY---", "-----"],
        ),
        (
            "creator team",
            user("bob"),
            &[],
            &["creator"],
            ["Y--Y-", "---Y-", "YY-Y-"],
        ),
        (
            "admin team",
            user("bob"),
            &[],
            &["admin"],
            ["YYYYY", "YYYYY", "YY-YY"],
        ),
        (
            "robot with read",
            robot(),
            &["read"],
            &[],
            ["Y----", "Y----", "-----"],
        ),
        (
            "robot with write",
            robot(),
            &["write"],
            &[],
            ["YY---", "YY---", "-----"],
        ),
        (
            "robot in a creator team",
            robot(),
            &[],
            &["creator"],
            ["Y--Y-", "---Y-", "YY-Y-"],
        ),
        // Admin teams may create, robots included (Quay: creator or admin).
        (
            "robot in the admin team",
            robot(),
            &[],
            &["admin"],
            ["YYYY-", "YYYY-", "YY-Y-"],
        ),
        (
            "superuser without full access",
            superuser(),
            &[],
            &[],
            ["Y----", "-----", "-----"],
        ),
    ];
    for (label, principal, repo_roles, team_roles, expected) in relations {
        for (repo, want) in [Repo::Public, Repo::Private, Repo::Missing]
            .into_iter()
            .zip(expected)
        {
            rows.push((
                label,
                principal.clone(),
                "acme",
                facts("org", repo, repo_roles, team_roles),
                want,
            ));
        }
    }
    check(&rows, settings);
}

#[test]
fn superusers_with_full_access_and_user_namespaces() {
    let full = PolicySettings {
        superusers_full_access: true,
        ..PolicySettings::default()
    };
    let org = |repo| facts("org", repo, &[], &[]);
    let own = |repo| facts("user", repo, &[], &[]);
    check(
        &[
            (
                "superuser, full access",
                superuser(),
                "acme",
                org(Repo::Private),
                "YYYYY",
            ),
            (
                "superuser, full access",
                superuser(),
                "acme",
                org(Repo::Missing),
                "YY-YY",
            ),
            (
                "superuser, full access, user namespace",
                superuser(),
                "alice",
                own(Repo::Private),
                "YYYYY",
            ),
            (
                "user, full access on",
                user("bob"),
                "acme",
                org(Repo::Private),
                "-----",
            ),
            (
                "owner of the namespace",
                user("alice"),
                "alice",
                own(Repo::Private),
                "YYYYY",
            ),
            (
                "owner, repository missing",
                user("alice"),
                "alice",
                own(Repo::Missing),
                "YY-YY",
            ),
            ("another user", user("bob"), "alice", own(Repo::Private), "-----"),
            (
                "another user, public",
                user("bob"),
                "alice",
                own(Repo::Public),
                "Y----",
            ),
            (
                "a robot of the user",
                robot(),
                "alice",
                own(Repo::Private),
                "-----",
            ),
        ],
        full,
    );
}

#[test]
fn every_oauth_scope_caps_an_organization_administrator() {
    let settings = PolicySettings::default();
    let admin_team = |repo| facts("org", repo, &[], &["admin"]);
    let expected = [
        (Scope::RepoRead, "Y----", "Y----"),
        (Scope::RepoWrite, "YY---", "YY---"),
        (Scope::RepoAdmin, "YYY--", "YYY--"),
        (Scope::RepoCreate, "---Y-", "Y--Y-"),
        (Scope::UserRead, "-----", "Y----"),
        (Scope::UserAdmin, "-----", "Y----"),
        (Scope::OrgAdmin, "----Y", "Y---Y"),
        (Scope::SuperUser, "-----", "Y----"),
    ];
    assert_eq!(expected.len(), Scope::ALL.len(), "every scope has a row");
    let mut rows = Vec::new();
    for (scope, private, public) in expected {
        let p = oauth(user("bob"), scope);
        rows.push((
            scope.as_str(),
            p.clone(),
            "acme",
            admin_team(Repo::Private),
            private,
        ));
        rows.push((scope.as_str(), p, "acme", admin_team(Repo::Public), public));
    }
    check(&rows, settings);
}

#[test]
fn account_actions_by_credential_and_scope() {
    let settings = PolicySettings::default();
    let none = AccessFacts::default();
    // Answers for read oneself, administer oneself, the superuser panel.
    let cases: [(&str, Principal, &str); 12] = [
        ("anonymous", Principal::anonymous(), "---"),
        ("user", user("bob"), "YY-"),
        ("superuser", superuser(), "YYY"),
        ("robot", robot(), "---"),
        (
            "app token",
            Principal {
                credential: Credential::AppToken,
                ..user("bob")
            },
            "YY-",
        ),
        ("oauth repo:admin", oauth(user("bob"), Scope::RepoAdmin), "---"),
        ("oauth user:read", oauth(user("bob"), Scope::UserRead), "Y--"),
        ("oauth user:admin", oauth(user("bob"), Scope::UserAdmin), "YY-"),
        ("oauth org:admin", oauth(user("bob"), Scope::OrgAdmin), "---"),
        (
            "oauth super:user, not a superuser",
            oauth(user("bob"), Scope::SuperUser),
            "---",
        ),
        (
            "oauth super:user, a superuser",
            oauth(superuser(), Scope::SuperUser),
            "--Y",
        ),
        (
            "oauth user:admin, a superuser",
            oauth(superuser(), Scope::UserAdmin),
            "YY-",
        ),
    ];
    let mut wrong = Vec::new();
    for (label, p, expected) in cases {
        let got: String = [Action::ReadUser, Action::AdministerUser, Action::SuperUser]
            .iter()
            .map(|a| if decide(&p, *a, &none, settings) { 'Y' } else { '-' })
            .collect();
        if got != expected {
            wrong.push(format!("{label}: expected {expected}, got {got}"));
        }
    }
    assert!(wrong.is_empty(), "policy cells differ:\n{}", wrong.join("\n"));
}

#[test]
fn settings_switch_anonymous_pulls_and_namespaces_made_on_push() {
    let closed = PolicySettings {
        anonymous_access: false,
        ..PolicySettings::default()
    };
    let public = facts("org", Repo::Public, &[], &[]);
    check(
        &[(
            "anonymous, access off",
            Principal::anonymous(),
            "acme",
            public,
            "-----",
        )],
        closed,
    );

    // A namespace that does not exist: only a user may create it by
    // pushing, and only with CREATE_NAMESPACE_ON_PUSH.
    let missing = AccessFacts::default();
    let on = PolicySettings {
        create_namespace_on_push: true,
        ..PolicySettings::default()
    };
    check(
        &[
            ("user, setting on", user("bob"), "newns", missing.clone(), "YY-Y-"),
            ("robot, setting on", robot(), "newns", missing.clone(), "-----"),
            (
                "anonymous, setting on",
                Principal::anonymous(),
                "newns",
                missing.clone(),
                "-----",
            ),
        ],
        on,
    );
    check(
        &[("user, setting off", user("bob"), "newns", missing, "-----")],
        PolicySettings::default(),
    );
}
