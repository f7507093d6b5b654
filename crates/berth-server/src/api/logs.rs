//! Usage logs: `GET …/logs`, `GET …/aggregatelogs` and `POST …/exportlogs`
//! of a repository, an organization, the calling user and (for
//! superusers) the whole registry.
//!
//! Quay queues exports and calls back a URL or sends mail; Berth makes no
//! outbound calls, so an export is answered directly as JSON lines.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::identity::usage_log::{LogCount, LogEntry, LogFilter, LogScope};
use berth_core::{IdentityError, Namespace};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, ApiQuery, Avatar, avatar, format_date};
use super::repositories::repo_path;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_repo_logs))
        .routes(routes!(get_aggregate_repo_logs))
        .routes(routes!(export_repo_logs))
        .routes(routes!(list_org_logs))
        .routes(routes!(get_aggregate_org_logs))
        .routes(routes!(export_org_logs))
        .routes(routes!(list_user_logs))
        .routes(routes!(get_aggregate_user_logs))
        .routes(routes!(export_user_logs))
        .routes(routes!(list_all_logs))
        .routes(routes!(list_all_aggregate_logs))
}

/// The query parameters of the log endpoints (Quay's names); unknown
/// parameters are ignored, as Quay does, and empty ones are absent.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub(super) struct LogParams {
    /// Earliest day, `%m/%d/%Y` UTC (default: a day ago).
    starttime: Option<String>,
    /// Latest day (inclusive), `%m/%d/%Y` UTC (default: today).
    endtime: Option<String>,
    /// Only entries by this user or robot (organization and user logs).
    performer: Option<String>,
    /// Token from the previous page (listings).
    next_page: Option<String>,
}

impl LogParams {
    /// The entries of `scope` in the requested range, filtered by performer
    /// where the endpoint takes one.
    fn filter(&self, scope: LogScope, with_performer: bool) -> Result<LogFilter, ApiError> {
        let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let (start_ms, end_ms) = time_range(
            given(&self.starttime).as_deref(),
            given(&self.endtime).as_deref(),
            Utc::now(),
        )?;
        Ok(LogFilter {
            scope,
            performer: given(&self.performer).filter(|_| with_performer),
            start_ms,
            end_ms,
        })
    }

    /// The page token, if one is given.
    fn next_page(&self) -> Option<&str> {
        self.next_page.as_deref().filter(|s| !s.is_empty())
    }
}

/// Quay's range: from the start day (default: a day ago) to the end of the
/// end day (default: today), i.e. the end plus one day, exclusive.
fn time_range(start: Option<&str>, end: Option<&str>, now: DateTime<Utc>) -> Result<(i64, i64), ApiError> {
    let day = |s: &str, name: &str| {
        NaiveDate::parse_from_str(s, "%m/%d/%Y")
            .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
            .map_err(|_| ApiError::invalid(format!("invalid {name} {s:?}: expected %m/%d/%Y")))
    };
    let out_of_range = || ApiError::invalid("date out of range");
    let start = match start {
        Some(s) => day(s, "starttime")?,
        None => now
            .checked_sub_signed(TimeDelta::days(1))
            .ok_or_else(out_of_range)?,
    };
    let end = match end {
        Some(s) => day(s, "endtime")?,
        None => now,
    }
    .checked_add_signed(TimeDelta::days(1))
    .ok_or_else(out_of_range)?;
    if end < start {
        return Err(ApiError::invalid(
            "Invalid date range: endtime must not be before starttime",
        ));
    }
    Ok((start.timestamp_millis(), end.timestamp_millis()))
}

/// Who made a log entry.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PerformerView {
    /// Always `user` (robots are users with `is_robot`), as Quay.
    kind: String,
    /// The account's name.
    name: String,
    /// Whether it is a robot.
    is_robot: bool,
    /// Its avatar.
    avatar: Avatar,
}

/// The namespace a log entry was made in.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LogNamespaceView {
    /// `user` or `org`.
    kind: String,
    /// Its name.
    name: String,
    /// Its avatar.
    avatar: Avatar,
}

/// Quay's view of a log entry.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LogView {
    /// What happened (Quay's log kind).
    kind: String,
    /// Details, free-form per kind.
    #[schema(value_type = Object)]
    metadata: serde_json::Value,
    /// The client's address.
    ip: Option<String>,
    /// When.
    datetime: String,
    /// Who did it, if anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    performer: Option<PerformerView>,
    /// Where, if the namespace still exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<LogNamespaceView>,
}

impl From<LogEntry> for LogView {
    fn from(e: LogEntry) -> Self {
        let performer = e.performer.map(|name| {
            let kind = if e.performer_is_robot { "robot" } else { "user" };
            PerformerView {
                kind: "user".into(),
                avatar: avatar(&name, kind),
                name,
                is_robot: e.performer_is_robot,
            }
        });
        let namespace = match (e.namespace, e.namespace_kind) {
            (Some(name), Some(kind)) => Some(LogNamespaceView {
                kind: kind.as_str().to_owned(),
                avatar: avatar(&name, kind.as_str()),
                name,
            }),
            _ => None,
        };
        LogView {
            kind: e.kind,
            metadata: e.metadata,
            ip: e.ip,
            datetime: format_date(e.created_ms),
            performer,
            namespace,
        }
    }
}

/// One page of log entries.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LogPageView {
    /// The range listed: its start.
    start_time: String,
    /// Its end.
    end_time: String,
    /// Up to 100 entries, newest first.
    logs: Vec<LogView>,
    /// The token of the next page, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page: Option<String>,
}

/// How many entries of one kind were made on one day.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LogCountView {
    /// The log kind.
    kind: String,
    /// How many.
    count: i64,
    /// The day.
    datetime: String,
}

impl From<LogCount> for LogCountView {
    fn from(c: LogCount) -> Self {
        LogCountView {
            kind: c.kind,
            count: c.count,
            datetime: format_date(c.day_ms),
        }
    }
}

/// Counts of entries per kind and day.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AggregateView {
    /// Oldest day first.
    aggregated: Vec<LogCountView>,
}

/// One page of the entries of `scope`.
async fn list(
    api: &Api,
    scope: LogScope,
    params: &LogParams,
    with_performer: bool,
) -> Result<Json<LogPageView>, ApiError> {
    let filter = params.filter(scope, with_performer)?;
    let page = api
        .identity
        .usage_logs(&api.caller, &filter, params.next_page())
        .await?;
    Ok(Json(LogPageView {
        start_time: format_date(page.start_ms),
        end_time: format_date(page.end_ms),
        logs: page.entries.into_iter().map(LogView::from).collect(),
        next_page: page.next_page,
    }))
}

/// Counts of the entries of `scope` per kind and day.
async fn aggregate(
    api: &Api,
    scope: LogScope,
    params: &LogParams,
    with_performer: bool,
) -> Result<Json<AggregateView>, ApiError> {
    let filter = params.filter(scope, with_performer)?;
    let counts = api.identity.usage_log_counts(&api.caller, &filter).await?;
    Ok(Json(AggregateView {
        aggregated: counts.into_iter().map(LogCountView::from).collect(),
    }))
}

/// The optional body of an export request (Quay's `ExportLogs`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportOptions {
    /// Refused: exports are returned directly.
    callback_url: Option<String>,
    /// Accepted and ignored.
    #[allow(dead_code)]
    callback_email: Option<String>,
}

/// An export request's body: none, or JSON [`ExportOptions`] (whatever
/// the content type, as clients differ); malformed JSON and unknown
/// fields are 400.
pub(super) struct ExportBody(ExportOptions);

impl<S: Send + Sync> FromRequest<S> for ExportBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(e.body_text()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(ExportBody(ExportOptions::default()));
        }
        serde_json::from_slice(&body)
            .map(ExportBody)
            .map_err(|e| ApiError::invalid(format!("invalid body: {e}")))
    }
}

/// Answer an export of the entries of `scope` as JSON lines, oldest first,
/// read from the database a page at a time while the response streams;
/// the file is named after `name`.
async fn export(
    api: &Api,
    scope: LogScope,
    params: &LogParams,
    ExportBody(options): ExportBody,
    name: &str,
) -> Result<Response, ApiError> {
    let filter = params.filter(scope, false)?;
    // The caller is admitted first; an export not read is not logged.
    let export = api.identity.export_usage_logs(&api.caller, &filter).await?;
    if options.callback_url.is_some_and(|u| !u.is_empty()) {
        return Err(ApiError::invalid(
            "callback_url is not supported: exports are returned directly in the response \
             (Berth makes no outbound calls)",
        ));
    }
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}-logs.jsonl\""))
        .map_err(|_| ApiError::invalid("namespace not usable as a file name"))?;
    let lines = futures_util::stream::try_unfold(export, |mut export| async move {
        let Some(entries) = export.next_page().await? else {
            return Ok::<_, IdentityError>(None);
        };
        let mut chunk = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut chunk, &LogView::from(e))
                .map_err(|e| IdentityError::Internal(e.to_string()))?;
            chunk.push(b'\n');
        }
        Ok(Some((Bytes::from(chunk), export)))
    });
    let mut response = (StatusCode::OK, Body::from_stream(lines)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}

/// The organization a path names; an invalid name names nothing.
fn organization(orgname: &str) -> Result<Namespace, ApiError> {
    Namespace::new(orgname).map_err(|_| ApiError::not_found(format!("organization {orgname} not found")))
}

/// The export file's name for the calling user.
fn own_name(api: &Api) -> &str {
    api.caller.name().unwrap_or("user")
}

/// List the usage logs of a repository, newest first.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/logs",
    operation_id = "listRepoLogs",
    tag = "logs",
    params(("namespace" = String, Path), ("repository" = String, Path), LogParams),
    responses((status = 200, description = "A page of log entries", body = LogPageView), (status = 400, description = "Bad date or token"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn list_repo_logs(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<LogPageView>, ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    list(&api, LogScope::Repository(repo), &params, false).await
}

/// Counts of a repository's log entries per kind and day.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/aggregatelogs",
    operation_id = "getAggregateRepoLogs",
    tag = "logs",
    params(("namespace" = String, Path), ("repository" = String, Path), LogParams),
    responses((status = 200, description = "Counts per kind and day", body = AggregateView), (status = 400, description = "Bad date"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_aggregate_repo_logs(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<AggregateView>, ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    aggregate(&api, LogScope::Repository(repo), &params, false).await
}

/// Export a repository's log entries, oldest first, as JSON lines.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/exportlogs",
    operation_id = "exportRepoLogs",
    tag = "logs",
    params(("namespace" = String, Path), ("repository" = String, Path), LogParams),
    request_body(content = Option<ExportOptions>, description = "Optional; callback_url is refused"),
    responses((status = 200, description = "The entries, one LogView per line", body = LogView, content_type = "application/x-ndjson"), (status = 400, description = "Bad date or callback_url given"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn export_repo_logs(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<LogParams>,
    body: ExportBody,
) -> Result<Response, ApiError> {
    let repo = repo_path(&namespace, &repository)?;
    export(&api, LogScope::Repository(repo), &params, body, &namespace).await
}

/// List the usage logs of an organization, newest first.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/logs",
    operation_id = "listOrgLogs",
    tag = "logs",
    params(("orgname" = String, Path, description = "The organization"), LogParams),
    responses((status = 200, description = "A page of log entries", body = LogPageView), (status = 400, description = "Bad date or token"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn list_org_logs(
    api: Api,
    Path(orgname): Path<String>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<LogPageView>, ApiError> {
    let org = organization(&orgname)?;
    list(&api, LogScope::Organization(org), &params, true).await
}

/// Counts of an organization's log entries per kind and day.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/aggregatelogs",
    operation_id = "getAggregateOrgLogs",
    tag = "logs",
    params(("orgname" = String, Path, description = "The organization"), LogParams),
    responses((status = 200, description = "Counts per kind and day", body = AggregateView), (status = 400, description = "Bad date"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_aggregate_org_logs(
    api: Api,
    Path(orgname): Path<String>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<AggregateView>, ApiError> {
    let org = organization(&orgname)?;
    aggregate(&api, LogScope::Organization(org), &params, true).await
}

/// Export an organization's log entries, oldest first, as JSON lines.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/exportlogs",
    operation_id = "exportOrgLogs",
    tag = "logs",
    params(("orgname" = String, Path, description = "The organization"), LogParams),
    request_body(content = Option<ExportOptions>, description = "Optional; callback_url is refused"),
    responses((status = 200, description = "The entries, one LogView per line", body = LogView, content_type = "application/x-ndjson"), (status = 400, description = "Bad date or callback_url given"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn export_org_logs(
    api: Api,
    Path(orgname): Path<String>,
    ApiQuery(params): ApiQuery<LogParams>,
    body: ExportBody,
) -> Result<Response, ApiError> {
    let org = organization(&orgname)?;
    export(&api, LogScope::Organization(org), &params, body, &orgname).await
}

/// List the usage logs of the calling user's namespace, newest first.
#[utoipa::path(
    get,
    path = "/user/logs",
    operation_id = "listUserLogs",
    tag = "logs",
    params(LogParams),
    responses((status = 200, description = "A page of log entries", body = LogPageView), (status = 400, description = "Bad date or token"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_user_logs(
    api: Api,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<LogPageView>, ApiError> {
    list(&api, LogScope::CallingUser, &params, true).await
}

/// Counts of the calling user's log entries per kind and day.
#[utoipa::path(
    get,
    path = "/user/aggregatelogs",
    operation_id = "getAggregateUserLogs",
    tag = "logs",
    params(LogParams),
    responses((status = 200, description = "Counts per kind and day", body = AggregateView), (status = 400, description = "Bad date"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_aggregate_user_logs(
    api: Api,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<AggregateView>, ApiError> {
    aggregate(&api, LogScope::CallingUser, &params, true).await
}

/// Export the calling user's log entries, oldest first, as JSON lines.
#[utoipa::path(
    post,
    path = "/user/exportlogs",
    operation_id = "exportUserLogs",
    tag = "logs",
    params(LogParams),
    request_body(content = Option<ExportOptions>, description = "Optional; callback_url is refused"),
    responses((status = 200, description = "The entries, one LogView per line", body = LogView, content_type = "application/x-ndjson"), (status = 400, description = "Bad date or callback_url given"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn export_user_logs(
    api: Api,
    ApiQuery(params): ApiQuery<LogParams>,
    body: ExportBody,
) -> Result<Response, ApiError> {
    let name = own_name(&api).to_owned();
    export(&api, LogScope::CallingUser, &params, body, &name).await
}

/// List every usage-log entry of the registry, newest first.
#[utoipa::path(
    get,
    path = "/superuser/logs",
    operation_id = "listAllLogs",
    tag = "superuser",
    params(LogParams),
    responses((status = 200, description = "A page of log entries", body = LogPageView), (status = 400, description = "Bad date or token"), (status = 403, description = "Not a superuser")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn list_all_logs(
    api: Api,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<LogPageView>, ApiError> {
    list(&api, LogScope::All, &params, false).await
}

/// Counts of every usage-log entry per kind and day.
#[utoipa::path(
    get,
    path = "/superuser/aggregatelogs",
    operation_id = "listAllAggregateLogs",
    tag = "superuser",
    params(LogParams),
    responses((status = 200, description = "Counts per kind and day", body = AggregateView), (status = 400, description = "Bad date"), (status = 403, description = "Not a superuser")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn list_all_aggregate_logs(
    api: Api,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<AggregateView>, ApiError> {
    aggregate(&api, LogScope::All, &params, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn range_defaults_to_the_last_day_plus_a_day() {
        let now = at("2024-05-21T20:41:09Z");
        let (start, end) = time_range(None, None, now).unwrap();
        assert_eq!(start, at("2024-05-20T20:41:09Z").timestamp_millis());
        assert_eq!(end, at("2024-05-22T20:41:09Z").timestamp_millis());
    }

    #[test]
    fn range_end_day_is_inclusive() {
        let now = at("2024-05-21T20:41:09Z");
        let (start, end) = time_range(Some("05/01/2024"), Some("05/03/2024"), now).unwrap();
        assert_eq!(start, at("2024-05-01T00:00:00Z").timestamp_millis());
        assert_eq!(end, at("2024-05-04T00:00:00Z").timestamp_millis());
    }

    #[test]
    fn bad_ranges_are_refused() {
        let now = Utc::now();
        for (s, e) in [
            (Some("2024-05-01"), None),
            (Some("13/01/2024"), None),
            (None, Some("nonsense")),
            (Some("05/03/2024"), Some("05/01/2024")),
            (Some("12/31/262143"), None),
        ] {
            assert!(time_range(s, e, now).is_err(), "{s:?} {e:?}");
        }
    }
}
