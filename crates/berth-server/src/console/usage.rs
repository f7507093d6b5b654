//! The usage log's chart of actions per day (inline SVG drawn on the
//! server: no script, no library) and its export as CSV, read through the
//! core's log queries like the API's.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::IdentityError;
use berth_core::identity::usage_log::{LogEntry, LogFilter, LogScope};

use super::error::ConsoleError;
use super::logs::recent;
use super::session::Visitor;

const DAY_MS: i64 = 86_400_000;
/// Days the chart shows, ending today.
const DAYS: i64 = 30;
/// The drawing's size in SVG units (CSS scales it to the page).
const WIDTH: i64 = 600;
const HEIGHT: i64 = 120;

/// One day's bar.
pub(crate) struct DayBar {
    /// `2026-12-06`.
    pub day: String,
    /// Actions that day.
    pub count: i64,
    /// Geometry in SVG units.
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
}

/// Actions per day over the last [`DAYS`] days, and per kind.
pub(crate) struct Chart {
    /// One bar per day, oldest first.
    pub bars: Vec<DayBar>,
    /// Actions over the whole range.
    pub total: i64,
    /// The busiest day's count.
    pub max: i64,
    /// Actions per kind, most frequent first.
    pub kinds: Vec<(String, i64)>,
    /// The first and last day shown.
    pub first: String,
    pub last: String,
}

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The filter of the pages' range over `scope`.
pub(crate) fn filter(scope: LogScope) -> LogFilter {
    let (start_ms, end_ms) = recent();
    LogFilter {
        scope,
        performer: None,
        start_ms,
        end_ms,
    }
}

/// The chart of `scope`'s entries (the core checks the visitor may read
/// them).
pub(crate) async fn chart(visitor: &Visitor, scope: LogScope) -> Result<Chart, ConsoleError> {
    let counts = visitor
        .identity
        .usage_log_counts(&visitor.caller, &filter(scope))
        .await?;
    let today = berth_core::now_ms().div_euclid(DAY_MS) * DAY_MS;
    let first_day = today - (DAYS - 1) * DAY_MS;
    let mut per_day = vec![0i64; DAYS as usize];
    let mut kinds: Vec<(String, i64)> = Vec::new();
    for c in counts {
        let index = (c.day_ms - first_day).div_euclid(DAY_MS);
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| per_day.get_mut(i)) {
            *slot += c.count;
        } else {
            continue;
        }
        match kinds.iter_mut().find(|(k, _)| *k == c.kind) {
            Some((_, n)) => *n += c.count,
            None => kinds.push((c.kind, c.count)),
        }
    }
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let max = per_day.iter().copied().max().unwrap_or(0);
    let slot = WIDTH / DAYS;
    let bars = per_day
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            // A day with actions shows at least a sliver.
            let height = if max == 0 || count == 0 {
                0
            } else {
                (count * (HEIGHT - 4) / max).max(2)
            };
            DayBar {
                day: day(first_day + i as i64 * DAY_MS),
                count,
                x: i as i64 * slot + 1,
                y: HEIGHT - height,
                width: slot - 2,
                height,
            }
        })
        .collect();
    Ok(Chart {
        bars,
        total: per_day.iter().sum(),
        max,
        kinds,
        first: day(first_day),
        last: day(today),
    })
}

/// One CSV field: quoted, quotes doubled, and a leading character a
/// spreadsheet would run as a formula defused with `'`.
fn field(out: &mut String, value: &str) {
    out.push('"');
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    out.push_str(&value.replace('"', "\"\""));
    out.push('"');
}

/// One entry as a CSV line.
fn csv_line(e: &LogEntry) -> String {
    let time = chrono::DateTime::from_timestamp_millis(e.created_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let mut line = String::new();
    for (i, value) in [
        time.as_str(),
        e.kind.as_str(),
        e.performer.as_deref().unwrap_or(""),
        e.namespace.as_deref().unwrap_or(""),
        e.repository.as_deref().unwrap_or(""),
        e.ip.as_deref().unwrap_or(""),
        &e.metadata.to_string(),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            line.push(',');
        }
        field(&mut line, value);
    }
    line.push_str("\r\n");
    line
}

/// The CSV header line.
const CSV_HEADER: &str = "time,kind,performer,namespace,repository,ip,metadata\r\n";

/// The entries of `scope` over the pages' range as a CSV download named
/// `<name>-logs.csv`, oldest first, read a page at a time while it
/// streams. The core admits the visitor first and logs the export.
pub(crate) async fn export(visitor: &Visitor, scope: LogScope, name: &str) -> Result<Response, ConsoleError> {
    let export = visitor
        .identity
        .export_usage_logs(&visitor.caller, &filter(scope))
        .await?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}-logs.csv\""))
        .map_err(|_| ConsoleError::invalid("name not usable as a file name"))?;
    let header_line = futures_util::stream::once(async {
        Ok::<_, IdentityError>(Bytes::from_static(CSV_HEADER.as_bytes()))
    });
    let lines = futures_util::stream::try_unfold(export, |mut export| async move {
        let Some(entries) = export.next_page().await? else {
            return Ok::<_, IdentityError>(None);
        };
        let chunk: String = entries.iter().map(csv_line).collect();
        Ok(Some((Bytes::from(chunk), export)))
    });
    use futures_util::StreamExt;
    let mut response = (StatusCode::OK, Body::from_stream(header_line.chain(lines))).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        field(&mut out, "=HYPERLINK(\"x\")");
        assert_eq!(out, "\"'=HYPERLINK(\"\"x\"\")\"");
        let mut out = String::new();
        field(&mut out, "push_repo");
        assert_eq!(out, "\"push_repo\"");
    }
}
