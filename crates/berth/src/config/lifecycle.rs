//! The tag lifecycle and write-mode part of the configuration.

use std::time::Duration;

use berth_core::registry::WriteMode;

use super::identity::parse_duration;
use super::{Config, Problem};

impl Config {
    pub(super) fn check_lifecycle(&self, problems: &mut Vec<Problem>) {
        if let Err(e) = parse_duration(&self.DEFAULT_TAG_EXPIRATION) {
            problems.push(Problem::new("DEFAULT_TAG_EXPIRATION", e));
        }
        let min = parse_duration(&self.LABELED_EXPIRATION_MINIMUM);
        let max = parse_duration(&self.LABELED_EXPIRATION_MAXIMUM);
        match (min, max) {
            (Ok(min), Ok(max)) if min > max => problems.push(Problem::new(
                "LABELED_EXPIRATION_MINIMUM",
                "must not exceed LABELED_EXPIRATION_MAXIMUM",
            )),
            (min, max) => {
                if let Err(e) = min {
                    problems.push(Problem::new("LABELED_EXPIRATION_MINIMUM", e));
                }
                if let Err(e) = max {
                    problems.push(Problem::new("LABELED_EXPIRATION_MAXIMUM", e));
                }
            }
        }
        if !matches!(self.REGISTRY_STATE.as_str(), "normal" | "readonly") {
            problems.push(Problem::new("REGISTRY_STATE", "must be normal or readonly"));
        }
    }

    /// The time-machine window of namespaces that chose none.
    pub fn default_tag_expiration(&self) -> Duration {
        Duration::from_secs(parse_duration(&self.DEFAULT_TAG_EXPIRATION).unwrap_or(14 * 86_400))
    }

    /// Bounds of an expiration set through the tag API.
    pub fn tag_expiration_bounds(&self) -> Result<(Duration, Duration), String> {
        let min = parse_duration(&self.LABELED_EXPIRATION_MINIMUM)
            .map_err(|e| format!("LABELED_EXPIRATION_MINIMUM: {e}"))?;
        let max = parse_duration(&self.LABELED_EXPIRATION_MAXIMUM)
            .map_err(|e| format!("LABELED_EXPIRATION_MAXIMUM: {e}"))?;
        Ok((Duration::from_secs(min), Duration::from_secs(max)))
    }

    /// Which writes are accepted; read-only wins over disabled pushes.
    pub fn write_mode(&self) -> WriteMode {
        if self.REGISTRY_STATE == "readonly" {
            WriteMode::ReadOnly
        } else if self.DISABLE_PUSHES {
            WriteMode::PushesDisabled
        } else {
            WriteMode::Normal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        Config::load(Some(&path))
    }

    #[test]
    fn lifecycle_settings_are_read_and_checked() {
        let c = load("").unwrap();
        assert_eq!(c.default_tag_expiration(), Duration::from_secs(14 * 86_400));
        assert_eq!(
            c.tag_expiration_bounds().unwrap(),
            (Duration::from_secs(3600), Duration::from_secs(104 * 7 * 86_400))
        );
        assert_eq!(c.write_mode(), WriteMode::Normal);
        let c =
            load("REGISTRY_STATE: readonly\nDISABLE_PUSHES: true\nLABELED_EXPIRATION_MINIMUM: 1s\n").unwrap();
        assert_eq!(c.write_mode(), WriteMode::ReadOnly);
        assert_eq!(c.tag_expiration_bounds().unwrap().0, Duration::from_secs(1));
        assert_eq!(
            load("DISABLE_PUSHES: true\n").unwrap().write_mode(),
            WriteMode::PushesDisabled
        );
        for (bad, key) in [
            ("REGISTRY_STATE: frozen\n", "REGISTRY_STATE"),
            ("DEFAULT_TAG_EXPIRATION: soon\n", "DEFAULT_TAG_EXPIRATION"),
            (
                "LABELED_EXPIRATION_MINIMUM: 2w\nLABELED_EXPIRATION_MAXIMUM: 1w\n",
                "LABELED_EXPIRATION_MINIMUM",
            ),
            ("LABELED_EXPIRATION_MAXIMUM: x\n", "LABELED_EXPIRATION_MAXIMUM"),
        ] {
            let e = load(bad).unwrap_err().to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }
}
