//! The access policy: one pure function decides every access, from who is
//! asking ([`Principal`]), what they want ([`Action`]) and what the database
//! knows about the two ([`AccessFacts`]). Routes never decide by themselves.

use crate::names::AccountKind;

use super::IdentityError;
use super::principal::{Actor, Principal, Scope};

/// What the policy knows about one account and one repository (or
/// namespace), as `Identity::allowed` loads it.
#[derive(Debug, Clone, Default)]
pub struct AccessFacts {
    /// The repository's id and visibility, if it exists.
    pub repository: Option<(i64, bool)>,
    /// The namespace's account id and kind, if it exists.
    pub namespace: Option<(i64, AccountKind)>,
    /// Roles on the repository granted to the account or its teams.
    pub repo_roles: Vec<String>,
    /// Roles of the account's teams in the namespace's organization.
    pub team_roles: Vec<String>,
    /// Names of those teams.
    pub teams: Vec<String>,
}

impl TryFrom<berth_store::metadata::AccessFacts> for AccessFacts {
    type Error = IdentityError;

    fn try_from(facts: berth_store::metadata::AccessFacts) -> Result<AccessFacts, IdentityError> {
        let namespace = match facts.namespace {
            Some((id, kind)) => Some((
                id,
                AccountKind::parse(&kind)
                    .ok_or_else(|| IdentityError::Internal(format!("account {id} has kind {kind:?}")))?,
            )),
            None => None,
        };
        Ok(AccessFacts {
            repository: facts.repository,
            namespace,
            repo_roles: facts.repo_roles,
            team_roles: facts.team_roles,
            teams: facts.teams,
        })
    }
}

/// A role on a repository; later variants include the earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Pull and view.
    Read,
    /// Push, tag, delete tags.
    Write,
    /// Settings, permissions, logs, deletion.
    Admin,
}

impl Role {
    /// Parse `read` / `write` / `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

/// A team's organization-wide role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeamRole {
    /// Only what the team is granted.
    Member,
    /// May also create repositories in the organization.
    Creator,
    /// Administers the organization and all its repositories.
    Admin,
}

impl TeamRole {
    /// Parse `member` / `creator` / `admin`.
    pub fn parse(s: &str) -> Option<TeamRole> {
        match s {
            "member" => Some(TeamRole::Member),
            "creator" => Some(TeamRole::Creator),
            "admin" => Some(TeamRole::Admin),
            _ => None,
        }
    }

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Member => "member",
            TeamRole::Creator => "creator",
            TeamRole::Admin => "admin",
        }
    }
}

/// Something a principal wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Pull from or view a repository (full name).
    Pull(&'a str),
    /// Push to, tag in or delete tags of a repository (creating it if it
    /// does not exist).
    Push(&'a str),
    /// Change a repository's permissions, visibility or settings, read its
    /// logs, delete it.
    Administer(&'a str),
    /// Create a repository in a namespace.
    CreateRepository(&'a str),
    /// Manage a namespace: its robots, teams, members, applications,
    /// settings and logs.
    AdministerNamespace(&'a str),
    /// See a team of an organization and its members: `(org, team)`. Its
    /// members may, and the organization's administrators.
    ViewTeam(&'a str, &'a str),
    /// Read one's own account.
    ReadUser,
    /// Change one's own account: password, app tokens, robots, logs.
    AdministerUser,
    /// The superuser panel.
    SuperUser,
    /// See a namespace's settings shown to its members (its quota): its
    /// organization's members, the user it is, superusers.
    ViewNamespace(&'a str),
    /// Change what only a superuser may change in any namespace (its
    /// quota): a superuser when `FEATURE_SUPERUSERS_FULL_ACCESS` is on
    /// (Quay's `allow_if_superuser_with_full_access`).
    SuperUserFullAccess,
}

impl Action<'_> {
    /// The repository the action is on, if any.
    pub fn repository(&self) -> Option<&str> {
        match self {
            Action::Pull(r) | Action::Push(r) | Action::Administer(r) => Some(r),
            _ => None,
        }
    }

    /// The namespace the action is in, if any.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Action::Pull(r) | Action::Push(r) | Action::Administer(r) => Some(namespace_of(r)),
            Action::CreateRepository(ns)
            | Action::AdministerNamespace(ns)
            | Action::ViewTeam(ns, _)
            | Action::ViewNamespace(ns) => Some(ns),
            _ => None,
        }
    }
}

/// The namespace of a repository: its first path component, or `library`
/// for a one-component name (as `docker pull alpine` means `library/alpine`).
pub fn namespace_of(repository: &str) -> &str {
    match repository.split_once('/') {
        Some((ns, _)) => ns,
        None => "library",
    }
}

/// Switches of the policy from configuration.
#[derive(Debug, Clone, Copy)]
pub struct PolicySettings {
    /// Superusers administer every namespace and repository
    /// (`FEATURE_SUPERUSERS_FULL_ACCESS`).
    pub superusers_full_access: bool,
    /// Anonymous callers may pull public repositories
    /// (`FEATURE_ANONYMOUS_ACCESS`).
    pub anonymous_access: bool,
    /// A user's push to a namespace that does not exist creates it
    /// (`CREATE_NAMESPACE_ON_PUSH`), so users may create there.
    pub create_namespace_on_push: bool,
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            superusers_full_access: false,
            anonymous_access: true,
            create_namespace_on_push: false,
        }
    }
}

/// Whether `principal` may do `action`, given the facts about it.
pub fn decide(
    principal: &Principal,
    action: Action<'_>,
    facts: &AccessFacts,
    settings: PolicySettings,
) -> bool {
    if principal.actor == Actor::Anonymous && !settings.anonymous_access {
        return false;
    }
    let full_superuser =
        matches!(&principal.actor, Actor::User(u) if u.super_user) && settings.superusers_full_access;
    match action {
        Action::Pull(repo) => match facts.repository {
            Some(_) => repo_role(principal, repo, facts, full_superuser).is_some(),
            // Who could create it may learn that it does not exist.
            None => may_create(principal, namespace_of(repo), facts, full_superuser, settings),
        },
        Action::Push(repo) => match facts.repository {
            Some(_) => repo_role(principal, repo, facts, full_superuser) >= Some(Role::Write),
            None => may_create(principal, namespace_of(repo), facts, full_superuser, settings),
        },
        Action::Administer(repo) => {
            facts.repository.is_some()
                && repo_role(principal, repo, facts, full_superuser) == Some(Role::Admin)
        }
        Action::CreateRepository(ns) => may_create(principal, ns, facts, full_superuser, settings),
        Action::AdministerNamespace(ns) => administers_namespace(principal, ns, facts, full_superuser),
        Action::ViewTeam(org, team) => {
            administers_namespace(principal, org, facts, full_superuser)
                || (matches!(facts.namespace, Some((_, AccountKind::Organization)))
                    && matches!(principal.actor, Actor::User(_))
                    && principal.allows(Scope::OrgAdmin)
                    && facts.teams.iter().any(|t| t == team))
        }
        Action::ReadUser => {
            matches!(principal.actor, Actor::User(_))
                && (principal.allows(Scope::UserRead) || principal.allows(Scope::UserAdmin))
        }
        Action::AdministerUser => {
            matches!(principal.actor, Actor::User(_)) && principal.allows(Scope::UserAdmin)
        }
        Action::SuperUser => {
            matches!(&principal.actor, Actor::User(u) if u.super_user) && principal.allows(Scope::SuperUser)
        }
        Action::ViewNamespace(ns) => views_namespace(principal, ns, facts),
        Action::SuperUserFullAccess => {
            settings.superusers_full_access
                && matches!(&principal.actor, Actor::User(u) if u.super_user)
                && principal.allows(Scope::SuperUser)
        }
    }
}

/// Quay's `OrganizationMemberPermission` (any team of the organization,
/// robots included) or the user namespace's own user; superusers see every
/// namespace, as Quay's `SuperUserPermission` reads do.
fn views_namespace(principal: &Principal, ns: &str, facts: &AccessFacts) -> bool {
    if matches!(&principal.actor, Actor::User(u) if u.super_user) && principal.allows(Scope::SuperUser) {
        // Even a namespace that does not exist: they learn it is missing.
        return true;
    }
    let Some((_, kind)) = &facts.namespace else {
        return false;
    };
    match &principal.actor {
        Actor::Anonymous => false,
        Actor::User(u) if *kind == AccountKind::User => u.name == ns && principal.allows(Scope::UserRead),
        Actor::User(_) | Actor::Robot(_) => {
            *kind == AccountKind::Organization
                && !facts.team_roles.is_empty()
                && (principal.allows(Scope::UserRead) || principal.allows(Scope::OrgAdmin))
        }
    }
}

/// The best role `principal` holds on an existing repository, within the
/// limits of its scopes.
fn repo_role(principal: &Principal, repo: &str, facts: &AccessFacts, full_superuser: bool) -> Option<Role> {
    let public = facts.repository.is_some_and(|(_, public)| public);
    let mut best = None;
    match &principal.actor {
        Actor::Anonymous => {}
        Actor::User(u) => {
            if full_superuser || owns_user_namespace(&u.name, namespace_of(repo), facts) {
                best = Some(Role::Admin);
            }
        }
        Actor::Robot(_) => {}
    }
    if !matches!(principal.actor, Actor::Anonymous) {
        if team_role(facts) == Some(TeamRole::Admin) {
            best = Some(Role::Admin);
        }
        best = best.max(facts.repo_roles.iter().filter_map(|r| Role::parse(r)).max());
    }
    let best = best.min(principal.max_repo_role());
    // Public repositories are readable by anyone, whatever the scopes.
    if public { best.max(Some(Role::Read)) } else { best }
}

fn owns_user_namespace(user: &str, ns: &str, facts: &AccessFacts) -> bool {
    user == ns && matches!(facts.namespace, Some((_, AccountKind::User)))
}

fn team_role(facts: &AccessFacts) -> Option<TeamRole> {
    facts.team_roles.iter().filter_map(|r| TeamRole::parse(r)).max()
}

fn may_create(
    principal: &Principal,
    ns: &str,
    facts: &AccessFacts,
    full_superuser: bool,
    settings: PolicySettings,
) -> bool {
    if !principal.allows(Scope::RepoCreate) {
        return false;
    }
    if facts.namespace.is_none() {
        // The push creates the namespace, owned by the pushing user.
        return settings.create_namespace_on_push && matches!(principal.actor, Actor::User(_));
    }
    match &principal.actor {
        Actor::Anonymous => false,
        Actor::User(u) => {
            full_superuser
                || owns_user_namespace(&u.name, ns, facts)
                || team_role(facts) >= Some(TeamRole::Creator)
        }
        Actor::Robot(_) => team_role(facts) >= Some(TeamRole::Creator),
    }
}

fn administers_namespace(principal: &Principal, ns: &str, facts: &AccessFacts, full_superuser: bool) -> bool {
    let Some((_, kind)) = &facts.namespace else {
        return false;
    };
    let Actor::User(u) = &principal.actor else {
        return false;
    };
    if *kind == AccountKind::User {
        principal.allows(Scope::UserAdmin) && (u.name == ns || full_superuser)
    } else {
        principal.allows(Scope::OrgAdmin) && (full_superuser || team_role(facts) == Some(TeamRole::Admin))
    }
}

#[cfg(test)]
mod table;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::principal::{AccountRef, Credential};

    fn user(name: &str, super_user: bool, credential: Credential) -> Principal {
        Principal {
            actor: Actor::User(AccountRef {
                id: 1,
                name: name.into(),
                super_user,
            }),
            credential,
        }
    }

    fn facts(kind: &str, team_roles: &[&str]) -> AccessFacts {
        AccessFacts {
            namespace: Some((7, AccountKind::parse(kind).unwrap())),
            team_roles: team_roles.iter().map(|r| r.to_string()).collect(),
            ..AccessFacts::default()
        }
    }

    #[test]
    fn namespace_members_and_superusers_view_a_namespace() {
        let on = PolicySettings::default();
        let view = Action::ViewNamespace("acme");
        let alice = user("alice", false, Credential::Password);
        assert!(decide(&alice, view, &facts("org", &["member"]), on));
        assert!(!decide(&alice, view, &facts("org", &[]), on));
        assert!(
            !decide(&alice, view, &AccessFacts::default(), on),
            "no such namespace"
        );
        let robot = Principal {
            actor: Actor::Robot(AccountRef {
                id: 2,
                name: "acme+ci".into(),
                super_user: false,
            }),
            credential: Credential::RobotToken,
        };
        assert!(decide(&robot, view, &facts("org", &["member"]), on));
        assert!(!decide(
            &Principal::anonymous(),
            view,
            &facts("org", &["member"]),
            on
        ));
        // A user namespace: its own user only.
        let own = Action::ViewNamespace("alice");
        assert!(decide(&alice, own, &facts("user", &[]), on));
        assert!(!decide(
            &user("bob", false, Credential::Password),
            own,
            &facts("user", &[]),
            on
        ));
        // Superusers, without full access too; not through a token lacking
        // super:user.
        let admin = user("admin", true, Credential::Password);
        assert!(decide(&admin, view, &facts("org", &[]), on));
        assert!(decide(&admin, view, &AccessFacts::default(), on));
        let narrow = user("admin", true, Credential::OAuth(vec![Scope::RepoRead]));
        assert!(!decide(&narrow, view, &facts("org", &[]), on));
        let member_oauth = user("alice", false, Credential::OAuth(vec![Scope::RepoRead]));
        assert!(!decide(&member_oauth, view, &facts("org", &["member"]), on));
    }

    #[test]
    fn full_superuser_access_needs_the_setting() {
        let off = PolicySettings::default();
        let on = PolicySettings {
            superusers_full_access: true,
            ..off
        };
        let none = AccessFacts::default();
        let admin = user("admin", true, Credential::Password);
        assert!(!decide(&admin, Action::SuperUserFullAccess, &none, off));
        assert!(decide(&admin, Action::SuperUserFullAccess, &none, on));
        assert!(decide(&admin, Action::SuperUser, &none, off));
        let alice = user("alice", false, Credential::Password);
        assert!(!decide(&alice, Action::SuperUserFullAccess, &none, on));
        let scoped = user("admin", true, Credential::OAuth(vec![Scope::OrgAdmin]));
        assert!(!decide(&scoped, Action::SuperUserFullAccess, &none, on));
    }
}
