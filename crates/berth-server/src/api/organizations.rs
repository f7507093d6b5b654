//! Organizations: `POST /api/v1/organization/`, `GET`/`PUT`/`DELETE
//! /api/v1/organization/{orgname}`, and its members under
//! `/organization/{orgname}/members`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::{OrganizationChange, OrganizationDetails, OrganizationMember, OrganizationTeam};
use berth_core::names::Namespace;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, Avatar, Done, JsonBody, avatar, present};
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_organization))
        .routes(routes!(
            get_organization,
            change_organization_details,
            delete_admined_organization
        ))
        .routes(routes!(get_organization_members))
        .routes(routes!(get_organization_member, remove_organization_member))
}

/// A new organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewOrganization {
    /// The organization's name (unique among users and organizations).
    #[schema(value_type = String)]
    name: Namespace,
    /// Contact address.
    email: Option<String>,
    /// Accepted and ignored (no reCAPTCHA here).
    #[allow(dead_code)]
    recaptcha_response: Option<String>,
}

/// Create an organization; the caller joins its `owners` team.
#[utoipa::path(
    post,
    path = "/organization/",
    operation_id = "createOrganization",
    tag = "organization",
    request_body = NewOrganization,
    responses((status = 201, description = "Created", body = Done), (status = 400, description = "Invalid or taken name")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn create_organization(
    api: Api,
    JsonBody(body): JsonBody<NewOrganization>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    api.identity
        .create_own_organization(&api.caller, &body.name, body.email.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(Done::Created)))
}

/// The organization named in a path; a name no organization can have is
/// one that does not exist.
pub(super) fn organization_path(name: &str) -> Result<Namespace, ApiError> {
    Namespace::new(name).map_err(|_| ApiError::not_found(format!("organization {name} not found")))
}

/// Quay's view of an organization: members see its teams, admins its
/// settings.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OrganizationView {
    /// The organization's name.
    name: String,
    /// Its avatar.
    avatar: Avatar,
    /// Whether the caller administers it.
    is_admin: bool,
    /// Whether the caller is in one of its teams.
    is_member: bool,
    /// Its team names in order; for members and admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    ordered_teams: Option<Vec<String>>,
    /// Its teams by name; for members and admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    teams: Option<BTreeMap<String, OrganizationTeamView>>,
    /// Contact address; for admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    /// Whether invoices are e-mailed; for admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    invoice_email: Option<bool>,
    /// Where invoices go; for admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    invoice_email_address: Option<Option<String>>,
    /// The organization's own time-machine window, if it chose one; for
    /// admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    tag_expiration_s: Option<Option<i64>>,
    /// Always `true` (there is no billing); for admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    is_free_account: Option<bool>,
}

/// A team in Quay's view of an organization.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OrganizationTeamView {
    /// The team's name.
    name: String,
    /// Markdown description.
    description: String,
    /// `member`, `creator` or `admin`.
    role: String,
    /// Its avatar.
    avatar: Avatar,
    /// Whether the caller may view its members.
    can_view: bool,
    /// Repositories it has a role on.
    repo_count: i64,
    /// Its members.
    member_count: i64,
    /// Always `false`: no team is synced from a directory here.
    is_synced: bool,
}

impl From<OrganizationDetails> for OrganizationView {
    fn from(org: OrganizationDetails) -> Self {
        let ordered_teams = org
            .teams
            .as_ref()
            .map(|teams| teams.iter().map(|t| t.team.name.clone()).collect());
        let teams = org.teams.map(|teams| {
            teams
                .into_iter()
                .map(|t| (t.team.name.clone(), OrganizationTeamView::from(t)))
                .collect()
        });
        // Settings are keys only admins get; each may be `null` for them.
        let settings = org.settings;
        OrganizationView {
            avatar: avatar(&org.name, "org"),
            name: org.name,
            is_admin: org.is_admin,
            is_member: org.is_member,
            ordered_teams,
            teams,
            email: settings.as_ref().map(|s| s.email.clone()),
            invoice_email: settings.as_ref().map(|s| s.invoice_email),
            invoice_email_address: settings.as_ref().map(|s| s.invoice_email_address.clone()),
            tag_expiration_s: settings.as_ref().map(|s| s.tag_expiration_s),
            is_free_account: settings.as_ref().map(|_| true),
        }
    }
}

impl From<OrganizationTeam> for OrganizationTeamView {
    fn from(t: OrganizationTeam) -> Self {
        OrganizationTeamView {
            avatar: avatar(&t.team.name, "team"),
            name: t.team.name,
            description: t.team.description,
            role: t.team.role.as_str().to_owned(),
            can_view: t.can_view,
            repo_count: t.team.repo_count,
            member_count: t.team.member_count,
            is_synced: false,
        }
    }
}

/// An organization; members see its teams, admins its settings.
#[utoipa::path(
    get,
    path = "/organization/{orgname}",
    operation_id = "getOrganization",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    responses(
        (status = 200, description = "The organization", body = OrganizationView),
        (status = 404, description = "No such organization"),
    ),
)]
async fn get_organization(api: Api, Path(orgname): Path<String>) -> Result<Json<OrganizationView>, ApiError> {
    let org = organization_path(&orgname)?;
    let details = api.identity.organization_details(&api.caller, &org).await?;
    Ok(Json(details.into()))
}

/// Changes to an organization (Quay's `UpdateOrg`); absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateOrg {
    /// Contact address.
    email: Option<String>,
    /// Whether invoices are sent by e-mail.
    invoice_email: Option<bool>,
    /// Where invoices are sent; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    invoice_email_address: Option<Option<String>>,
    /// Time-machine window in seconds; one of the configured options.
    #[schema(minimum = 0)]
    tag_expiration_s: Option<i64>,
}

/// Change an organization's settings.
#[utoipa::path(
    put,
    path = "/organization/{orgname}",
    operation_id = "changeOrganizationDetails",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    request_body = UpdateOrg,
    responses(
        (status = 200, description = "The organization as it is now", body = OrganizationView),
        (status = 400, description = "Invalid settings"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn change_organization_details(
    api: Api,
    Path(orgname): Path<String>,
    JsonBody(body): JsonBody<UpdateOrg>,
) -> Result<Json<OrganizationView>, ApiError> {
    let org = organization_path(&orgname)?;
    let change = OrganizationChange {
        email: body.email,
        invoice_email: body.invoice_email,
        invoice_email_address: body.invoice_email_address,
        tag_expiration_s: body.tag_expiration_s,
    };
    let details = api
        .identity
        .change_organization(&api.caller, &org, change)
        .await?;
    Ok(Json(details.into()))
}

/// Delete an organization; refused while it holds repositories.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}",
    operation_id = "deleteAdminedOrganization",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The organization still has repositories"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn delete_admined_organization(api: Api, Path(orgname): Path<String>) -> Result<StatusCode, ApiError> {
    let org = organization_path(&orgname)?;
    api.identity.delete_organization(&api.caller, &org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member of an organization as Quay shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OrganizationMemberView {
    /// The account's name.
    name: String,
    /// `user` or `robot`.
    kind: String,
    /// Its avatar.
    avatar: Avatar,
    /// The organization's teams it is in.
    teams: Vec<TeamRefView>,
    /// The organization's repositories (short names) it has a role on by
    /// itself.
    repositories: Vec<String>,
}

/// A team named in a member's view.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TeamRefView {
    /// The team's name.
    name: String,
    /// Its avatar.
    avatar: Avatar,
}

/// The members of an organization.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OrganizationMembersView {
    /// The members, by name.
    members: Vec<OrganizationMemberView>,
}

impl From<OrganizationMember> for OrganizationMemberView {
    fn from(m: OrganizationMember) -> Self {
        let kind = if m.is_robot { "robot" } else { "user" };
        OrganizationMemberView {
            avatar: avatar(&m.name, kind),
            name: m.name,
            kind: kind.to_owned(),
            teams: m
                .teams
                .into_iter()
                .map(|t| TeamRefView {
                    avatar: avatar(&t, "team"),
                    name: t,
                })
                .collect(),
            repositories: m.repositories,
        }
    }
}

/// The users in the organization's teams, with their teams and their own
/// repository roles.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/members",
    operation_id = "getOrganizationMembers",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    responses(
        (status = 200, description = "The members", body = OrganizationMembersView),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_members(
    api: Api,
    Path(orgname): Path<String>,
) -> Result<Json<OrganizationMembersView>, ApiError> {
    let org = organization_path(&orgname)?;
    let members = api.identity.organization_members(&api.caller, &org).await?;
    Ok(Json(OrganizationMembersView {
        members: members.into_iter().map(Into::into).collect(),
    }))
}

/// One member (user or robot) of the organization.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/members/{membername}",
    operation_id = "getOrganizationMember",
    tag = "organization",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("membername" = String, Path, description = "The member's name"),
    ),
    responses(
        (status = 200, description = "The member", body = OrganizationMemberView),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or member"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_member(
    api: Api,
    Path((orgname, membername)): Path<(String, String)>,
) -> Result<Json<OrganizationMemberView>, ApiError> {
    let org = organization_path(&orgname)?;
    let member = api
        .identity
        .organization_member(&api.caller, &org, &membername)
        .await?;
    Ok(Json(member.into()))
}

/// Remove a user from every team of the organization and every role on its
/// repositories.
#[utoipa::path(
    delete,
    path = "/organization/{orgname}/members/{membername}",
    operation_id = "removeOrganizationMember",
    tag = "organization",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("membername" = String, Path, description = "The user's name"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The user is the organization's last owner"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or user"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn remove_organization_member(
    api: Api,
    Path((orgname, membername)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let org = organization_path(&orgname)?;
    api.identity
        .remove_organization_member(&api.caller, &org, &membername)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
