//! The events notifications are sent for, with Quay's names, payloads
//! (`event_data`), summaries, levels, samples and filters.

use serde_json::{Value, json};

use crate::registry::format_size;

/// An event kind (Quay's `ExternalNotificationEvent` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A manifest was pushed by tag.
    RepoPush,
    /// A vulnerability was found in a tagged image.
    VulnerabilityFound,
    /// A mirror sync started.
    RepoMirrorSyncStarted,
    /// A mirror sync succeeded.
    RepoMirrorSyncSuccess,
    /// A mirror sync failed.
    RepoMirrorSyncFailed,
    /// Tags will expire within the notification's `days`.
    RepoImageExpiry,
    /// A namespace crossed a quota warning threshold.
    QuotaWarning,
    /// A push was refused by a namespace's quota.
    QuotaError,
}

/// Every event kind.
pub const EVENT_KINDS: [EventKind; 8] = [
    EventKind::RepoPush,
    EventKind::VulnerabilityFound,
    EventKind::RepoMirrorSyncStarted,
    EventKind::RepoMirrorSyncSuccess,
    EventKind::RepoMirrorSyncFailed,
    EventKind::RepoImageExpiry,
    EventKind::QuotaWarning,
    EventKind::QuotaError,
];

/// Quay's vulnerability priorities, most severe first (the `level` filter
/// is an index into this list).
pub const PRIORITIES: [&str; 6] = ["Critical", "High", "Medium", "Low", "Negligible", "Unknown"];

impl EventKind {
    /// Quay's name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::RepoPush => "repo_push",
            EventKind::VulnerabilityFound => "vulnerability_found",
            EventKind::RepoMirrorSyncStarted => "repo_mirror_sync_started",
            EventKind::RepoMirrorSyncSuccess => "repo_mirror_sync_success",
            EventKind::RepoMirrorSyncFailed => "repo_mirror_sync_failed",
            EventKind::RepoImageExpiry => "repo_image_expiry",
            EventKind::QuotaWarning => "quota_warning",
            EventKind::QuotaError => "quota_error",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<EventKind> {
        EVENT_KINDS.into_iter().find(|k| k.name() == name)
    }

    /// Whether it is a namespace event (quota), not a repository event.
    pub fn is_namespace_event(self) -> bool {
        matches!(self, EventKind::QuotaWarning | EventKind::QuotaError)
    }

    /// Quay's level for a payload: `info`, `warning`, `error` or `success`.
    pub fn level(self, data: &Value) -> &'static str {
        match self {
            EventKind::RepoPush | EventKind::RepoMirrorSyncStarted | EventKind::RepoImageExpiry => "info",
            EventKind::RepoMirrorSyncSuccess => "success",
            EventKind::RepoMirrorSyncFailed | EventKind::QuotaError => "error",
            EventKind::QuotaWarning => "warning",
            EventKind::VulnerabilityFound => match priority_index(data) {
                Some(0) => "error",
                Some(1 | 2) => "warning",
                _ => "info",
            },
        }
    }

    /// A one-line summary (e-mail subject, Slack text).
    pub fn summary(self, data: &Value) -> String {
        let s = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        let repo = s("repository");
        match self {
            EventKind::RepoPush => format!(
                "Repository {repo} updated with tags {}",
                tags(data, "updated_tags")
            ),
            EventKind::VulnerabilityFound => {
                let v = data.get("vulnerability").cloned().unwrap_or(Value::Null);
                let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                format!(
                    "Vulnerability {} ({}) detected in repository {repo} (tags {})",
                    field("id"),
                    field("priority"),
                    tags(data, "tags")
                )
            }
            EventKind::RepoMirrorSyncStarted => format!("Repository mirror sync started for {repo}"),
            EventKind::RepoMirrorSyncSuccess => format!("Repository mirror sync succeeded for {repo}"),
            EventKind::RepoMirrorSyncFailed => format!("Repository mirror sync failed for {repo}"),
            EventKind::RepoImageExpiry => format!(
                "Tags {} of repository {repo} expire in {}",
                tags(data, "tags"),
                s("expiring_in")
            ),
            EventKind::QuotaWarning | EventKind::QuotaError => format!(
                "Quota {} for namespace {}: {}% of {} used",
                if self == EventKind::QuotaError {
                    "exceeded"
                } else {
                    "warning"
                },
                s("namespace"),
                data.get("usage_percent").and_then(Value::as_u64).unwrap_or(0),
                s("limit_bytes_formatted"),
            ),
        }
    }
}

/// The tags of `key` as a comma-separated list.
fn tags(data: &Value, key: &str) -> String {
    data.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// The payload's vulnerability priority as an index into [`PRIORITIES`].
fn priority_index(data: &Value) -> Option<usize> {
    let p = data.get("vulnerability")?.get("priority")?.as_str()?;
    PRIORITIES.iter().position(|x| x.eq_ignore_ascii_case(p))
}

/// Whether a notification with `event_config` is sent this payload (Quay's
/// `should_perform`): `vulnerability_found` takes a `level` (index into
/// [`PRIORITIES`]; at most as severe fires) or a `vulnerability.priority`
/// name; first-index events always fire.
pub fn should_perform(kind: EventKind, event_config: &Value, data: &Value) -> bool {
    if kind != EventKind::VulnerabilityFound || data.get("vulnerable_index_report_created").is_some() {
        return true;
    }
    let index = priority_index(data).unwrap_or(PRIORITIES.len() - 1);
    let level = event_config.get("level").and_then(|l| match l {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    let named = event_config
        .get("vulnerability")
        .and_then(|v| v.get("priority"))
        .and_then(Value::as_str)
        .and_then(|p| PRIORITIES.iter().position(|x| x.eq_ignore_ascii_case(p)));
    level.or(named).is_none_or(|max| index <= max)
}

/// A vulnerability as `vulnerability_found` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vulnerability {
    /// Its name (`CVE-...`).
    pub id: String,
    /// Description.
    pub description: String,
    /// Where to read more.
    pub link: String,
    /// One of [`PRIORITIES`].
    pub priority: String,
    /// Whether a fixed version exists.
    pub has_fix: bool,
}

/// A repository event with its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoEvent {
    /// A push by tag.
    Push {
        /// The tags the push set (one for a push by tag).
        tags: Vec<String>,
    },
    /// A vulnerability found in tagged images.
    VulnerabilityFound {
        /// The affected tags (the manifest digest if untagged).
        tags: Vec<String>,
        /// The vulnerability.
        vulnerability: Vulnerability,
        /// Found when the image was first indexed (Quay adds
        /// `vulnerable_index_report_created`, which bypasses the `level`
        /// filter), rather than by a feed update.
        on_new_index: bool,
    },
    /// A mirror sync started.
    MirrorSyncStarted {
        /// What is mirrored (`'<source>' with tag pattern '<globs>'`).
        message: String,
    },
    /// A mirror sync succeeded.
    MirrorSyncSuccess {
        /// What was mirrored.
        message: String,
    },
    /// A mirror sync failed.
    MirrorSyncFailed {
        /// What failed.
        message: String,
    },
    /// Tags expire within `days`.
    ImageExpiry {
        /// The expiring tags.
        tags: Vec<String>,
        /// The notification's horizon in days.
        days: u32,
    },
}

impl RepoEvent {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            RepoEvent::Push { .. } => EventKind::RepoPush,
            RepoEvent::VulnerabilityFound { .. } => EventKind::VulnerabilityFound,
            RepoEvent::MirrorSyncStarted { .. } => EventKind::RepoMirrorSyncStarted,
            RepoEvent::MirrorSyncSuccess { .. } => EventKind::RepoMirrorSyncSuccess,
            RepoEvent::MirrorSyncFailed { .. } => EventKind::RepoMirrorSyncFailed,
            RepoEvent::ImageExpiry { .. } => EventKind::RepoImageExpiry,
        }
    }

    /// Quay's `event_data`: the common repository keys and the event's own.
    pub fn payload(&self, site: &Site, repo: &str) -> Value {
        let (namespace, name) = repo.split_once('/').unwrap_or(("", repo));
        let mut data = json!({
            "repository": repo,
            "namespace": namespace,
            "name": name,
            "docker_url": format!("{}/{repo}", site.host),
            "homepage": format!("{}://{}/repository/{repo}", site.scheme, site.host),
        });
        let extra = match self {
            RepoEvent::Push { tags } => json!({ "updated_tags": tags }),
            RepoEvent::VulnerabilityFound {
                tags,
                vulnerability: v,
                on_new_index,
            } => {
                let mut extra = json!({
                    "tags": tags,
                    "vulnerability": {
                        "id": v.id, "description": v.description, "link": v.link,
                        "priority": v.priority, "has_fix": v.has_fix,
                    },
                });
                if *on_new_index && let Value::Object(m) = &mut extra {
                    m.insert("vulnerable_index_report_created".into(), json!("true"));
                }
                extra
            }
            RepoEvent::MirrorSyncStarted { message }
            | RepoEvent::MirrorSyncSuccess { message }
            | RepoEvent::MirrorSyncFailed { message } => json!({ "message": message }),
            RepoEvent::ImageExpiry { tags, days } => {
                json!({ "tags": tags, "expiring_in": format!("{days} days") })
            }
        };
        if let (Some(d), Value::Object(e)) = (data.as_object_mut(), extra) {
            d.extend(e);
        }
        data
    }

    /// Quay's sample of `kind` (what the test endpoint sends).
    pub fn sample(kind: EventKind) -> Option<RepoEvent> {
        let tags = vec!["latest".to_owned(), "foo".to_owned()];
        Some(match kind {
            EventKind::RepoPush => RepoEvent::Push { tags },
            EventKind::VulnerabilityFound => RepoEvent::VulnerabilityFound {
                tags,
                vulnerability: Vulnerability {
                    id: "CVE-1234-5678".into(),
                    description: "This is a sample vulnerability".into(),
                    link: "https://security-tracker.debian.org/tracker/CVE-1234-5678".into(),
                    priority: "Critical".into(),
                    has_fix: true,
                },
                on_new_index: false,
            },
            EventKind::RepoMirrorSyncStarted => RepoEvent::MirrorSyncStarted {
                message: "'quay.io/example/repo' with tag pattern 'latest'".into(),
            },
            EventKind::RepoMirrorSyncSuccess => RepoEvent::MirrorSyncSuccess {
                message: "'quay.io/example/repo' with tag pattern 'latest'".into(),
            },
            EventKind::RepoMirrorSyncFailed => RepoEvent::MirrorSyncFailed {
                message: "'quay.io/example/repo' with tag pattern 'latest'".into(),
            },
            EventKind::RepoImageExpiry => RepoEvent::ImageExpiry { tags, days: 7 },
            EventKind::QuotaWarning | EventKind::QuotaError => return None,
        })
    }
}

/// A namespace quota event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaEvent {
    /// `QuotaWarning` or `QuotaError`.
    pub kind: EventKind,
    /// The namespace.
    pub namespace: String,
    /// The threshold crossed, in percent.
    pub threshold_percent: u64,
    /// Bytes used (with the refused or accepted push).
    pub usage_bytes: u64,
    /// The quota.
    pub limit_bytes: u64,
}

impl QuotaEvent {
    /// Quay's namespace payload.
    pub fn payload(&self, site: &Site) -> Value {
        let usage_percent = (self.usage_bytes.saturating_mul(100))
            .checked_div(self.limit_bytes)
            .unwrap_or(0);
        json!({
            "namespace": self.namespace,
            "homepage": format!("{}://{}/organization/{}", site.scheme, site.host, self.namespace),
            "threshold_percent": self.threshold_percent,
            "usage_bytes": self.usage_bytes,
            "limit_bytes": self.limit_bytes,
            "usage_percent": usage_percent,
            "usage_bytes_formatted": format_size(i64::try_from(self.usage_bytes).unwrap_or(i64::MAX)),
            "limit_bytes_formatted": format_size(i64::try_from(self.limit_bytes).unwrap_or(i64::MAX)),
        })
    }

    /// A sample for the test endpoint.
    pub fn sample(kind: EventKind, namespace: &str) -> QuotaEvent {
        QuotaEvent {
            kind,
            namespace: namespace.to_owned(),
            threshold_percent: if kind == EventKind::QuotaError { 100 } else { 80 },
            usage_bytes: 85 * 1024 * 1024,
            limit_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Where the registry is reached, for the URLs payloads carry.
#[derive(Debug, Clone)]
pub struct Site {
    /// `SERVER_HOSTNAME` (host and port).
    pub host: String,
    /// `http` or `https`.
    pub scheme: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site {
            host: "registry.example".into(),
            scheme: "https".into(),
        }
    }

    #[test]
    fn repo_push_has_quays_fields() {
        let data = RepoEvent::Push {
            tags: vec!["latest".into()],
        }
        .payload(&site(), "ns/app");
        assert_eq!(
            data,
            json!({"repository":"ns/app","namespace":"ns","name":"app",
                   "docker_url":"registry.example/ns/app",
                   "homepage":"https://registry.example/repository/ns/app",
                   "updated_tags":["latest"]})
        );
        assert_eq!(
            EventKind::RepoPush.summary(&data),
            "Repository ns/app updated with tags latest"
        );
    }

    #[test]
    fn the_level_filter_passes_only_as_severe_or_worse() {
        let vuln = |priority: &str| {
            let Some(RepoEvent::VulnerabilityFound {
                tags,
                mut vulnerability,
                ..
            }) = RepoEvent::sample(EventKind::VulnerabilityFound)
            else {
                unreachable!()
            };
            vulnerability.priority = priority.into();
            RepoEvent::VulnerabilityFound {
                tags,
                vulnerability,
                on_new_index: false,
            }
            .payload(&site(), "ns/app")
        };
        let high = json!({"level": 1});
        assert!(should_perform(
            EventKind::VulnerabilityFound,
            &high,
            &vuln("Critical")
        ));
        assert!(should_perform(
            EventKind::VulnerabilityFound,
            &high,
            &vuln("High")
        ));
        assert!(!should_perform(
            EventKind::VulnerabilityFound,
            &high,
            &vuln("Medium")
        ));
        assert!(!should_perform(
            EventKind::VulnerabilityFound,
            &json!({"level": "0"}),
            &vuln("High")
        ));
        assert!(should_perform(
            EventKind::VulnerabilityFound,
            &json!({}),
            &vuln("Low")
        ));
        let named = json!({"vulnerability": {"priority": "Medium"}});
        assert!(should_perform(
            EventKind::VulnerabilityFound,
            &named,
            &vuln("Medium")
        ));
        assert!(!should_perform(
            EventKind::VulnerabilityFound,
            &named,
            &vuln("Low")
        ));
        assert_eq!(EventKind::VulnerabilityFound.level(&vuln("Critical")), "error");
    }

    #[test]
    fn every_event_has_a_sample() {
        for kind in EVENT_KINDS {
            let data = match RepoEvent::sample(kind) {
                Some(e) => {
                    assert_eq!(e.kind(), kind);
                    e.payload(&site(), "ns/app")
                }
                None => QuotaEvent::sample(kind, "ns").payload(&site()),
            };
            assert!(!kind.summary(&data).is_empty());
            assert_eq!(EventKind::parse(kind.name()), Some(kind));
        }
    }
}
