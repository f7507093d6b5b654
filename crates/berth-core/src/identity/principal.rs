//! Who is asking: an actor (anonymous, a user or a robot) and the
//! credential that proved it, which may narrow what the actor may do.

use super::policy::Role;

/// An OAuth scope (Quay's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// View and pull visible repositories.
    RepoRead,
    /// Also push where the user may write.
    RepoWrite,
    /// Also administer repositories.
    RepoAdmin,
    /// Create repositories where the user may.
    RepoCreate,
    /// Read the user's own account.
    UserRead,
    /// Administer the user's own account (robots, tokens, permissions).
    UserAdmin,
    /// Administer organizations the user administers.
    OrgAdmin,
    /// The superuser panel.
    SuperUser,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 8] = [
        Scope::RepoRead,
        Scope::RepoWrite,
        Scope::RepoAdmin,
        Scope::RepoCreate,
        Scope::UserRead,
        Scope::UserAdmin,
        Scope::OrgAdmin,
        Scope::SuperUser,
    ];

    /// Parse a scope name such as `repo:read`.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::RepoRead => "repo:read",
            Scope::RepoWrite => "repo:write",
            Scope::RepoAdmin => "repo:admin",
            Scope::RepoCreate => "repo:create",
            Scope::UserRead => "user:read",
            Scope::UserAdmin => "user:admin",
            Scope::OrgAdmin => "org:admin",
            Scope::SuperUser => "super:user",
        }
    }

    /// What the scope is for, as shown to users.
    pub fn description(self) -> &'static str {
        match self {
            Scope::RepoRead => "View all visible repositories",
            Scope::RepoWrite => "Read/Write to any accessible repositories",
            Scope::RepoAdmin => "Administer Repositories",
            Scope::RepoCreate => "Create Repositories",
            Scope::UserRead => "Read User Information",
            Scope::UserAdmin => "Administer User",
            Scope::OrgAdmin => "Administer Organization",
            Scope::SuperUser => "Super User Access",
        }
    }

    /// Parse a space- or comma-separated list; unknown names are errors.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, String> {
        let mut out: Vec<Scope> = Vec::new();
        for name in s.split([' ', ',']).filter(|n| !n.is_empty()) {
            let scope = Scope::parse(name).ok_or_else(|| format!("unknown scope {name:?}"))?;
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        out.sort();
        Ok(out)
    }

    /// A list in its stored form (space-separated).
    pub fn join(scopes: &[Scope]) -> String {
        scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// An account, as much as the policy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRef {
    /// Row id.
    pub id: i64,
    /// Name (`owner+short` for robots).
    pub name: String,
    /// Superuser flag (users only).
    pub super_user: bool,
}

/// Who acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// No credentials.
    Anonymous,
    /// A user.
    User(AccountRef),
    /// A robot account.
    Robot(AccountRef),
}

/// How the actor proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing.
    None,
    /// A user's password.
    Password,
    /// A robot's token.
    RobotToken,
    /// A user's app-specific token.
    AppToken,
    /// An OAuth access token limited to these scopes.
    OAuth(Vec<Scope>),
    /// A registry token (JWT) issued by `/v2/auth`.
    RegistryToken,
}

/// An authenticated (or anonymous) caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who.
    pub actor: Actor,
    /// How it was proven.
    pub credential: Credential,
}

impl Principal {
    /// The anonymous caller.
    pub fn anonymous() -> Principal {
        Principal {
            actor: Actor::Anonymous,
            credential: Credential::None,
        }
    }

    /// The actor's account, if any.
    pub fn account(&self) -> Option<&AccountRef> {
        match &self.actor {
            Actor::Anonymous => None,
            Actor::User(a) | Actor::Robot(a) => Some(a),
        }
    }

    /// The actor's name, if any.
    pub fn name(&self) -> Option<&str> {
        self.account().map(|a| a.name.as_str())
    }

    /// `user`, `robot` or `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self.actor {
            Actor::Anonymous => "anonymous",
            Actor::User(_) => "user",
            Actor::Robot(_) => "robot",
        }
    }

    /// Whether the credential permits what `scope` covers. Only OAuth
    /// tokens are limited; other credentials carry the account's full
    /// rights.
    pub fn allows(&self, scope: Scope) -> bool {
        match &self.credential {
            Credential::OAuth(scopes) => {
                scopes.contains(&scope)
                    || match scope {
                        Scope::RepoRead => {
                            scopes.contains(&Scope::RepoWrite) || scopes.contains(&Scope::RepoAdmin)
                        }
                        Scope::RepoWrite => scopes.contains(&Scope::RepoAdmin),
                        Scope::UserRead => scopes.contains(&Scope::UserAdmin),
                        _ => false,
                    }
            }
            _ => true,
        }
    }

    /// The highest repository role the credential can confer.
    pub fn max_repo_role(&self) -> Option<Role> {
        if self.allows(Scope::RepoAdmin) {
            Some(Role::Admin)
        } else if self.allows(Scope::RepoWrite) {
            Some(Role::Write)
        } else if self.allows(Scope::RepoRead) {
            Some(Role::Read)
        } else {
            None
        }
    }
}
