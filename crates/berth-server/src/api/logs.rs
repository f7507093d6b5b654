//! Usage logs: `GET …/logs`, `GET …/aggregatelogs` and `POST …/exportlogs`
//! of a repository, an organization, the calling user and (for
//! superusers) the whole registry.
//!
//! Quay queues exports and calls back a URL or sends mail; Berth makes no
//! outbound calls, so an export is answered directly as JSON lines.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, RawQuery, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::IdentityError;
use berth_core::identity::usage_log::{LogEntry, LogFilter, LogScope};
use berth_core::identity::{Action, AuditEvent};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Api, avatar, format_date};
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

/// The query parameters of the log endpoints (Quay's names).
#[derive(Debug, Default, Deserialize)]
struct LogParams {
    /// First day, `%m/%d/%Y` UTC.
    starttime: Option<String>,
    /// Last day (inclusive), `%m/%d/%Y` UTC.
    endtime: Option<String>,
    /// Only entries by this account.
    performer: Option<String>,
    /// Token from the previous page.
    next_page: Option<String>,
}

impl LogParams {
    /// Parse the query string; unknown parameters are ignored, as Quay does.
    fn parse(raw: Option<String>) -> Result<LogParams, ApiError> {
        let p: LogParams = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::invalid(format!("invalid query: {e}")))?;
        let given = |v: Option<String>| v.filter(|s| !s.is_empty());
        Ok(LogParams {
            starttime: given(p.starttime),
            endtime: given(p.endtime),
            performer: given(p.performer),
            next_page: given(p.next_page),
        })
    }

    /// The entries of `scope` in the requested range, filtered by performer
    /// where the endpoint takes one.
    fn filter(&self, scope: LogScope, with_performer: bool) -> Result<LogFilter, ApiError> {
        let (start_ms, end_ms) = time_range(self.starttime.as_deref(), self.endtime.as_deref(), Utc::now())?;
        Ok(LogFilter {
            scope,
            performer: self.performer.clone().filter(|_| with_performer),
            start_ms,
            end_ms,
        })
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

/// Quay's view of a log entry.
fn log_view(e: &LogEntry) -> Value {
    let mut view = json!({
        "kind": e.kind,
        "metadata": e.metadata,
        "ip": e.ip,
        "datetime": format_date(e.created_ms),
    });
    if let Some(name) = &e.performer {
        let kind = if e.performer_is_robot { "robot" } else { "user" };
        view["performer"] = json!({
            "kind": "user",
            "name": name,
            "is_robot": e.performer_is_robot,
            "avatar": avatar(name, kind),
        });
    }
    if let (Some(name), Some(kind)) = (&e.namespace, &e.namespace_kind) {
        view["namespace"] = json!({ "kind": kind, "name": name, "avatar": avatar(name, kind) });
    }
    view
}

/// One page of `filter`'s entries: `{start_time, end_time, logs, next_page?}`.
async fn list(api: &Api, filter: LogFilter, params: &LogParams) -> Result<Json<Value>, ApiError> {
    let page = api
        .identity
        .usage_logs(&filter, params.next_page.as_deref())
        .await?;
    let mut body = json!({
        "start_time": format_date(page.start_ms),
        "end_time": format_date(page.end_ms),
        "logs": page.entries.iter().map(log_view).collect::<Vec<_>>(),
    });
    if let Some(token) = page.next_page {
        body["next_page"] = token.into();
    }
    Ok(Json(body))
}

/// Counts of `filter`'s entries per kind and day: `{aggregated: [...]}`.
async fn aggregate(api: &Api, filter: LogFilter) -> Result<Json<Value>, ApiError> {
    let counts = api.identity.usage_log_counts(&filter).await?;
    let aggregated: Vec<Value> = counts
        .iter()
        .map(|c| json!({ "kind": c.kind, "count": c.count, "datetime": format_date(c.day_ms) }))
        .collect();
    Ok(Json(json!({ "aggregated": aggregated })))
}

/// The optional body of an export request (Quay's `ExportLogs`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(super) struct ExportOptions {
    /// Refused: exports are returned directly.
    callback_url: Option<String>,
    /// Accepted and ignored.
    #[allow(dead_code)]
    callback_email: Option<String>,
}

/// An export request's body: none, or JSON [`ExportOptions`] (whatever
/// the content type, as clients differ); malformed JSON is 400.
struct ExportBody(ExportOptions);

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

/// Answer an export of `filter`'s entries as JSON lines, oldest first,
/// read from the database a page at a time while the response streams.
async fn export(
    api: &Api,
    filter: LogFilter,
    ExportBody(options): ExportBody,
    namespace: &str,
    event: AuditEvent,
) -> Result<Response, ApiError> {
    if options.callback_url.is_some_and(|u| !u.is_empty()) {
        return Err(ApiError::invalid(
            "callback_url is not supported: exports are returned directly in the response \
             (Berth makes no outbound calls)",
        ));
    }
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{namespace}-logs.jsonl\""))
        .map_err(|_| ApiError::invalid("namespace not usable as a file name"))?;
    let event = event.metadata(json!({
        "start_time": format_date(filter.start_ms),
        "end_time": format_date(filter.end_ms),
    }));
    let export = api.identity.export_usage_logs(&filter, event).await?;
    let lines = futures_util::stream::try_unfold(export, |mut export| async move {
        let Some(entries) = export.next_page().await? else {
            return Ok::<_, IdentityError>(None);
        };
        let mut chunk = Vec::new();
        for e in &entries {
            serde_json::to_writer(&mut chunk, &log_view(e))
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

/// The calling user's name (their namespace).
fn own_namespace(api: &Api) -> Result<String, ApiError> {
    api.principal
        .name()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::unauthenticated("Requires authentication"))
}

/// List the usage logs of a repository, newest first.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/logs",
    operation_id = "listRepoLogs",
    tag = "logs",
    params(
        ("namespace" = String, Path), ("repository" = String, Path),
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
        ("next_page" = Option<String>, Query, description = "Token from the previous page"),
    ),
    responses((status = 200, description = "A page of log entries"), (status = 400, description = "Bad date or token"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn list_repo_logs(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let full = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&full)).await?;
    let params = LogParams::parse(query)?;
    list(&api, params.filter(LogScope::Repository(full), false)?, &params).await
}

/// Counts of a repository's log entries per kind and day.
#[utoipa::path(
    get,
    path = "/repository/{namespace}/{repository}/aggregatelogs",
    operation_id = "getAggregateRepoLogs",
    tag = "logs",
    params(
        ("namespace" = String, Path), ("repository" = String, Path),
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
    ),
    responses((status = 200, description = "Counts per kind and day"), (status = 400, description = "Bad date"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn get_aggregate_repo_logs(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let full = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&full)).await?;
    let params = LogParams::parse(query)?;
    aggregate(&api, params.filter(LogScope::Repository(full), false)?).await
}

/// Export a repository's log entries, oldest first, as JSON lines.
#[utoipa::path(
    post,
    path = "/repository/{namespace}/{repository}/exportlogs",
    operation_id = "exportRepoLogs",
    tag = "logs",
    params(
        ("namespace" = String, Path), ("repository" = String, Path),
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
    ),
    request_body(content = Option<ExportOptions>, description = "Optional; callback_url is refused"),
    responses((status = 200, description = "The entries, one JSON object per line", content_type = "application/x-ndjson"), (status = 400, description = "Bad date or callback_url given"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["repo:admin"]))
)]
async fn export_repo_logs(
    api: Api,
    Path((namespace, repository)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: ExportBody,
) -> Result<Response, ApiError> {
    let full = format!("{namespace}/{repository}");
    api.authorize(Action::Administer(&full)).await?;
    let filter = LogParams::parse(query)?.filter(LogScope::Repository(full.clone()), false)?;
    let event = api.event("export_logs_success").repository(&full);
    export(&api, filter, body, &namespace, event).await
}

/// List the usage logs of an organization, newest first.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/logs",
    operation_id = "listOrgLogs",
    tag = "logs",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
        ("performer" = Option<String>, Query, description = "Only entries by this user or robot"),
        ("next_page" = Option<String>, Query, description = "Token from the previous page"),
    ),
    responses((status = 200, description = "A page of log entries"), (status = 400, description = "Bad date or token"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn list_org_logs(
    api: Api,
    Path(orgname): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    api.identity.organization(&orgname).await?;
    let params = LogParams::parse(query)?;
    list(&api, params.filter(LogScope::Namespace(orgname), true)?, &params).await
}

/// Counts of an organization's log entries per kind and day.
#[utoipa::path(
    get,
    path = "/organization/{orgname}/aggregatelogs",
    operation_id = "getAggregateOrgLogs",
    tag = "logs",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
        ("performer" = Option<String>, Query, description = "Only entries by this user or robot"),
    ),
    responses((status = 200, description = "Counts per kind and day"), (status = 400, description = "Bad date"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn get_aggregate_org_logs(
    api: Api,
    Path(orgname): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    api.identity.organization(&orgname).await?;
    let params = LogParams::parse(query)?;
    aggregate(&api, params.filter(LogScope::Namespace(orgname), true)?).await
}

/// Export an organization's log entries, oldest first, as JSON lines.
#[utoipa::path(
    post,
    path = "/organization/{orgname}/exportlogs",
    operation_id = "exportOrgLogs",
    tag = "logs",
    params(
        ("orgname" = String, Path, description = "The organization"),
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
    ),
    request_body(content = Option<ExportOptions>, description = "Optional; callback_url is refused"),
    responses((status = 200, description = "The entries, one JSON object per line", content_type = "application/x-ndjson"), (status = 400, description = "Bad date or callback_url given"), (status = 403, description = "Not allowed")),
    security(("basic" = []), ("oauth2_bearer" = ["org:admin"]))
)]
async fn export_org_logs(
    api: Api,
    Path(orgname): Path<String>,
    RawQuery(query): RawQuery,
    body: ExportBody,
) -> Result<Response, ApiError> {
    api.authorize(Action::AdministerNamespace(&orgname)).await?;
    api.identity.organization(&orgname).await?;
    let filter = LogParams::parse(query)?.filter(LogScope::Namespace(orgname.clone()), false)?;
    let event = api.event("export_logs_success").namespace(&orgname);
    export(&api, filter, body, &orgname, event).await
}

/// List the usage logs of the calling user's namespace, newest first.
#[utoipa::path(
    get,
    path = "/user/logs",
    operation_id = "listUserLogs",
    tag = "logs",
    params(
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
        ("performer" = Option<String>, Query, description = "Only entries by this user or robot"),
        ("next_page" = Option<String>, Query, description = "Token from the previous page"),
    ),
    responses((status = 200, description = "A page of log entries"), (status = 400, description = "Bad date or token"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn list_user_logs(api: Api, RawQuery(query): RawQuery) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::AdministerUser).await?;
    let user = own_namespace(&api)?;
    let params = LogParams::parse(query)?;
    list(&api, params.filter(LogScope::Namespace(user), true)?, &params).await
}

/// Counts of the calling user's log entries per kind and day.
#[utoipa::path(
    get,
    path = "/user/aggregatelogs",
    operation_id = "getAggregateUserLogs",
    tag = "logs",
    params(
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
        ("performer" = Option<String>, Query, description = "Only entries by this user or robot"),
    ),
    responses((status = 200, description = "Counts per kind and day"), (status = 400, description = "Bad date"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn get_aggregate_user_logs(api: Api, RawQuery(query): RawQuery) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::AdministerUser).await?;
    let user = own_namespace(&api)?;
    let params = LogParams::parse(query)?;
    aggregate(&api, params.filter(LogScope::Namespace(user), true)?).await
}

/// Export the calling user's log entries, oldest first, as JSON lines.
#[utoipa::path(
    post,
    path = "/user/exportlogs",
    operation_id = "exportUserLogs",
    tag = "logs",
    params(
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
    ),
    request_body(content = Option<ExportOptions>, description = "Optional; callback_url is refused"),
    responses((status = 200, description = "The entries, one JSON object per line", content_type = "application/x-ndjson"), (status = 400, description = "Bad date or callback_url given"), (status = 401, description = "Not authenticated")),
    security(("basic" = []), ("oauth2_bearer" = ["user:admin"]))
)]
async fn export_user_logs(
    api: Api,
    RawQuery(query): RawQuery,
    body: ExportBody,
) -> Result<Response, ApiError> {
    api.authorize(Action::AdministerUser).await?;
    let user = own_namespace(&api)?;
    let filter = LogParams::parse(query)?.filter(LogScope::Namespace(user.clone()), false)?;
    let event = api.event("export_logs_success").namespace(&user);
    export(&api, filter, body, &user, event).await
}

/// List every usage-log entry of the registry, newest first.
#[utoipa::path(
    get,
    path = "/superuser/logs",
    operation_id = "listAllLogs",
    tag = "superuser",
    params(
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
        ("next_page" = Option<String>, Query, description = "Token from the previous page"),
    ),
    responses((status = 200, description = "A page of log entries"), (status = 400, description = "Bad date or token"), (status = 403, description = "Not a superuser")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn list_all_logs(api: Api, RawQuery(query): RawQuery) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::SuperUser).await?;
    let params = LogParams::parse(query)?;
    list(&api, params.filter(LogScope::All, false)?, &params).await
}

/// Counts of every usage-log entry per kind and day.
#[utoipa::path(
    get,
    path = "/superuser/aggregatelogs",
    operation_id = "listAllAggregateLogs",
    tag = "superuser",
    params(
        ("starttime" = Option<String>, Query, description = "Earliest day, %m/%d/%Y UTC"),
        ("endtime" = Option<String>, Query, description = "Latest day (inclusive), %m/%d/%Y UTC"),
    ),
    responses((status = 200, description = "Counts per kind and day"), (status = 400, description = "Bad date"), (status = 403, description = "Not a superuser")),
    security(("basic" = []), ("oauth2_bearer" = ["super:user"]))
)]
async fn list_all_aggregate_logs(api: Api, RawQuery(query): RawQuery) -> Result<Json<Value>, ApiError> {
    api.authorize(Action::SuperUser).await?;
    let params = LogParams::parse(query)?;
    aggregate(&api, params.filter(LogScope::All, false)?).await
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
