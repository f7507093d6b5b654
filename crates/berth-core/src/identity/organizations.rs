//! Organizations: lookups shared by the API views.

use berth_store::metadata::{AccountRow, TeamRow};

use super::{Identity, IdentityError};

impl Identity {
    /// The organization named `name`, or `NotFound`.
    pub async fn organization(&self, name: &str) -> Result<AccountRow, IdentityError> {
        self.db
            .account_by_name(name)
            .await?
            .filter(|a| a.kind == "org")
            .ok_or_else(|| IdentityError::NotFound(format!("organization {name} not found")))
    }

    /// Names of the organizations an account belongs to (through teams).
    pub async fn organizations_of(&self, account_id: i64) -> Result<Vec<String>, IdentityError> {
        Ok(self.db.orgs_of_member(account_id).await?)
    }

    /// The teams of an organization.
    pub async fn teams(&self, org_id: i64) -> Result<Vec<TeamRow>, IdentityError> {
        Ok(self.db.list_teams(org_id).await?)
    }

    /// The teams of an organization that an account is in.
    pub async fn teams_of(&self, org_id: i64, account_id: i64) -> Result<Vec<TeamRow>, IdentityError> {
        Ok(self.db.teams_of_member(org_id, account_id).await?)
    }
}
