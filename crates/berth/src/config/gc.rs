//! The garbage collection part of the configuration.

use std::time::Duration;

use berth_core::registry::GcConfig;

use super::Config;

/// Shortest pause between two passes of one instance, whatever
/// `GARBAGE_COLLECTION_FREQUENCY` says.
const MIN_PAUSE: Duration = Duration::from_millis(100);

impl Config {
    /// Garbage collection settings, or why they are invalid.
    pub fn gc(&self) -> Result<GcConfig, String> {
        Ok(GcConfig {
            interval: self
                .FEATURE_GARBAGE_COLLECTION
                .then(|| Duration::from_secs(self.GARBAGE_COLLECTION_FREQUENCY).max(MIN_PAUSE)),
            push_grace: Duration::from_secs(self.PUSH_TEMP_TAG_EXPIRATION_SEC),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quay_defaults_and_durations() {
        let c = Config::default();
        let gc = c.gc().unwrap();
        assert_eq!(gc.interval, Some(Duration::from_secs(30)));
        assert_eq!(gc.push_grace, Duration::from_secs(3600));
        let c = Config {
            FEATURE_GARBAGE_COLLECTION: false,
            DEFAULT_TAG_EXPIRATION: "0s".into(),
            ..Config::default()
        };
        let gc = c.gc().unwrap();
        assert_eq!(gc.interval, None);
    }
}
