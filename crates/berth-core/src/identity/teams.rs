//! Teams of an organization: creating and changing them, their members,
//! and the rule that keeps every organization administered: the `owners`
//! team cannot be deleted, keeps the admin role and keeps at least one
//! user.

use std::fmt;

use berth_store::metadata::{AccountRow, KeepUser, MemberRemoval, MemberRow, PermissionRow, TeamRow};

use crate::Caller;
use crate::names::{AccountKind, InvalidName, Namespace, RepositoryName, Visibility};

use super::accounts::{Account, validate_account_name};
use super::policy::{Action, Role, TeamRole};
use super::{AuditEvent, Identity, IdentityError};

/// The team every organization is created with, holding its creator.
pub const OWNERS_TEAM: &str = "owners";

/// Team names: Quay's rule (`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`, 2 to 255
/// characters), the same as for account names.
pub fn validate_team_name(name: &str) -> Result<(), IdentityError> {
    validate_account_name(name).map_err(|_| {
        IdentityError::Invalid(format!(
            "invalid team name {name:?}: use 2 to 255 lowercase letters and digits, separated by single '.', '_' or '-'"
        ))
    })
}

/// The name of a team, validated where it enters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TeamName(String);

impl TeamName {
    /// Validate `name`.
    pub fn new(name: impl Into<String>) -> Result<TeamName, InvalidName> {
        let name = name.into();
        validate_team_name(&name).map_err(|e| InvalidName(e.to_string()))?;
        Ok(TeamName(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TeamName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A team of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Name, unique in the organization.
    pub name: String,
    /// The team's organization-wide role.
    pub role: TeamRole,
    /// Free text (Markdown).
    pub description: String,
    /// Members (users and robots).
    pub member_count: i64,
    /// Repositories the team has a role on.
    pub repo_count: i64,
}

impl TryFrom<TeamRow> for Team {
    type Error = IdentityError;

    fn try_from(row: TeamRow) -> Result<Team, IdentityError> {
        let role = TeamRole::parse(&row.role)
            .ok_or_else(|| IdentityError::Internal(format!("team {} has role {:?}", row.id, row.role)))?;
        Ok(Team {
            name: row.name,
            role,
            description: row.description,
            member_count: row.member_count,
            repo_count: row.repo_count,
        })
    }
}

/// A member of a team: a user or a robot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    /// The account's name.
    pub name: String,
    /// User or robot.
    pub kind: AccountKind,
}

impl TeamMember {
    /// Whether the member is a robot.
    pub fn is_robot(&self) -> bool {
        self.kind == AccountKind::Robot
    }
}

impl TryFrom<MemberRow> for TeamMember {
    type Error = IdentityError;

    fn try_from(row: MemberRow) -> Result<TeamMember, IdentityError> {
        let kind = AccountKind::parse(&row.kind)
            .ok_or_else(|| IdentityError::Internal(format!("account {} has kind {:?}", row.id, row.kind)))?;
        Ok(TeamMember { name: row.name, kind })
    }
}

/// What creating or updating a team did.
#[derive(Debug, Clone)]
pub struct TeamUpdate {
    /// The team as it is now.
    pub team: Team,
    /// Whether it was created.
    pub created: bool,
    /// Whether the caller may view the team (its members).
    pub can_view: bool,
}

/// A team with its members, as its members and administrators see it.
#[derive(Debug, Clone)]
pub struct TeamMembers {
    /// The team.
    pub team: Team,
    /// Its members, by name.
    pub members: Vec<TeamMember>,
    /// Whether the caller may change the team (administers the
    /// organization).
    pub can_edit: bool,
}

/// A role a team holds on one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRepositoryRole {
    /// The repository.
    pub repository: RepositoryName,
    /// Its visibility.
    pub visibility: Visibility,
    /// The team's role on it.
    pub role: Role,
}

impl TryFrom<PermissionRow> for TeamRepositoryRole {
    type Error = IdentityError;

    fn try_from(row: PermissionRow) -> Result<TeamRepositoryRole, IdentityError> {
        let repository = RepositoryName::new(row.repository)
            .map_err(|e| IdentityError::Internal(format!("stored repository name: {e}")))?;
        let role = Role::parse(&row.role)
            .ok_or_else(|| IdentityError::Internal(format!("stored role {:?}", row.role)))?;
        Ok(TeamRepositoryRole {
            repository,
            visibility: Visibility::from_public(row.is_public),
            role,
        })
    }
}

impl Identity {
    /// Team `name` of organization `org`, or `NotFound`.
    pub(crate) async fn team(&self, org: &AccountRow, name: &str) -> Result<TeamRow, IdentityError> {
        self.db.team(org.id, name).await?.ok_or_else(|| {
            IdentityError::NotFound(format!("team {name} not found in organization {}", org.name))
        })
    }

    /// Create team `name` in `org` with `role` and `description`, or change
    /// an existing team's role and (if given) description.
    pub async fn put_team(
        &self,
        caller: &Caller,
        org: &Namespace,
        name: &TeamName,
        role: TeamRole,
        description: Option<&str>,
    ) -> Result<TeamUpdate, IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = self.organization(org.as_str()).await?;
        let name = name.as_str();
        if name == OWNERS_TEAM && role != TeamRole::Admin {
            return Err(IdentityError::Invalid(
                "the owners team must keep the admin role, or the organization could lose its last administrator"
                    .into(),
            ));
        }
        let before = self.db.team(org.id, name).await?;
        let (_, created) = self
            .db
            .upsert_team(org.id, name, role.as_str(), description)
            .await?;
        let event = |kind| AuditEvent::by(kind, caller).namespace(&org.name);
        if created {
            self.audit
                .record_now(event("org_create_team").metadata(serde_json::json!({ "team": name })))
                .await?;
        } else if let Some(before) = &before {
            if let Some(description) = description.filter(|d| *d != before.description) {
                self.audit
                    .record_now(
                        event("org_set_team_description")
                            .metadata(serde_json::json!({ "team": name, "description": description })),
                    )
                    .await?;
            }
            if before.role != role.as_str() {
                self.audit
                    .record_now(
                        event("org_set_team_role")
                            .metadata(serde_json::json!({ "team": name, "role": role.as_str() })),
                    )
                    .await?;
            }
        }
        Ok(TeamUpdate {
            team: self.team(&org, name).await?.try_into()?,
            created,
            can_view: self
                .allowed(&caller.principal, Action::ViewTeam(&org.name, name))
                .await?,
        })
    }

    /// Delete team `name` of `org` (never `owners`).
    pub async fn delete_team(
        &self,
        caller: &Caller,
        org: &Namespace,
        name: &TeamName,
    ) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = self.organization(org.as_str()).await?;
        let name = name.as_str();
        let team = self.team(&org, name).await?;
        if team.name == OWNERS_TEAM {
            return Err(IdentityError::Invalid("the owners team cannot be deleted".into()));
        }
        self.db.delete_team(team.id).await?;
        self.audit
            .record_now(
                AuditEvent::by("org_delete_team", caller)
                    .namespace(&org.name)
                    .metadata(serde_json::json!({ "team": name })),
            )
            .await?;
        Ok(())
    }

    /// The members (users and robots) of a team, by name; for its human
    /// members and the organization's administrators.
    pub async fn team_members(
        &self,
        caller: &Caller,
        org: &Namespace,
        team: &TeamName,
    ) -> Result<TeamMembers, IdentityError> {
        self.authorize(&caller.principal, Action::ViewTeam(org.as_str(), team.as_str()))
            .await?;
        let can_edit = self
            .allowed(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = self.organization(org.as_str()).await?;
        let team = self.team(&org, team.as_str()).await?;
        let members = self
            .db
            .team_members(team.id)
            .await?
            .into_iter()
            .map(TeamMember::try_from)
            .collect::<Result<_, _>>()?;
        Ok(TeamMembers {
            team: team.try_into()?,
            members,
            can_edit,
        })
    }

    /// The repositories a team has a role on, by name.
    pub async fn team_permissions(
        &self,
        caller: &Caller,
        org: &Namespace,
        team: &TeamName,
    ) -> Result<Vec<TeamRepositoryRole>, IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = self.organization(org.as_str()).await?;
        let team = self.team(&org, team.as_str()).await?;
        self.db
            .team_permissions(team.id)
            .await?
            .into_iter()
            .map(TeamRepositoryRole::try_from)
            .collect()
    }

    /// Add user or robot `member` to team `team_name` of `org`. Robots must
    /// belong to the organization.
    pub async fn add_team_member(
        &self,
        caller: &Caller,
        org: &Namespace,
        team_name: &TeamName,
        member: &str,
    ) -> Result<Account, IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = self.organization(org.as_str()).await?;
        let team_name = team_name.as_str();
        let team = self.team(&org, team_name).await?;
        let account = self
            .db
            .account_by_name(member)
            .await?
            .filter(|a| a.kind != "org")
            .ok_or_else(|| IdentityError::Invalid(format!("Unknown user {member}")))?;
        if account.kind == "robot" && account.owner_id != Some(org.id) {
            return Err(IdentityError::Invalid(
                "Cannot add the specified robot to this team, as it is not a member of the organization"
                    .into(),
            ));
        }
        if !self.db.add_team_member(team.id, account.id).await? {
            return Err(IdentityError::Invalid(format!(
                "User {member} is already a member of team {team_name}"
            )));
        }
        self.audit
            .record_now(
                AuditEvent::by("org_add_team_member", caller)
                    .namespace(&org.name)
                    .metadata(serde_json::json!({ "member": member, "team": team_name })),
            )
            .await?;
        account.try_into()
    }

    /// Remove `member` from team `team_name` of `org`; the last user of
    /// `owners` stays.
    pub async fn remove_team_member(
        &self,
        caller: &Caller,
        org: &Namespace,
        team_name: &TeamName,
        member: &str,
    ) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = self.organization(org.as_str()).await?;
        let team_name = team_name.as_str();
        let team = self.team(&org, team_name).await?;
        let account = self
            .db
            .account_by_name(member)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("Unknown user {member}")))?;
        let keep = (team.name == OWNERS_TEAM).then_some(KeepUser {
            org_id: org.id,
            team: OWNERS_TEAM,
        });
        match self.db.remove_team_member(team.id, account.id, keep).await? {
            MemberRemoval::Removed => {}
            MemberRemoval::NotMember => {
                return Err(IdentityError::Invalid(format!(
                    "User {member} does not belong to team {team_name}"
                )));
            }
            MemberRemoval::LastUser => return Err(last_owner(&account)),
        }
        self.audit
            .record_now(
                AuditEvent::by("org_remove_team_member", caller)
                    .namespace(&org.name)
                    .metadata(serde_json::json!({ "member": member, "team": team_name })),
            )
            .await?;
        Ok(())
    }
}

/// The refusal to remove the last user of `owners`: the organization would
/// have no administrator (robots cannot administer).
pub(crate) fn last_owner(account: &AccountRow) -> IdentityError {
    IdentityError::Invalid(format!(
        "cannot remove {}: it is the last user of the owners team, and the organization would have no administrator",
        account.name
    ))
}

#[cfg(test)]
mod tests;
