//! Robot accounts: credentials for machines, owned by a user or an
//! organization namespace and named `namespace+short`. A robot's token is
//! stored only as a hash, so it can be shown once, when it is made.

use berth_store::metadata::{AccountRow, NewAccount, PermissionRow, TeamRow};

use super::accounts::validate_account_name;
use super::principal::Principal;
use super::secrets::{hash_secret, robot_token};
use super::{AuditEvent, Identity, IdentityError};

/// Longest robot description (Quay's limit).
const MAX_DESCRIPTION: usize = 255;
/// Largest unstructured metadata, serialized (Quay's request limit).
const MAX_METADATA_BYTES: usize = 1 << 20;

/// A robot account with its metadata.
#[derive(Debug, Clone)]
pub struct Robot {
    /// The account row (`name` is the full `namespace+short`).
    pub account: AccountRow,
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

/// A robot's full name.
pub fn robot_name(namespace: &str, short: &str) -> String {
    format!("{namespace}+{short}")
}

impl Identity {
    /// The namespace (user or organization) named `name`, as an owner of
    /// robots.
    pub async fn robot_owner(&self, name: &str) -> Result<AccountRow, IdentityError> {
        self.db
            .account_by_name(name)
            .await?
            .filter(|a| a.kind == "user" || a.kind == "org")
            .ok_or_else(|| IdentityError::NotFound(format!("namespace {name} not found")))
    }

    /// The robots of a namespace, by name.
    pub async fn robots(&self, owner: &AccountRow) -> Result<Vec<AccountRow>, IdentityError> {
        Ok(self.db.list_accounts("robot", Some(owner.id)).await?)
    }

    /// The robot `short` of a namespace.
    pub async fn robot(&self, owner: &AccountRow, short: &str) -> Result<Robot, IdentityError> {
        let not_found = || IdentityError::NotFound("Could not find robot with specified username".into());
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
        Ok(Robot { account, metadata })
    }

    /// Create robot `short` in the owner's namespace with a new token.
    pub async fn create_robot(
        &self,
        principal: &Principal,
        owner: &AccountRow,
        short: &str,
        description: &str,
        metadata: Option<&serde_json::Value>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<RobotWithToken, IdentityError> {
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
                    kind: "robot",
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
                AuditEvent::new("create_robot", principal, ip)
                    .namespace(&owner.name)
                    .metadata(serde_json::json!({
                        "robot": short,
                        "description": description,
                        "unstructured_metadata": metadata,
                    })),
            )
            .await?;
        Ok(RobotWithToken {
            robot: self.robot(owner, short).await?,
            token,
        })
    }

    /// Delete robot `short`; its permissions and team memberships go with it.
    pub async fn delete_robot(
        &self,
        principal: &Principal,
        owner: &AccountRow,
        short: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), IdentityError> {
        let robot = self.robot(owner, short).await?;
        self.db.delete_account(robot.account.id).await?;
        self.audit
            .record_now(
                AuditEvent::new("delete_robot", principal, ip)
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
        principal: &Principal,
        owner: &AccountRow,
        short: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<RobotWithToken, IdentityError> {
        let robot = self.robot(owner, short).await?;
        let token = robot_token();
        let hash = hash_secret(&token)?;
        if !self.db.set_account_secret(robot.account.id, &hash).await? {
            return Err(IdentityError::NotFound(
                "Could not find robot with specified username".into(),
            ));
        }
        self.audit
            .record_now(
                AuditEvent::new("regenerate_robot_token", principal, ip)
                    .namespace(&owner.name)
                    .metadata(serde_json::json!({ "robot": short })),
            )
            .await?;
        Ok(RobotWithToken {
            robot: self.robot(owner, short).await?,
            token,
        })
    }

    /// The repository roles granted directly to an account, by repository.
    pub async fn account_permissions(&self, account_id: i64) -> Result<Vec<PermissionRow>, IdentityError> {
        Ok(self.db.account_permissions(account_id).await?)
    }

    /// The teams of the owner organization a robot is in (none for robots
    /// of users).
    pub async fn robot_teams(
        &self,
        owner: &AccountRow,
        robot_id: i64,
    ) -> Result<Vec<TeamRow>, IdentityError> {
        if owner.kind != "org" {
            return Ok(Vec::new());
        }
        Ok(self.db.teams_of_member(owner.id, robot_id).await?)
    }
}
