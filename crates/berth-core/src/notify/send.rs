//! The HTTP methods: `webhook` (Quay's JSON body, or a CloudEvents 1.0
//! envelope, signed) and `slack` (an incoming-webhook message). Every
//! request goes through the SSRF guard's client: bounded in time, no
//! redirects, and only the first bytes of an answer are read.

use std::time::Duration;

use serde_json::{Value, json};

use super::events::{EventKind, Site};
use crate::ssrf::SsrfGuard;

/// Bytes of a receiver's answer read at most (the rest is dropped).
const ANSWER_CAP: usize = 64 * 1024;

/// What an attempt got.
#[derive(Debug, Clone, Default)]
pub(super) struct Outcome {
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// Why it failed; `None`: delivered.
    pub error: Option<String>,
}

impl Outcome {
    pub(super) fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            status: None,
            error: Some(error.into()),
        }
    }
}

/// Posts to receivers.
#[derive(Clone)]
pub(super) struct HttpSender {
    client: reqwest::Client,
    guard: SsrfGuard,
}

impl HttpSender {
    /// A sender bounded by `timeout` per request.
    pub(super) fn new(guard: SsrfGuard, timeout: Duration) -> Result<HttpSender, String> {
        let client = guard
            .client_builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpSender { client, guard })
    }

    /// POST `body` to `url`; a 2xx answer is a delivery.
    pub(super) async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        content_type: &str,
        headers: &[(&str, String)],
    ) -> Outcome {
        let url = match self.guard.check_url(url) {
            Ok(u) => u,
            Err(e) => return Outcome::failed(e.to_string()),
        };
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::failed(describe(&e)),
        };
        let status = response.status();
        // Read a bounded prefix so the connection can be reused; a receiver
        // that streams forever is cut by the timeout or the cap.
        let mut read = 0usize;
        while read < ANSWER_CAP {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        Outcome {
            status: Some(i32::from(status.as_u16())),
            error: (!status.is_success()).then(|| format!("the receiver answered {status}")),
        }
    }
}

/// A reqwest error with its cause (the guard's refusal, a timeout...).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A webhook's body and content type: Quay's `event_data` as is, or the
/// CloudEvents 1.0 structured envelope around it.
pub(super) fn webhook_body(
    cloudevents: bool,
    delivery: &str,
    kind: EventKind,
    data: &Value,
    site: &Site,
    time_ms: i64,
) -> (Vec<u8>, &'static str) {
    if !cloudevents {
        return (data.to_string().into_bytes(), "application/json");
    }
    let time = chrono::DateTime::from_timestamp_millis(time_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let source = match data.get("homepage").and_then(Value::as_str) {
        Some(h) => h.to_owned(),
        None => format!("{}://{}", site.scheme, site.host),
    };
    let mut envelope = json!({
        "specversion": "1.0",
        "id": delivery,
        "source": source,
        "type": format!("berth.{}", kind.name()),
        "time": time,
        "datacontenttype": "application/json",
        "data": data,
    });
    if let Some(repo) = data.get("repository").and_then(Value::as_str) {
        envelope["subject"] = repo.into();
    }
    (envelope.to_string().into_bytes(), "application/cloudevents+json")
}

/// Slack's incoming-webhook message for an event (Quay's shape).
pub(super) fn slack_body(kind: EventKind, data: &Value) -> Vec<u8> {
    let summary = kind.summary(data);
    let color = match kind.level(data) {
        "error" => "danger",
        "warning" => "warning",
        "success" => "good",
        _ => "#ffffff",
    };
    let link = data.get("homepage").and_then(Value::as_str).unwrap_or("");
    let text = if link.is_empty() {
        summary.clone()
    } else {
        format!("<{link}|{summary}>")
    };
    json!({
        "text": summary,
        "username": "berth",
        "attachments": [{
            "fallback": summary,
            "text": text,
            "color": color,
            "mrkdwn_in": ["text"],
        }],
    })
    .to_string()
    .into_bytes()
}
