//! Where log lines go and in which format (`LOGS_FORMAT`): readable text
//! or one JSON object per line, both on standard error, filtered by
//! `RUST_LOG` (default `info`).

use serde::{Deserialize, Serialize};

/// `LOGS_FORMAT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogsFormat {
    /// Readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the request's span (its id) in each.
    Json,
}

/// Install the log subscriber; later calls change nothing.
pub fn init(format: LogsFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is set already.
    let _ = match format {
        LogsFormat::Text => builder.try_init(),
        LogsFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
