//! Organizations: lookups shared by the API views, their settings, their
//! deletion and their members.

use std::collections::BTreeMap;

use berth_store::metadata::{AccountChange, AccountRow, MemberRemoval};

use crate::Caller;
use crate::names::Namespace;

use super::accounts::Account;
use super::policy::Action;
use super::teams::{OWNERS_TEAM, Team, last_owner};
use super::{AuditEvent, Identity, IdentityError};

/// A change to an organization's settings; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct OrganizationChange {
    /// New contact address.
    pub email: Option<String>,
    /// Send invoices by e-mail or not.
    pub invoice_email: Option<bool>,
    /// `Some(None)` clears the invoice address.
    pub invoice_email_address: Option<Option<String>>,
    /// New time-machine window; must be one of the configured options.
    pub tag_expiration_s: Option<i64>,
}

/// A member of an organization: an account in at least one of its teams
/// (or one of its robots).
#[derive(Debug, Clone)]
pub struct OrganizationMember {
    /// The account's name.
    pub name: String,
    /// Whether it is a robot.
    pub is_robot: bool,
    /// The organization's teams it is in, by name.
    pub teams: Vec<String>,
    /// The organization's repositories (short names) it holds a role on
    /// by itself.
    pub repositories: Vec<String>,
}

/// An organization as the caller may see it: members see its teams,
/// administrators its settings.
#[derive(Debug, Clone)]
pub struct OrganizationDetails {
    /// The organization's name.
    pub name: String,
    /// Whether the caller administers it.
    pub is_admin: bool,
    /// Whether the caller is in one of its teams.
    pub is_member: bool,
    /// Its teams, by name; for members and administrators only.
    pub teams: Option<Vec<OrganizationTeam>>,
    /// Its settings; for administrators only.
    pub settings: Option<OrganizationSettings>,
}

/// A team in an organization's details.
#[derive(Debug, Clone)]
pub struct OrganizationTeam {
    /// The team.
    pub team: Team,
    /// Whether the caller may view it (is in it, or administers the
    /// organization).
    pub can_view: bool,
}

/// The settings of an organization its administrators see.
#[derive(Debug, Clone)]
pub struct OrganizationSettings {
    /// Contact address.
    pub email: Option<String>,
    /// Whether invoices are e-mailed.
    pub invoice_email: bool,
    /// Where invoices go.
    pub invoice_email_address: Option<String>,
    /// The organization's own time-machine window, if it chose one.
    pub tag_expiration_s: Option<i64>,
}

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

    /// Create organization `name` for the calling user, who must be
    /// allowed to administer their own account; they join its `owners`
    /// team.
    pub async fn create_own_organization(
        &self,
        caller: &Caller,
        name: &Namespace,
        email: Option<&str>,
    ) -> Result<Account, IdentityError> {
        self.authorize(&caller.principal, Action::AdministerUser).await?;
        self.create_organization(caller, name.as_str(), email).await
    }

    /// Organization `org` as the caller may see it. Anyone may look (as in
    /// Quay); what is shown depends on the caller.
    pub async fn organization_details(
        &self,
        caller: &Caller,
        org: &Namespace,
    ) -> Result<OrganizationDetails, IdentityError> {
        let org = self.organization(org.as_str()).await?;
        self.details_of(caller, &org).await
    }

    /// `org`'s details for the caller.
    async fn details_of(
        &self,
        caller: &Caller,
        org: &AccountRow,
    ) -> Result<OrganizationDetails, IdentityError> {
        let is_admin = self
            .allowed(&caller.principal, Action::AdministerNamespace(&org.name))
            .await?;
        let member_of = match caller.account_id() {
            Some(id) => self.db.teams_of_member(org.id, id).await?,
            None => Vec::new(),
        };
        let is_member = !member_of.is_empty();
        let teams = if is_admin || is_member {
            let mut teams = Vec::new();
            for team in self.db.list_teams(org.id).await? {
                let can_view = is_admin || member_of.iter().any(|m| m.id == team.id);
                teams.push(OrganizationTeam {
                    team: team.try_into()?,
                    can_view,
                });
            }
            Some(teams)
        } else {
            None
        };
        let settings = is_admin.then(|| OrganizationSettings {
            email: org.email.clone(),
            invoice_email: org.invoice_email,
            invoice_email_address: org.invoice_email_address.clone(),
            tag_expiration_s: org.tag_expiration_s,
        });
        Ok(OrganizationDetails {
            name: org.name.clone(),
            is_admin,
            is_member,
            teams,
            settings,
        })
    }

    /// Change an organization's settings; returns it as it is now.
    pub async fn change_organization(
        &self,
        caller: &Caller,
        org: &Namespace,
        change: OrganizationChange,
    ) -> Result<OrganizationDetails, IdentityError> {
        // The lookup comes first: asking about an organization that does
        // not exist is a 404 even for those who could administer it (the
        // API tests assert this, as Quay answers).
        let org = &self.organization(org.as_str()).await?;
        self.authorize(&caller.principal, Action::AdministerNamespace(&org.name))
            .await?;
        if let Some(s) = change.tag_expiration_s {
            let options = &self.config.tag_expiration_options;
            if !u64::try_from(s).is_ok_and(|s| options.contains(&s)) {
                let allowed: Vec<String> = options.iter().map(u64::to_string).collect();
                return Err(IdentityError::Invalid(format!(
                    "invalid tag_expiration_s {s}: must be one of {}",
                    allowed.join(", ")
                )));
            }
        }
        let email = change.email.filter(|e| org.email.as_deref() != Some(e.as_str()));
        if let Some(email) = &email
            && self.db.email_in_use(email, org.id).await?
        {
            return Err(IdentityError::Invalid("E-mail address already used".into()));
        }
        let invoice_email = change.invoice_email.filter(|i| *i != org.invoice_email);
        let invoice_email_address = change
            .invoice_email_address
            .filter(|a| *a != org.invoice_email_address);
        self.db
            .update_account(
                org.id,
                &AccountChange {
                    email: email.clone(),
                    invoice_email,
                    invoice_email_address: invoice_email_address.clone(),
                    tag_expiration_s: change.tag_expiration_s.map(Some),
                    ..AccountChange::default()
                },
            )
            .await?;
        let ns = org.name.as_str();
        let event = |kind| AuditEvent::by(kind, caller).namespace(ns);
        if let Some(invoice_email) = invoice_email {
            self.audit
                .record_now(
                    event("org_change_invoicing")
                        .metadata(serde_json::json!({ "invoice_email": invoice_email, "namespace": ns })),
                )
                .await?;
        }
        if let Some(address) = invoice_email_address {
            self.audit
                .record_now(
                    event("org_change_invoicing")
                        .metadata(serde_json::json!({ "invoice_email_address": address, "namespace": ns })),
                )
                .await?;
        }
        if let Some(email) = email {
            self.audit
                .record_now(
                    event("org_change_email").metadata(
                        serde_json::json!({ "email": email, "namespace": ns, "old_email": org.email }),
                    ),
                )
                .await?;
        }
        if let Some(s) = change.tag_expiration_s {
            self.audit
                .record_now(
                    event("org_change_tag_expiration")
                        .metadata(serde_json::json!({ "tag_expiration": s, "namespace": ns })),
                )
                .await?;
        }
        let org = self.organization(ns).await?;
        self.details_of(caller, &org).await
    }

    /// Delete an organization with its teams, robots and applications.
    /// Refused while it still holds repositories: they must be deleted
    /// first.
    pub async fn delete_organization(&self, caller: &Caller, org: &Namespace) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = &self.organization(org.as_str()).await?;
        let still_has_repositories = || {
            IdentityError::Invalid(format!(
                "organization {} still has repositories; delete them before deleting the organization",
                org.name
            ))
        };
        if self.db.namespace_repository_count(&org.name).await? > 0 {
            return Err(still_has_repositories());
        }
        if !self
            .db
            .delete_namespace_without_repositories(org.id, &org.name)
            .await?
        {
            // Deleted meanwhile, or a repository appeared.
            self.organization(&org.name).await?;
            return Err(still_has_repositories());
        }
        self.audit
            .record_now(
                AuditEvent::by("org_delete", caller)
                    .namespace(&org.name)
                    .metadata(serde_json::json!({ "namespace": org.name })),
            )
            .await?;
        Ok(())
    }

    /// The users in the organization's teams, by name (robots left out).
    pub async fn organization_members(
        &self,
        caller: &Caller,
        org: &Namespace,
    ) -> Result<Vec<OrganizationMember>, IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = &self.organization(org.as_str()).await?;
        let mut members: BTreeMap<String, OrganizationMember> = BTreeMap::new();
        for team in self.db.list_teams(org.id).await? {
            for m in self.db.team_members(team.id).await? {
                if m.kind != "user" {
                    continue;
                }
                members
                    .entry(m.name.clone())
                    .or_insert_with(|| OrganizationMember {
                        name: m.name.clone(),
                        is_robot: false,
                        teams: Vec::new(),
                        repositories: Vec::new(),
                    })
                    .teams
                    .push(team.name.clone());
            }
        }
        for grant in self.db.namespace_account_permissions(&org.name).await? {
            if let Some(member) = grant.account.as_ref().and_then(|a| members.get_mut(a)) {
                member.repositories.push(short_name(&org.name, &grant.repository));
            }
        }
        Ok(members.into_values().collect())
    }

    /// One member of the organization: a user in one of its teams or one of
    /// its robots; `NotFound` otherwise.
    pub async fn organization_member(
        &self,
        caller: &Caller,
        org: &Namespace,
        name: &str,
    ) -> Result<OrganizationMember, IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = &self.organization(org.as_str()).await?;
        let not_found =
            || IdentityError::NotFound(format!("{name} is not a member of organization {}", org.name));
        let account = self
            .db
            .account_by_name(name)
            .await?
            .filter(|a| a.kind != "org")
            .ok_or_else(not_found)?;
        let teams = self.db.teams_of_member(org.id, account.id).await?;
        let is_robot = account.kind == "robot";
        if teams.is_empty() && !(is_robot && account.owner_id == Some(org.id)) {
            return Err(not_found());
        }
        let repositories = self
            .db
            .namespace_account_permissions(&org.name)
            .await?
            .into_iter()
            .filter(|g| g.account.as_deref() == Some(name))
            .map(|g| short_name(&org.name, &g.repository))
            .collect();
        Ok(OrganizationMember {
            name: account.name,
            is_robot,
            teams: teams.into_iter().map(|t| t.name).collect(),
            repositories,
        })
    }

    /// Remove user `name` from every team of the organization and every
    /// role on its repositories. The last user of `owners` stays.
    pub async fn remove_organization_member(
        &self,
        caller: &Caller,
        org: &Namespace,
        name: &str,
    ) -> Result<(), IdentityError> {
        self.authorize(&caller.principal, Action::AdministerNamespace(org.as_str()))
            .await?;
        let org = &self.organization(org.as_str()).await?;
        let account = self
            .db
            .account_by_name(name)
            .await?
            .filter(|a| a.kind == "user")
            .ok_or_else(|| IdentityError::NotFound(format!("user {name} not found")))?;
        let removal = self
            .db
            .remove_org_member(org.id, &org.name, account.id, OWNERS_TEAM)
            .await?;
        if removal == MemberRemoval::LastUser {
            return Err(last_owner(&account));
        }
        if removal == MemberRemoval::Removed {
            self.audit
                .record_now(
                    AuditEvent::by("org_remove_member", caller)
                        .namespace(&org.name)
                        .metadata(serde_json::json!({ "member": name, "namespace": org.name })),
                )
                .await?;
        }
        Ok(())
    }
}

/// `repo` of `ns/repo`.
fn short_name(ns: &str, full: &str) -> String {
    full.strip_prefix(ns)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(full)
        .to_owned()
}
