//! Organizations: `POST /api/v1/organization/`, `GET
//! /api/v1/organization/{orgname}`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use berth_core::identity::Action;
use serde::Deserialize;
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
        .routes(routes!(get_organization))
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
        .create_organization(&body.name, body.email.as_deref(), &api.principal, Some(api.ip))
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
    let is_admin = api.may(Action::AdministerNamespace(&orgname)).await?;
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
        view["invoice_email"] = json!(false);
        view["invoice_email_address"] = Value::Null;
        view["tag_expiration_s"] = json!(org.tag_expiration_s);
        view["is_free_account"] = json!(true);
    }
    Ok(Json(view))
}
