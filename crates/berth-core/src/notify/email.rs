//! The `email` method: one message per event over SMTP (Quay's `MAIL_*`
//! settings), through lettre.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;

use super::events::EventKind;

/// The SMTP server (Quay's `MAIL_SERVER`, `MAIL_PORT`, `MAIL_USE_TLS`,
/// `MAIL_USERNAME`, `MAIL_PASSWORD`, `MAIL_DEFAULT_SENDER`).
#[derive(Clone)]
pub struct MailSettings {
    /// Host name or address.
    pub server: String,
    /// Port.
    pub port: u16,
    /// Require STARTTLS.
    pub use_tls: bool,
    /// Log in as, if set.
    pub username: Option<String>,
    /// With this password.
    pub password: Option<String>,
    /// The `From` address.
    pub sender: String,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("MailSettings")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("use_tls", &self.use_tls)
            .field("username", &self.username)
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

impl MailSettings {
    /// Why these settings cannot work, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.server.is_empty() {
            return Err("MAIL_SERVER is empty".into());
        }
        if self.port == 0 {
            return Err("MAIL_PORT must be a port number".into());
        }
        self.sender
            .parse::<Mailbox>()
            .map(|_| ())
            .map_err(|e| format!("MAIL_DEFAULT_SENDER is not an e-mail address: {e}"))
    }
}

/// Sends notification e-mail.
#[derive(Clone)]
pub(super) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sender: Mailbox,
}

impl Mailer {
    /// A mailer for `settings`, or why not.
    pub(super) fn new(settings: &MailSettings, timeout: Duration) -> Result<Mailer, String> {
        let builder = if settings.use_tls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.server)
                .map_err(|e| e.to_string())?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.server)
        };
        let mut builder = builder.port(settings.port).timeout(Some(timeout));
        if let Some(user) = &settings.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                settings.password.clone().unwrap_or_default(),
            ));
        }
        let sender = settings
            .sender
            .parse::<Mailbox>()
            .map_err(|e| format!("MAIL_DEFAULT_SENDER: {e}"))?;
        Ok(Mailer {
            transport: builder.build(),
            sender,
        })
    }

    /// Mail the event to `to`.
    pub(super) async fn send(&self, to: &str, kind: EventKind, data: &Value) -> Result<(), String> {
        let to = to.parse::<Mailbox>().map_err(|e| format!("bad address: {e}"))?;
        let summary = kind.summary(data);
        let message = Message::builder()
            .from(self.sender.clone())
            .to(to)
            .subject(summary.clone())
            .body(body(kind, &summary, data))
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The plain-text body: the summary, then every field of the event data.
fn body(kind: EventKind, summary: &str, data: &Value) -> String {
    let mut out = format!("{summary}\n\nEvent: {}\n", kind.name());
    if let Value::Object(map) = data {
        for (key, value) in map {
            let shown = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            out.push_str(&format!("{key}: {shown}\n"));
        }
    }
    out
}

/// Whether `address` is an e-mail address.
pub(super) fn valid_address(address: &str) -> bool {
    address.parse::<Mailbox>().is_ok()
}
