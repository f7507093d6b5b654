//! The identity and access part of the configuration.

use std::time::Duration;

use berth_core::IdentityConfig;
use berth_core::identity::PolicySettings;

use super::{Config, Problem};

/// A Quay duration such as `30s`, `20h`, `2d`, `3w`, in seconds.
pub use berth_core::duration::parse_quay_duration as parse_duration;

impl Config {
    pub(super) fn check_identity(&self, problems: &mut Vec<Problem>) {
        if !(60..=86_400).contains(&self.REGISTRY_TOKEN_EXPIRATION_S) {
            problems.push(Problem::new(
                "REGISTRY_TOKEN_EXPIRATION_S",
                "must be between 60 and 86400",
            ));
        }
        if self.PERMANENT_SESSION_LIFETIME < 60 {
            problems.push(Problem::new("PERMANENT_SESSION_LIFETIME", "must be at least 60"));
        }
        if !matches!(
            self.PREFERRED_URL_SCHEME.as_deref(),
            None | Some("http" | "https")
        ) {
            problems.push(Problem::new("PREFERRED_URL_SCHEME", "must be http or https"));
        }
        for option in &self.TAG_EXPIRATION_OPTIONS {
            if let Err(e) = parse_duration(option) {
                problems.push(Problem::new("TAG_EXPIRATION_OPTIONS", e));
            }
        }
    }

    /// Settings of the identity service.
    pub fn identity(&self) -> IdentityConfig {
        IdentityConfig {
            token_issuer: self.INSTANCE_SERVICE_KEY_SERVICE.clone(),
            token_lifetime: Duration::from_secs(self.REGISTRY_TOKEN_EXPIRATION_S),
            super_users: self.SUPER_USERS.clone(),
            policy: PolicySettings {
                superusers_full_access: self.FEATURE_SUPERUSERS_FULL_ACCESS,
                anonymous_access: self.FEATURE_ANONYMOUS_ACCESS,
                create_namespace_on_push: self.CREATE_NAMESPACE_ON_PUSH,
            },
            create_private_repo_on_push: self.CREATE_PRIVATE_REPO_ON_PUSH,
            tag_expiration_options: self
                .TAG_EXPIRATION_OPTIONS
                .iter()
                .filter_map(|o| parse_duration(o).ok())
                .collect(),
            default_tag_expiration_s: self.default_tag_expiration().as_secs(),
            session_lifetime: Duration::from_secs(self.PERMANENT_SESSION_LIFETIME),
            ..IdentityConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_quay() {
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("20h"), Ok(72_000));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(parse_duration("3w"), Ok(1_814_400));
        for bad in ["", "h", "2x", "-1d", "99999999999999999999w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
