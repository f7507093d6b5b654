//! Robot accounts: credentials for machines, owned by a user or an
//! organization namespace and named `namespace+short`. A robot's token is
//! stored only as a hash, so it can be shown once, when it is made.

use berth_store::metadata::{AccountRow, NewAccount, PermissionRow};

use super::accounts::{Account, validate_account_name};
use super::policy::{Action, Role};
use super::secrets::{hash_secret, robot_token};
use super::{AuditEvent, Identity, IdentityError};
use crate::Caller;
use crate::names::{AccountKind, Namespace, Visibility};

/// Longest robot description (Quay's limit).
const MAX_DESCRIPTION: usize = 255;
/// Largest unstructured metadata, serialized (Quay's request limit).
const MAX_METADATA_BYTES: usize = 1 << 20;

/// Whose robots an operation is about.
#[derive(Debug, Clone, Copy)]
pub enum RobotOwner<'a> {
    /// The calling user's own namespace.
    Caller,
    /// An organization's namespace.
    Organization(&'a Namespace),
}

/// A robot account with its metadata.
#[derive(Debug, Clone)]
pub struct Robot {
    /// The account (`name` is the full `namespace+short`).
    pub account: Account,
    /// Free-form JSON object given at creation (`{}` if none).
    pub metadata: serde_json::Value,
}

/// A robot and the secret that was just made for it.
#[derive(Debug, Clone)]
pub struct RobotWithToken {
    /// The robot.
    pub robot: Robot,
    /// Its token, to be shown once.
    pub token: String,
}

/// A robot in a list; with permissions asked for, its teams and
/// repositories too.
#[derive(Debug, Clone)]
pub struct RobotListing {
    /// The account.
    pub account: Account,
    /// The owner organization's teams it is in (empty for robots of users),
    /// when permissions were asked for.
    pub teams: Option<Vec<String>>,
    /// The repositories (relative to the owner's namespace) it holds a role
    /// on by itself, when permissions were asked for.
    pub repositories: Option<Vec<String>>,
}

/// A role a robot holds on a repository by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotPermission {
    /// The repository's name relative to the owner's namespace, as Quay
    /// shows it.
    pub repository: String,
    /// Who may pull it.
    pub visibility: Visibility,
    /// The role.
    pub role: Role,
}

/// A robot's full name.
pub fn robot_name(namespace: &str, short: &str) -> String {
    format!("{namespace}+{short}")
}

/// A repository name relative to the owner's namespace, as Quay shows it.
fn short_repo(owner: &AccountRow, full: &str) -> String {
    full.strip_prefix(owner.name.as_str())
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(full)
        .to_owned()
}

fn not_found() -> IdentityError {
    IdentityError::NotFound("Could not find robot with specified username".into())
}

impl Identity {
    /// Authorize the caller for the owner's robots, then find the owner:
    /// the caller's own namespace needs `AdministerUser`, an
    /// organization's `AdministerNamespace`.
    async fn robot_owner(&self, caller: &Caller, owner: RobotOwner<'_>) -> Result<AccountRow, IdentityError> {
        match owner {
            RobotOwner::Caller => {
                self.authorize(&caller.principal, Action::AdministerUser).await?;
                let name = caller
                    .name()
                    .ok_or_else(|| IdentityError::Unauthenticated("authentication required".into()))?;
                self.db
                    .account_by_name(name)
                    .await?
                    .filter(|a| a.kind == "user" || a.kind == "org")
                    .ok_or_else(|| IdentityError::NotFound(format!("namespace {name} not found")))
            }
            RobotOwner::Organization(org) => {
                self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
                    .await?;
                self.organization(org.as_str()).await
            }
        }
    }

    /// The robot `short` of a namespace (no authorization: callers have
    /// authorized for the owner).
    async fn robot_of(&self, owner: &AccountRow, short: &str) -> Result<Robot, IdentityError> {
        // An invalid short name cannot name a robot: not found, as Quay says.
        if validate_account_name(short).is_err() {
            return Err(not_found());
        }
        let account = self
            .db
            .account_by_name(&robot_name(&owner.name, short))
            .await?
            .filter(|a| a.kind == "robot" && a.owner_id == Some(owner.id))
            .ok_or_else(not_found)?;
        let metadata = match self.db.robot_metadata(account.id).await? {
            Some(text) => serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({})),
            None => serde_json::json!({}),
        };
        Ok(Robot {
            account: account.try_into()?,
            metadata,
        })
    }

    /// The robots of a namespace, by name; at most `limit`, with their
    /// teams and repositories if `with_permissions`.
    pub async fn robots(
        &self,
        caller: &Caller,
        owner: RobotOwner<'_>,
        with_permissions: bool,
        limit: Option<usize>,
    ) -> Result<Vec<RobotListing>, IdentityError> {
        let owner = self.robot_owner(caller, owner).await?;
        let mut rows = self.db.list_accounts("robot", Some(owner.id)).await?;
        if let Some(limit) = limit {
            rows.truncate(limit);
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (teams, repositories) = if with_permissions {
                // Robots of users are in no team.
                let teams = if owner.kind == "org" {
                    self.db.teams_of_member(owner.id, row.id).await?
                } else {
                    Vec::new()
                };
                let perms = self.db.account_permissions(row.id).await?;
                (
                    Some(teams.into_iter().map(|t| t.name).collect()),
                    Some(perms.iter().map(|p| short_repo(&owner, &p.repository)).collect()),
                )
            } else {
                (None, None)
            };
            out.push(RobotListing {
                account: row.try_into()?,
                teams,
                repositories,
            });
        }
        Ok(out)
    }

    /// The robot `short` of a namespace.
    pub async fn robot(
        &self,
        caller: &Caller,
        owner: RobotOwner<'_>,
        short: &str,
    ) -> Result<Robot, IdentityError> {
        let owner = self.robot_owner(caller, owner).await?;
        self.robot_of(&owner, short).await
    }

    /// Create robot `short` in the owner's namespace with a new token.
    pub async fn create_robot(
        &self,
        caller: &Caller,
        owner: RobotOwner<'_>,
        short: &str,
        description: &str,
        metadata: Option<&serde_json::Value>,
    ) -> Result<RobotWithToken, IdentityError> {
        let owner = self.robot_owner(caller, owner).await?;
        validate_account_name(short)?;
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(IdentityError::Invalid(format!(
                "robot descriptions are at most {MAX_DESCRIPTION} characters"
            )));
        }
        let metadata_text = match metadata {
            None => None,
            Some(m) if m.is_object() => {
                let text = m.to_string();
                if text.len() > MAX_METADATA_BYTES {
                    return Err(IdentityError::Invalid(
                        "unstructured_metadata is larger than 1 MiB".into(),
                    ));
                }
                Some(text)
            }
            Some(_) => {
                return Err(IdentityError::Invalid(
                    "unstructured_metadata must be a JSON object".into(),
                ));
            }
        };
        let name = robot_name(&owner.name, short);
        let token = robot_token();
        let hash = hash_secret(&token)?;
        let created = self
            .db
            .create_robot(
                &NewAccount {
                    name: &name,
                    kind: AccountKind::Robot.as_str(),
                    secret_hash: Some(&hash),
                    owner_id: Some(owner.id),
                    description,
                    ..NewAccount::default()
                },
                metadata_text.as_deref(),
            )
            .await;
        match created {
            Ok(_) => {}
            Err(berth_store::StoreError::Exists(_)) => {
                return Err(IdentityError::Invalid(format!(
                    "Existing robot with name: {name}"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.audit
            .record_now(
                AuditEvent::by("create_robot", caller)
                    .namespace(&owner.name)
                    .metadata(serde_json::json!({
                        "robot": short,
                        "description": description,
                        "unstructured_metadata": metadata,
                    })),
            )
            .await?;
        Ok(RobotWithToken {
            robot: self.robot_of(&owner, short).await?,
            token,
        })
    }

    /// Delete robot `short`; its permissions and team memberships go with it.
    pub async fn delete_robot(
        &self,
        caller: &Caller,
        owner: RobotOwner<'_>,
        short: &str,
    ) -> Result<(), IdentityError> {
        let owner = self.robot_owner(caller, owner).await?;
        let robot = self.robot_of(&owner, short).await?;
        self.db.delete_account(robot.account.id).await?;
        self.audit
            .record_now(
                AuditEvent::by("delete_robot", caller)
                    .namespace(&owner.name)
                    .metadata(serde_json::json!({ "robot": short })),
            )
            .await?;
        Ok(())
    }

    /// Give robot `short` a new token; the old one stops working at once
    /// (the credential cache is keyed on the stored hash).
    pub async fn regenerate_robot_token(
        &self,
        caller: &Caller,
        owner: RobotOwner<'_>,
        short: &str,
    ) -> Result<RobotWithToken, IdentityError> {
        let owner = self.robot_owner(caller, owner).await?;
        let robot = self.robot_of(&owner, short).await?;
        let token = robot_token();
        let hash = hash_secret(&token)?;
        if !self.db.set_account_secret(robot.account.id, &hash).await? {
            return Err(not_found());
        }
        self.audit
            .record_now(
                AuditEvent::by("regenerate_robot_token", caller)
                    .namespace(&owner.name)
                    .metadata(serde_json::json!({ "robot": short })),
            )
            .await?;
        Ok(RobotWithToken {
            robot: self.robot_of(&owner, short).await?,
            token,
        })
    }

    /// The repository roles granted directly to robot `short`, by
    /// repository.
    pub async fn robot_permissions(
        &self,
        caller: &Caller,
        owner: RobotOwner<'_>,
        short: &str,
    ) -> Result<Vec<RobotPermission>, IdentityError> {
        let owner = self.robot_owner(caller, owner).await?;
        let robot = self.robot_of(&owner, short).await?;
        self.db
            .account_permissions(robot.account.id)
            .await?
            .into_iter()
            .map(|p| robot_permission(&owner, p))
            .collect()
    }
}

fn robot_permission(owner: &AccountRow, p: PermissionRow) -> Result<RobotPermission, IdentityError> {
    let role = Role::parse(&p.role).ok_or_else(|| {
        IdentityError::Internal(format!("permission on {} has role {:?}", p.repository, p.role))
    })?;
    Ok(RobotPermission {
        repository: short_repo(owner, &p.repository),
        visibility: Visibility::from_public(p.is_public),
        role,
    })
}
