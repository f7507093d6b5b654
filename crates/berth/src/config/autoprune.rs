//! The auto-prune part of the configuration: Quay's
//! `DEFAULT_NAMESPACE_AUTOPRUNE_POLICY` and `AUTO_PRUNING_POLL_PERIOD`.

use std::time::Duration;

use berth_core::registry::{AutopruneSettings, PruneSpec, PruneValue};
use serde::{Deserialize, Serialize};

use super::{Config, Problem};

/// A policy for every namespace without one of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultPrunePolicy {
    /// `number_of_tags`, `creation_date` or `last_pulled`.
    pub method: String,
    /// A count, or a duration such as `2w`.
    pub value: PolicyValue,
}

/// A count or a duration string, as a policy's `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PolicyValue {
    /// A count.
    Count(i64),
    /// A duration.
    Text(String),
}

impl DefaultPrunePolicy {
    fn spec(&self) -> Result<PruneSpec, String> {
        let value = match &self.value {
            PolicyValue::Count(n) => PruneValue::Count(*n),
            PolicyValue::Text(t) => PruneValue::Text(t.clone()),
        };
        PruneSpec::parse(&self.method, &value, None, None)
    }
}

impl Config {
    pub(super) fn check_autoprune(&self, problems: &mut Vec<Problem>) {
        if let Some(Err(e)) = self
            .DEFAULT_NAMESPACE_AUTOPRUNE_POLICY
            .as_ref()
            .map(DefaultPrunePolicy::spec)
        {
            problems.push(Problem::new("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY", e));
        }
        if self.AUTO_PRUNING_POLL_PERIOD == 0 {
            problems.push(Problem::new("AUTO_PRUNING_POLL_PERIOD", "must be at least 1"));
        }
    }

    /// Auto-prune settings, or why they are invalid.
    pub fn autoprune(&self) -> Result<AutopruneSettings, String> {
        let default_policy = match &self.DEFAULT_NAMESPACE_AUTOPRUNE_POLICY {
            Some(p) => Some(
                p.spec()
                    .map_err(|e| format!("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: {e}"))?,
            ),
            None => None,
        };
        Ok(AutopruneSettings {
            default_policy,
            poll_period: Duration::from_secs(self.AUTO_PRUNING_POLL_PERIOD.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::registry::PruneMethod;

    fn load(yaml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        Config::load(Some(&path))
    }

    #[test]
    fn autoprune_settings_are_read_and_checked() {
        let c = load("").unwrap();
        assert_eq!(c.autoprune().unwrap(), AutopruneSettings::default());
        let c = load(
            "AUTO_PRUNING_POLL_PERIOD: 5\nDEFAULT_NAMESPACE_AUTOPRUNE_POLICY: {method: creation_date, value: 2w}\n",
        )
        .unwrap();
        let s = c.autoprune().unwrap();
        assert_eq!(s.poll_period, Duration::from_secs(5));
        assert_eq!(
            s.default_policy.unwrap().method,
            PruneMethod::CreationDate(Duration::from_secs(14 * 86_400))
        );
        let c = load("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: {method: number_of_tags, value: 10}\n").unwrap();
        assert_eq!(
            c.autoprune().unwrap().default_policy.unwrap().method,
            PruneMethod::NumberOfTags(10)
        );
        for (bad, key) in [
            ("AUTO_PRUNING_POLL_PERIOD: 0\n", "AUTO_PRUNING_POLL_PERIOD"),
            (
                "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: {method: size, value: 10}\n",
                "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY",
            ),
            (
                "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: {method: creation_date, value: soon}\n",
                "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY",
            ),
        ] {
            let e = load(bad).unwrap_err().to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }
}
