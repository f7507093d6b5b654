//! Organizations: `POST /api/v1/organization/`, `GET`/`PUT`/`DELETE
//! /api/v1/organization/{orgname}`, and its members under
//! `/organization/{orgname}/members`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::{Action, OrganizationChange, OrganizationMember};
use berth_store::metadata::AccountRow;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, JsonBody, avatar};
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
    name: String,
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
    responses((status = 201, description = "Created"), (status = 400, description = "Invalid or taken name")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn create_organization(
    api: Api,
    JsonBody(body): JsonBody<NewOrganization>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    api.authorize(Action::AdministerUser).await?;
    api.identity
        .create_organization(&api.caller, &body.name, body.email.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(json!("Created"))))
}

/// An organization; members see its teams, admins its settings.
#[utoipa::path(
    get,
    path = "/organization/{orgname}",
    operation_id = "getOrganization",
    tag = "organization",
    params(("orgname" = String, Path, description = "The organization")),
    responses((status = 200, description = "The organization"), (status = 404, description = "No such organization")),
)]
async fn get_organization(api: Api, Path(orgname): Path<String>) -> Result<Json<Value>, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    Ok(Json(org_view(&api, &org).await?))
}

/// Quay's view of an organization for this caller: members see its teams,
/// admins its settings.
async fn org_view(api: &Api, org: &AccountRow) -> Result<Value, ApiError> {
    let is_admin = api.may(Action::AdministerNamespace(&org.name)).await?;
    let member_of = match api.principal.account() {
        Some(a) => api.identity.teams_of(org.id, a.id).await?,
        None => Vec::new(),
    };
    let mut view = json!({
        "name": org.name,
        "avatar": avatar(&org.name, "org"),
        "is_admin": is_admin,
        "is_member": !member_of.is_empty(),
    });
    if is_admin || !member_of.is_empty() {
        let teams = api.identity.teams(org.id).await?;
        let mut map = serde_json::Map::new();
        for t in &teams {
            let can_view = is_admin || member_of.iter().any(|m| m.id == t.id);
            map.insert(
                t.name.clone(),
                json!({
                    "name": t.name,
                    "description": t.description,
                    "role": t.role,
                    "avatar": avatar(&t.name, "team"),
                    "can_view": can_view,
                    "repo_count": t.repo_count,
                    "member_count": t.member_count,
                    "is_synced": false,
                }),
            );
        }
        view["ordered_teams"] = json!(teams.iter().map(|t| &t.name).collect::<Vec<_>>());
        view["teams"] = Value::Object(map);
    }
    if is_admin {
        view["email"] = json!(org.email);
        view["invoice_email"] = json!(org.invoice_email);
        view["invoice_email_address"] = json!(org.invoice_email_address);
        view["tag_expiration_s"] = json!(org.tag_expiration_s);
        view["is_free_account"] = json!(true);
    }
    Ok(view)
}

/// Changes to an organization (Quay's `UpdateOrg`); absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
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

/// A field that may be present with `null`: `Some(None)`, unlike absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
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
        (status = 200, description = "The organization as it is now"),
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
) -> Result<Json<Value>, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    let change = OrganizationChange {
        email: body.email,
        invoice_email: body.invoice_email,
        invoice_email_address: body.invoice_email_address,
        tag_expiration_s: body.tag_expiration_s,
    };
    let org = api
        .identity
        .change_organization(&api.principal, Some(api.ip), &org, change)
        .await?;
    Ok(Json(org_view(&api, &org).await?))
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
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    api.identity
        .delete_organization(&api.principal, Some(api.ip), &org)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member as Quay shows it.
fn member_view(m: &OrganizationMember) -> Value {
    let kind = if m.is_robot { "robot" } else { "user" };
    json!({
        "name": m.name,
        "kind": kind,
        "avatar": avatar(&m.name, kind),
        "teams": m.teams.iter().map(|t| json!({ "name": t, "avatar": avatar(t, "team") })).collect::<Vec<_>>(),
        "repositories": m.repositories,
    })
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
        (status = 200, description = "`{members: [...]}`"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_members(api: Api, Path(orgname): Path<String>) -> Result<Json<Value>, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    let members = api.identity.organization_members(&org).await?;
    Ok(Json(
        json!({ "members": members.iter().map(member_view).collect::<Vec<_>>() }),
    ))
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
        (status = 200, description = "The member"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or member"),
    ),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_organization_member(
    api: Api,
    Path((orgname, membername)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    let member = api.identity.organization_member(&org, &membername).await?;
    Ok(Json(member_view(&member)))
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
    let org = api.identity.organization(&orgname).await?;
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    api.identity
        .remove_organization_member(&api.principal, Some(api.ip), &org, &membername)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
