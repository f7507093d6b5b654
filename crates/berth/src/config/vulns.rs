//! The vulnerability feed part of the configuration.

use std::time::Duration;

use berth_core::vulns::{Feed, Severity, UpdaterConfig};

use super::identity::parse_duration;
use super::{Config, Problem};

/// Shortest interval between two updates of a feed.
const MIN_INTERVAL_S: u64 = 60;

impl Config {
    /// The feed updater's settings, or why they are invalid.
    pub fn updaters(&self) -> Result<UpdaterConfig, Problem> {
        let mut config = UpdaterConfig::default();
        let interval = parse_duration(&self.SECURITY_SCANNER_UPDATE_INTERVAL)
            .map_err(|e| Problem::new("SECURITY_SCANNER_UPDATE_INTERVAL", e))?;
        if interval < MIN_INTERVAL_S {
            return Err(Problem::new(
                "SECURITY_SCANNER_UPDATE_INTERVAL",
                format!("must be at least {MIN_INTERVAL_S}s"),
            ));
        }
        config.interval = Duration::from_secs(interval);
        if let Some(named) = &self.SECURITY_SCANNER_UPDATERS {
            config.feeds.clear();
            for (name, settings) in named {
                let feed: Feed = name
                    .parse()
                    .map_err(|e| Problem::new(format!("SECURITY_SCANNER_UPDATERS.{name}"), format!("{e}")))?;
                let settings = settings.clone().unwrap_or_default();
                if let Some(url) = &settings.url
                    && !(url.starts_with("http://") || url.starts_with("https://"))
                {
                    return Err(Problem::new(
                        format!("SECURITY_SCANNER_UPDATERS.{name}.url"),
                        "must be an http:// or https:// URL",
                    ));
                }
                config.feeds.insert(feed, settings);
            }
        }
        Ok(config)
    }

    pub(super) fn check_vulns(&self, problems: &mut Vec<Problem>) {
        if let Err(p) = self.updaters() {
            problems.push(p);
        }
        if let Err(p) = self.new_index_min_severity() {
            problems.push(p);
        }
    }

    /// The least severity of a newly indexed image's findings that records
    /// `vulnerability_found`, `None` when those events are off.
    pub fn new_index_min_severity(&self) -> Result<Option<Severity>, Problem> {
        if !self.FEATURE_SECURITY_SCANNER_NOTIFY_ON_NEW_INDEX {
            return Ok(None);
        }
        Severity::parse(&self.NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX)
            .map(Some)
            .ok_or_else(|| {
                Problem::new(
                    "NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX",
                    "must be one of Unknown, Negligible, Low, Medium, High, Critical",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_choices() {
        let c = Config::default();
        let u = c.updaters().unwrap();
        assert_eq!(u.feeds.len(), Feed::DEFAULT.len());
        assert_eq!(u.interval, Duration::from_secs(6 * 3600));
        let c: Config = Config::from_dict(
            serde_saphyr::from_str(
                "SECURITY_SCANNER_UPDATERS:\n  debian:\n    url: http://127.0.0.1:1/json\n  alpine:\n",
            )
            .unwrap(),
        )
        .unwrap();
        let u = c.updaters().unwrap();
        assert_eq!(
            u.feeds.keys().copied().collect::<Vec<_>>(),
            [Feed::Debian, Feed::Alpine]
        );
        for (yaml, key) in [
            (
                "SECURITY_SCANNER_UPDATERS:\n  suse: {}\n",
                "SECURITY_SCANNER_UPDATERS.suse",
            ),
            (
                "SECURITY_SCANNER_UPDATERS:\n  osv: {url: ftp://x}\n",
                "SECURITY_SCANNER_UPDATERS.osv.url",
            ),
            (
                "SECURITY_SCANNER_UPDATE_INTERVAL: 10s\n",
                "SECURITY_SCANNER_UPDATE_INTERVAL",
            ),
        ] {
            let c = Config::from_dict(serde_saphyr::from_str(yaml).unwrap()).unwrap();
            assert_eq!(c.problems()[0].path, key, "{yaml}");
        }
    }
}
