//! Roles on one repository granted to users, robots and teams: listing,
//! granting and revoking them, with Quay's rules (the owner of a user
//! namespace is always admin; robots only in their own namespace; teams
//! only of the repository's organization).

use std::collections::HashSet;

use berth_store::metadata::{AccountRow, PermissionRow, RepositoryRow, TeamRow};

use crate::Caller;
use crate::names::RepositoryName;

use super::policy::{Action, Role};
use super::teams::TeamName;
use super::{AuditEvent, Identity, IdentityError};

/// A user's or robot's own role on a repository.
#[derive(Debug, Clone)]
pub struct AccountPermission {
    /// The account's name.
    pub name: String,
    /// The account's own role.
    pub role: Role,
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
    /// The team's role.
    pub role: Role,
}

/// A role read back from the store.
fn stored_role(role: &str) -> Result<Role, IdentityError> {
    Role::parse(role).ok_or_else(|| IdentityError::Internal(format!("stored role {role:?}")))
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
    async fn repository_org(&self, repo: &RepositoryName) -> Result<Option<AccountRow>, IdentityError> {
        Ok(self
            .db
            .account_by_name(repo.namespace())
            .await?
            .filter(|a| a.kind == "org"))
    }

    /// Turn account grants into views, knowing who is in the organization.
    async fn account_views(
        &self,
        repo: &RepositoryName,
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
        grants
            .into_iter()
            .filter_map(|g| {
                let name = g.account?;
                let is_robot = g.account_kind.as_deref() == Some("robot");
                let is_org_member = members.as_ref().map(|m| is_robot || m.contains(&name));
                Some(stored_role(&g.role).map(|role| AccountPermission {
                    name,
                    role,
                    is_robot,
                    is_org_member,
                }))
            })
            .collect()
    }

    /// The users' and robots' own roles on repository `repo`, by name; for
    /// its administrators.
    pub async fn repository_account_permissions(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
    ) -> Result<Vec<AccountPermission>, IdentityError> {
        self.authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        self.account_grants(repo).await
    }

    /// The users' and robots' own roles on `repo`, without asking who
    /// wants to know.
    async fn account_grants(&self, repo: &RepositoryName) -> Result<Vec<AccountPermission>, IdentityError> {
        let repository = self.existing_repository(repo.as_str()).await?;
        let grants = self.db.repository_permissions(repository.id).await?;
        self.account_views(repo, grants).await
    }

    /// `username`'s own role on `repo`; `Invalid` if it has none (as Quay).
    pub async fn repository_account_permission(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        username: &str,
    ) -> Result<AccountPermission, IdentityError> {
        self.authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        self.account_grant(repo, username).await
    }

    /// `username`'s own role on `repo`, without asking who wants to know.
    async fn account_grant(
        &self,
        repo: &RepositoryName,
        username: &str,
    ) -> Result<AccountPermission, IdentityError> {
        self.account_grants(repo)
            .await?
            .into_iter()
            .find(|p| p.name == username)
            .ok_or_else(no_user_permission)
    }

    /// Give user or robot `username` `role` on `repo`, replacing its
    /// earlier role.
    pub async fn grant_to_account(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        username: &str,
        role: Role,
    ) -> Result<AccountPermission, IdentityError> {
        self.authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        let ns = repo.namespace();
        if username == ns {
            return Err(IdentityError::Invalid(
                "Namespace owner must always be admin.".into(),
            ));
        }
        let repository = self.existing_repository(repo.as_str()).await?;
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
                AuditEvent::by(kind, caller)
                    .repository(repo.as_str())
                    .metadata(serde_json::json!({
                        "username": username,
                        "repo": repo.short(),
                        "namespace": ns,
                        "role": role.as_str(),
                    })),
            )
            .await?;
        self.account_grant(repo, username).await
    }

    /// Take `username`'s own role on `repo` away.
    pub async fn revoke_from_account(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        username: &str,
    ) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        let ns = repo.namespace();
        if username == ns {
            return Err(IdentityError::Invalid(
                "Namespace owner must always be admin.".into(),
            ));
        }
        let repository = self.existing_repository(repo.as_str()).await?;
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
                AuditEvent::by("delete_repo_permission", caller)
                    .repository(repo.as_str())
                    .metadata(serde_json::json!({
                        "username": username,
                        "repo": repo.short(),
                        "namespace": ns,
                    })),
            )
            .await?;
        Ok(())
    }

    /// The roles `username` holds on `repo` by itself and through its
    /// teams; `NotFound` for an unknown user, an unknown repository or no
    /// role at all.
    pub async fn transitive_roles(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        username: &str,
    ) -> Result<Vec<Role>, IdentityError> {
        self.authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        let not_found = || IdentityError::NotFound(format!("{username} has no role on {repo}"));
        let account = self
            .db
            .account_by_name(username)
            .await?
            .filter(|a| a.kind != "org")
            .ok_or_else(not_found)?;
        let facts = self
            .db
            .access_facts(Some(account.id), repo.namespace(), Some(repo.as_str()))
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
        caller: &Caller,
        repo: &RepositoryName,
    ) -> Result<Vec<TeamPermission>, IdentityError> {
        self.authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        self.team_permissions_on(repo).await
    }

    /// The teams' roles on `repo`, without asking who wants to know.
    async fn team_permissions_on(&self, repo: &RepositoryName) -> Result<Vec<TeamPermission>, IdentityError> {
        let repository = self.existing_repository(repo.as_str()).await?;
        self.db
            .repository_permissions(repository.id)
            .await?
            .into_iter()
            .filter_map(|g| {
                let name = g.team?;
                Some(stored_role(&g.role).map(|role| TeamPermission { name, role }))
            })
            .collect()
    }

    /// Team `team`'s role on `repo`; `Invalid` if it has none (as Quay).
    pub async fn repository_team_permission(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        team: &TeamName,
    ) -> Result<TeamPermission, IdentityError> {
        self.authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        let team = team.as_str();
        self.team_permissions_on(repo)
            .await?
            .into_iter()
            .find(|p| p.name == team)
            .ok_or_else(no_team_permission)
    }

    /// Give team `team` of the repository's organization `role` on `repo`.
    pub async fn grant_to_team(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        team: &TeamName,
        role: Role,
    ) -> Result<TeamPermission, IdentityError> {
        self.authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        let team = team.as_str();
        let repository = self.existing_repository(repo.as_str()).await?;
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
                AuditEvent::by(kind, caller)
                    .repository(repo.as_str())
                    .metadata(serde_json::json!({
                        "team": team,
                        "repo": repo.short(),
                        "role": role.as_str(),
                    })),
            )
            .await?;
        Ok(TeamPermission {
            name: team_row.name,
            role,
        })
    }

    /// Take team `team`'s role on `repo` away.
    pub async fn revoke_from_team(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        team: &TeamName,
    ) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        let team = team.as_str();
        let repository = self.existing_repository(repo.as_str()).await?;
        let team_row = self
            .org_team_of(repo, team)
            .await
            .map_err(|_| no_team_permission())?;
        if !self.db.delete_team_permission(repository.id, team_row.id).await? {
            return Err(no_team_permission());
        }
        self.audit
            .record_now(
                AuditEvent::by("delete_repo_permission", caller)
                    .repository(repo.as_str())
                    .metadata(serde_json::json!({ "team": team, "repo": repo.short() })),
            )
            .await?;
        Ok(())
    }

    /// Team `team` of the organization owning `repo`; `Invalid` if there
    /// is none (as Quay).
    async fn org_team_of(&self, repo: &RepositoryName, team: &str) -> Result<TeamRow, IdentityError> {
        let ns = repo.namespace();
        let missing = || IdentityError::Invalid(format!("No team {team} in organization {ns}"));
        let org = self.repository_org(repo).await?.ok_or_else(missing)?;
        self.db.team(org.id, team).await?.ok_or_else(missing)
    }
}

/// The namespace of robot `owner+short`.
fn robot_namespace(name: &str) -> Option<&str> {
    name.split_once('+').map(|(ns, _)| ns)
}
