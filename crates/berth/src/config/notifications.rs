//! Event notifications: delivery timing, the SMTP server (Quay's `MAIL_*`
//! keys), the outbound-request guard (`SSRF_ALLOWED_HOSTS`) and the key
//! that encrypts webhook signing secrets (`DATABASE_SECRET_KEY`).

use std::time::Duration;

use berth_core::NotifyConfig;
use berth_core::notify::{MailSettings, SecretBox};
use berth_core::ssrf::SsrfGuard;

use super::{Config, Problem};

impl Config {
    /// The SMTP settings, when `MAIL_SERVER` is set.
    fn mail(&self) -> Option<MailSettings> {
        let server = self.MAIL_SERVER.as_ref()?;
        Some(MailSettings {
            server: server.clone(),
            port: self.MAIL_PORT,
            use_tls: self.MAIL_USE_TLS,
            username: self.MAIL_USERNAME.clone(),
            password: self.MAIL_PASSWORD.clone(),
            sender: self.MAIL_DEFAULT_SENDER.clone(),
        })
    }

    /// How notifications are delivered (payload URLs use `SERVER_HOSTNAME`,
    /// else the listen address, and the realm's scheme without TLS;
    /// `berth serve` sets the scheme it serves).
    pub fn notifications(&self) -> anyhow::Result<NotifyConfig> {
        let secrets = match self.DATABASE_SECRET_KEY.as_deref() {
            Some(key) => Some(SecretBox::new(key)?),
            None => None,
        };
        let defaults = NotifyConfig::default();
        Ok(NotifyConfig {
            retry_delay: Duration::from_secs(self.NOTIFICATION_RETRY_DELAY_S),
            send_timeout: Duration::from_secs(self.NOTIFICATION_SEND_TIMEOUT),
            mail: self.mail(),
            ssrf: SsrfGuard::new(self.SSRF_ALLOWED_HOSTS.iter().cloned()),
            secrets,
            site: berth_core::notify::Site {
                host: self
                    .SERVER_HOSTNAME
                    .clone()
                    .unwrap_or_else(|| self.LISTEN_ADDRESS.to_string()),
                scheme: self.url_scheme(false),
            },
            image_expiry_trigger: self.FEATURE_IMAGE_EXPIRY_TRIGGER,
            image_expiry_interval: Duration::from_secs(
                self.NOTIFICATION_TASK_RUN_MINIMUM_INTERVAL_MINUTES
                    .saturating_mul(60),
            ),
            new_index_min_severity: self
                .new_index_min_severity()
                .map_err(|p| anyhow::anyhow!("invalid configuration: {p}"))?,
            ..defaults
        })
    }

    /// Problems of the notification keys.
    pub(super) fn check_notifications(&self, problems: &mut Vec<Problem>) {
        if let Some(mail) = self.mail()
            && let Err(e) = mail.check()
        {
            problems.push(Problem::new("MAIL_SERVER", e));
        }
        if !(1..=300).contains(&self.NOTIFICATION_SEND_TIMEOUT) {
            problems.push(Problem::new(
                "NOTIFICATION_SEND_TIMEOUT",
                "must be between 1 and 300 seconds",
            ));
        }
        if self.NOTIFICATION_RETRY_DELAY_S > 86_400 {
            problems.push(Problem::new(
                "NOTIFICATION_RETRY_DELAY_S",
                "must be at most 86400 seconds",
            ));
        }
        if self.DATABASE_SECRET_KEY.as_deref().is_some_and(|k| k.len() < 16) {
            problems.push(Problem::new(
                "DATABASE_SECRET_KEY",
                "must be at least 16 characters",
            ));
        }
        for host in &self.SSRF_ALLOWED_HOSTS {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let has_port = bare.parse::<std::net::IpAddr>().is_err() && bare.contains(':');
            if bare.is_empty() || has_port || bare.contains('/') {
                problems.push(Problem::new(
                    "SSRF_ALLOWED_HOSTS",
                    format!("{host:?}: give a host name or IP address, without port or path"),
                ));
            }
        }
    }
}
