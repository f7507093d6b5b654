//! Roles on one repository granted to users, robots and teams: listing,
//! granting and revoking them, with Quay's rules (the owner of a user
//! namespace is always admin; robots only in their own namespace; teams
//! only of the repository's organization).

use std::collections::HashSet;

use berth_store::metadata::{AccountRow, PermissionRow, RepositoryRow};

use super::policy::{Role, namespace_of};
use super::principal::Principal;
use super::{AuditEvent, Identity, IdentityError};

/// A user's or robot's own role on a repository.
#[derive(Debug, Clone)]
pub struct AccountPermission {
    /// The account's name.
    pub name: String,
    /// `read`, `write` or `admin`.
    pub role: String,
    /// Whether the account is a robot.
    pub is_robot: bool,
    /// For repositories of organizations: whether the account is in one
    /// of its teams (robots always count).
    pub is_org_member: Option<bool>,
}

/// A team's role on a repository.
#[derive(Debug, Clone)]
pub struct TeamPermission {
    /// The team's name.
    pub name: String,
    /// `read`, `write` or `admin`.
    pub role: String,
}

fn parse_role(role: &str) -> Result<Role, IdentityError> {
    Role::parse(role)
        .ok_or_else(|| IdentityError::Invalid(format!("invalid role {role:?}: use read, write or admin")))
}

fn no_user_permission() -> IdentityError {
    IdentityError::Invalid("User does not have permission for repo.".into())
}

fn no_team_permission() -> IdentityError {
    IdentityError::Invalid("Team does not have permission for repo.".into())
}

impl Identity {
    /// Repository `name`, or `NotFound`.
    async fn existing_repository(&self, name: &str) -> Result<RepositoryRow, IdentityError> {
        self.db
            .repository(name)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("repository {name} not found")))
    }

    /// The repository's namespace if it is an organization.
    async fn repository_org(&self, repo: &str) -> Result<Option<AccountRow>, IdentityError> {
        Ok(self
            .db
            .account_by_name(namespace_of(repo))
            .await?
            .filter(|a| a.kind == "org"))
    }

    /// Turn account grants into views, knowing who is in the organization.
    async fn account_views(
        &self,
        repo: &str,
        grants: Vec<PermissionRow>,
    ) -> Result<Vec<AccountPermission>, IdentityError> {
        let members: Option<HashSet<String>> = match self.repository_org(repo).await? {
            Some(org) => Some(
                self.db
                    .org_members(org.id)
                    .await?
                    .into_iter()
                    .map(|m| m.name)
                    .collect(),
            ),
            None => None,
        };
        Ok(grants
            .into_iter()
            .filter_map(|g| {
                let name = g.account?;
                let is_robot = g.account_kind.as_deref() == Some("robot");
                let is_org_member = members.as_ref().map(|m| is_robot || m.contains(&name));
                Some(AccountPermission {
                    name,
                    role: g.role,
                    is_robot,
                    is_org_member,
                })
            })
            .collect())
    }

    /// The users' and robots' own roles on repository `repo`, by name.
    pub async fn repository_account_permissions(
        &self,
        repo: &str,
    ) -> Result<Vec<AccountPermission>, IdentityError> {
        let repository = self.existing_repository(repo).await?;
        let grants = self.db.repository_permissions(repository.id).await?;
        self.account_views(repo, grants).await
    }

    /// `username`'s own role on `repo`; `Invalid` if it has none (as Quay).
    pub async fn repository_account_permission(
        &self,
        repo: &str,
        username: &str,
    ) -> Result<AccountPermission, IdentityError> {
        self.repository_account_permissions(repo)
            .await?
            .into_iter()
            .find(|p| p.name == username)
            .ok_or_else(no_user_permission)
    }

    /// Give user or robot `username` `role` on `repo`, replacing its
    /// earlier role.
    pub async fn grant_to_account(
        &self,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
        repo: &str,
        username: &str,
        role: &str,
    ) -> Result<AccountPermission, IdentityError> {
        let role = parse_role(role)?;
        let ns = namespace_of(repo);
        if username == ns {
            return Err(IdentityError::Invalid(
                "Namespace owner must always be admin.".into(),
            ));
        }
        let repository = self.existing_repository(repo).await?;
        let account = self
            .db
            .account_by_name(username)
            .await?
            .filter(|a| a.kind != "org")
            .ok_or_else(|| IdentityError::Invalid(format!("Invalid username: {username}")))?;
        if account.kind == "robot" && robot_namespace(&account.name) != Some(ns) {
            return Err(IdentityError::Invalid(format!(
                "Cannot add robot {username} under namespace {ns}"
            )));
        }
        let existed = self
            .db
            .repository_permissions(repository.id)
            .await?
            .iter()
            .any(|g| g.account.as_deref() == Some(username));
        self.db
            .set_account_permission(repository.id, account.id, role.as_str())
            .await?;
        let kind = if existed {
            "change_repo_permission"
        } else {
            "add_repo_permission"
        };
        self.audit
            .record_now(
                AuditEvent::new(kind, principal, ip)
                    .repository(repo)
                    .metadata(serde_json::json!({
                        "username": username,
                        "repo": short_name(repo),
                        "namespace": ns,
                        "role": role.as_str(),
                    })),
            )
            .await?;
        self.repository_account_permission(repo, username).await
    }

    /// Take `username`'s own role on `repo` away.
    pub async fn revoke_from_account(
        &self,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
        repo: &str,
        username: &str,
    ) -> Result<(), IdentityError> {
        let ns = namespace_of(repo);
        if username == ns {
            return Err(IdentityError::Invalid(
                "Namespace owner must always be admin.".into(),
            ));
        }
        let repository = self.existing_repository(repo).await?;
        let account = self
            .db
            .account_by_name(username)
            .await?
            .ok_or_else(no_user_permission)?;
        if !self
            .db
            .delete_account_permission(repository.id, account.id)
            .await?
        {
            return Err(no_user_permission());
        }
        self.audit
            .record_now(
                AuditEvent::new("delete_repo_permission", principal, ip)
                    .repository(repo)
                    .metadata(serde_json::json!({
                        "username": username,
                        "repo": short_name(repo),
                        "namespace": ns,
                    })),
            )
            .await?;
        Ok(())
    }

    /// The roles `username` holds on `repo` by itself and through its
    /// teams; `NotFound` for an unknown user, an unknown repository or no
    /// role at all.
    pub async fn transitive_roles(&self, repo: &str, username: &str) -> Result<Vec<Role>, IdentityError> {
        let not_found = || IdentityError::NotFound(format!("{username} has no role on {repo}"));
        let account = self
            .db
            .account_by_name(username)
            .await?
            .filter(|a| a.kind != "org")
            .ok_or_else(not_found)?;
        let facts = self
            .db
            .access_facts(Some(account.id), namespace_of(repo), Some(repo))
            .await?;
        let roles: Vec<Role> = facts.repo_roles.iter().filter_map(|r| Role::parse(r)).collect();
        if roles.is_empty() {
            return Err(not_found());
        }
        Ok(roles)
    }

    /// The teams' roles on `repo`, by name.
    pub async fn repository_team_permissions(
        &self,
        repo: &str,
    ) -> Result<Vec<TeamPermission>, IdentityError> {
        let repository = self.existing_repository(repo).await?;
        Ok(self
            .db
            .repository_permissions(repository.id)
            .await?
            .into_iter()
            .filter_map(|g| {
                Some(TeamPermission {
                    name: g.team?,
                    role: g.role,
                })
            })
            .collect())
    }

    /// Team `team`'s role on `repo`; `Invalid` if it has none (as Quay).
    pub async fn repository_team_permission(
        &self,
        repo: &str,
        team: &str,
    ) -> Result<TeamPermission, IdentityError> {
        self.repository_team_permissions(repo)
            .await?
            .into_iter()
            .find(|p| p.name == team)
            .ok_or_else(no_team_permission)
    }

    /// Give team `team` of the repository's organization `role` on `repo`.
    pub async fn grant_to_team(
        &self,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
        repo: &str,
        team: &str,
        role: &str,
    ) -> Result<TeamPermission, IdentityError> {
        let role = parse_role(role)?;
        let repository = self.existing_repository(repo).await?;
        let team_row = self.org_team_of(repo, team).await?;
        let existed = self
            .db
            .repository_permissions(repository.id)
            .await?
            .iter()
            .any(|g| g.team.as_deref() == Some(team));
        self.db
            .set_team_permission(repository.id, team_row.id, role.as_str())
            .await?;
        let kind = if existed {
            "change_repo_permission"
        } else {
            "add_repo_permission"
        };
        self.audit
            .record_now(
                AuditEvent::new(kind, principal, ip)
                    .repository(repo)
                    .metadata(serde_json::json!({
                        "team": team,
                        "repo": short_name(repo),
                        "role": role.as_str(),
                    })),
            )
            .await?;
        Ok(TeamPermission {
            name: team_row.name,
            role: role.as_str().to_owned(),
        })
    }

    /// Take team `team`'s role on `repo` away.
    pub async fn revoke_from_team(
        &self,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
        repo: &str,
        team: &str,
    ) -> Result<(), IdentityError> {
        let repository = self.existing_repository(repo).await?;
        let team_row = self
            .org_team_of(repo, team)
            .await
            .map_err(|_| no_team_permission())?;
        if !self.db.delete_team_permission(repository.id, team_row.id).await? {
            return Err(no_team_permission());
        }
        self.audit
            .record_now(
                AuditEvent::new("delete_repo_permission", principal, ip)
                    .repository(repo)
                    .metadata(serde_json::json!({ "team": team, "repo": short_name(repo) })),
            )
            .await?;
        Ok(())
    }

    /// Team `team` of the organization owning `repo`; `Invalid` if there
    /// is none (as Quay).
    async fn org_team_of(
        &self,
        repo: &str,
        team: &str,
    ) -> Result<berth_store::metadata::TeamRow, IdentityError> {
        let ns = namespace_of(repo);
        let missing = || IdentityError::Invalid(format!("No team {team} in organization {ns}"));
        let org = self.repository_org(repo).await?.ok_or_else(missing)?;
        self.db.team(org.id, team).await?.ok_or_else(missing)
    }
}

/// The namespace of robot `owner+short`.
fn robot_namespace(name: &str) -> Option<&str> {
    name.split_once('+').map(|(ns, _)| ns)
}

/// `name` of `ns/name`.
fn short_name(repo: &str) -> &str {
    repo.split_once('/').map_or(repo, |(_, name)| name)
}
