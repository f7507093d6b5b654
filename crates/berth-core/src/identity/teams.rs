//! Teams of an organization: creating and changing them, their members,
//! and the rule that keeps every organization administered: the `owners`
//! team cannot be deleted, keeps the admin role and keeps at least one
//! user.

use berth_store::metadata::{AccountRow, KeepUser, MemberRemoval, MemberRow, PermissionRow, TeamRow};

use super::accounts::validate_account_name;
use super::policy::TeamRole;
use super::principal::Principal;
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

/// What creating or updating a team did.
#[derive(Debug, Clone)]
pub struct TeamUpdate {
    /// The team as it is now.
    pub team: TeamRow,
    /// Whether it was created.
    pub created: bool,
}

impl Identity {
    /// Team `name` of organization `org`, or `NotFound`.
    pub async fn team(&self, org: &AccountRow, name: &str) -> Result<TeamRow, IdentityError> {
        self.db.team(org.id, name).await?.ok_or_else(|| {
            IdentityError::NotFound(format!("team {name} not found in organization {}", org.name))
        })
    }

    /// Create team `name` in `org` with `role` (`member`, `creator` or
    /// `admin`) and `description`, or change an existing team's role and
    /// (if given) description.
    pub async fn put_team(
        &self,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
        org: &AccountRow,
        name: &str,
        role: &str,
        description: Option<&str>,
    ) -> Result<TeamUpdate, IdentityError> {
        let role = TeamRole::parse(role).ok_or_else(|| {
            IdentityError::Invalid(format!(
                "invalid team role {role:?}: use member, creator or admin"
            ))
        })?;
        validate_team_name(name)?;
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
        let event = |kind| AuditEvent::new(kind, principal, ip).namespace(&org.name);
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
            team: self.team(org, name).await?,
            created,
        })
    }

    /// Delete team `name` of `org` (never `owners`).
    pub async fn delete_team(
        &self,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
        org: &AccountRow,
        name: &str,
    ) -> Result<(), IdentityError> {
        let team = self.team(org, name).await?;
        if team.name == OWNERS_TEAM {
            return Err(IdentityError::Invalid("the owners team cannot be deleted".into()));
        }
        self.db.delete_team(team.id).await?;
        self.audit
            .record_now(
                AuditEvent::new("org_delete_team", principal, ip)
                    .namespace(&org.name)
                    .metadata(serde_json::json!({ "team": name })),
            )
            .await?;
        Ok(())
    }

    /// The members (users and robots) of a team, by name.
    pub async fn team_members(&self, team: &TeamRow) -> Result<Vec<MemberRow>, IdentityError> {
        Ok(self.db.team_members(team.id).await?)
    }

    /// The repositories a team has a role on.
    pub async fn team_permissions(&self, team: &TeamRow) -> Result<Vec<PermissionRow>, IdentityError> {
        Ok(self.db.team_permissions(team.id).await?)
    }

    /// Add user or robot `member` to team `team_name` of `org`. Robots must
    /// belong to the organization.
    pub async fn add_team_member(
        &self,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
        org: &AccountRow,
        team_name: &str,
        member: &str,
    ) -> Result<AccountRow, IdentityError> {
        let team = self.team(org, team_name).await?;
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
                AuditEvent::new("org_add_team_member", principal, ip)
                    .namespace(&org.name)
                    .metadata(serde_json::json!({ "member": member, "team": team_name })),
            )
            .await?;
        Ok(account)
    }

    /// Remove `member` from team `team_name` of `org`; the last user of
    /// `owners` stays.
    pub async fn remove_team_member(
        &self,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
        org: &AccountRow,
        team_name: &str,
        member: &str,
    ) -> Result<(), IdentityError> {
        let team = self.team(org, team_name).await?;
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
                AuditEvent::new("org_remove_team_member", principal, ip)
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
mod tests {
    use berth_store::metadata::{AuditQuery, NewAccount};
    use berth_store::{Db, PoolSettings};

    use super::*;
    use crate::identity::policy::Action;
    use crate::identity::principal::{AccountRef, Actor, Credential};
    use crate::identity::{IdentityConfig, OrganizationChange, TeamPermission};

    /// An identity service on a fresh SQLite database; the directory is
    /// removed by the caller.
    async fn identity() -> (Identity, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("berth-teams-{}", uuid::Uuid::new_v4()));
        let db = Db::open_sqlite(&dir, PoolSettings::default()).await.unwrap();
        (Identity::start(db, IdentityConfig::default()).await.unwrap(), dir)
    }

    fn user(account: &AccountRow) -> Principal {
        Principal {
            actor: Actor::User(AccountRef {
                id: account.id,
                name: account.name.clone(),
                super_user: false,
            }),
            credential: Credential::Password,
        }
    }

    async fn robot(identity: &Identity, owner: &AccountRow, short: &str) -> AccountRow {
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

    #[tokio::test]
    async fn robots_join_only_their_own_organization_and_never_count_as_owners() {
        let (identity, dir) = identity().await;
        let alice = identity
            .create_user("alice", None, "alice-password", false)
            .await
            .unwrap();
        let me = user(&alice);
        let acme = identity
            .create_organization("acme", None, &me, None)
            .await
            .unwrap();
        let org_bot = robot(&identity, &acme, "bot").await;
        robot(&identity, &alice, "bot").await;
        identity
            .put_team(&me, None, &acme, "devs", "member", None)
            .await
            .unwrap();

        // Team membership: the organization's robots only.
        let added = identity
            .add_team_member(&me, None, &acme, "devs", "acme+bot")
            .await
            .unwrap();
        assert_eq!(added.id, org_bot.id);
        let err = identity
            .add_team_member(&me, None, &acme, "devs", "alice+bot")
            .await
            .unwrap_err();
        assert!(matches!(err, IdentityError::Invalid(_)), "{err}");

        // Robots are members of their organization without teams, but not
        // listed among its (human) members.
        let member = identity.organization_member(&acme, "acme+bot").await.unwrap();
        assert!(member.is_robot);
        assert_eq!(member.teams, ["devs"]);
        assert!(identity.organization_member(&acme, "alice+bot").await.is_err());
        let members = identity.organization_members(&acme).await.unwrap();
        assert_eq!(
            members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["alice"]
        );

        // A robot in owners does not keep the organization administered.
        identity
            .add_team_member(&me, None, &acme, OWNERS_TEAM, "acme+bot")
            .await
            .unwrap();
        let err = identity
            .remove_team_member(&me, None, &acme, OWNERS_TEAM, "alice")
            .await
            .unwrap_err();
        assert!(matches!(err, IdentityError::Invalid(_)), "{err}");
        identity
            .remove_team_member(&me, None, &acme, OWNERS_TEAM, "acme+bot")
            .await
            .unwrap();

        // Repository roles: robots of the repository's namespace only.
        identity
            .create_repository(&me, "acme/app", false, "", None)
            .await
            .unwrap();
        let granted = identity
            .grant_to_account(&me, None, "acme/app", "acme+bot", "write")
            .await
            .unwrap();
        assert!(granted.is_robot);
        assert_eq!(granted.is_org_member, Some(true));
        let err = identity
            .grant_to_account(&me, None, "acme/app", "alice+bot", "read")
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
            .add_team_member(&me, None, &acme, "devs", "bob")
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
        let team: TeamPermission = identity
            .grant_to_team(&me, None, "acme/app", "devs", "read")
            .await
            .unwrap();
        assert_eq!(team.role, "read");
        identity
            .create_repository(&user(&bob), "bob/own", false, "", None)
            .await
            .unwrap();
        assert!(
            identity
                .grant_to_team(&me, None, "bob/own", "devs", "read")
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
        let acme = identity
            .create_organization("acme", None, &me, None)
            .await
            .unwrap();
        let change = OrganizationChange {
            email: Some("ops@acme.example".into()),
            invoice_email: Some(true),
            tag_expiration_s: Some(86_400),
            ..OrganizationChange::default()
        };
        identity
            .change_organization(&me, None, &acme, change)
            .await
            .unwrap();
        identity
            .put_team(&me, None, &acme, "devs", "member", None)
            .await
            .unwrap();
        identity
            .put_team(&me, None, &acme, "devs", "creator", Some("Developers"))
            .await
            .unwrap();
        identity
            .add_team_member(&me, None, &acme, "devs", "bob")
            .await
            .unwrap();
        identity
            .remove_team_member(&me, None, &acme, "devs", "bob")
            .await
            .unwrap();
        identity
            .add_team_member(&me, None, &acme, "devs", "bob")
            .await
            .unwrap();
        identity
            .create_repository(&me, "acme/app", false, "", None)
            .await
            .unwrap();
        identity
            .grant_to_account(&me, None, "acme/app", "bob", "read")
            .await
            .unwrap();
        identity
            .grant_to_account(&me, None, "acme/app", "bob", "write")
            .await
            .unwrap();
        identity
            .revoke_from_account(&me, None, "acme/app", "bob")
            .await
            .unwrap();
        identity
            .grant_to_team(&me, None, "acme/app", "devs", "read")
            .await
            .unwrap();
        identity
            .revoke_from_team(&me, None, "acme/app", "devs")
            .await
            .unwrap();
        identity
            .remove_organization_member(&me, None, &acme, "bob")
            .await
            .unwrap();
        identity.delete_team(&me, None, &acme, "devs").await.unwrap();
        let gone = identity
            .create_organization("gone", None, &me, None)
            .await
            .unwrap();
        identity.delete_organization(&me, None, &gone).await.unwrap();

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
}
