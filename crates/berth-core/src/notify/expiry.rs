//! `repo_image_expiry` notifications, as Quay's: each notification is
//! scanned at most once per `NOTIFICATION_TASK_RUN_MINIMUM_INTERVAL_MINUTES`
//! (by whichever instance claims it) for the tags that expire or are
//! auto-pruned within its `eventConfig.days`; tags not announced before go
//! out in one event for that notification alone, recorded in the same
//! transaction that queues it, so each tag is announced once.

use berth_store::metadata::ExpiringTagRow;
use berth_store::now_ms;
use serde_json::Value;

use super::events::RepoEvent;
use crate::names::RepositoryName;
use crate::registry::{Registry, RegistryError};

/// Notifications scanned per pass, so one pass stays short.
const BATCH: usize = 100;

impl Registry {
    /// One scan of the `repo_image_expiry` notifications that are due;
    /// returns how many events it queued. Nothing is done when the trigger
    /// is off or the registry is read-only.
    pub async fn announce_image_expiry(&self) -> Result<usize, RegistryError> {
        let settings = &self.config().notifications;
        if !settings.image_expiry_trigger || self.read_only() {
            return Ok(0);
        }
        let interval = i64::try_from(settings.image_expiry_interval.as_millis()).unwrap_or(i64::MAX);
        let mut queued = 0;
        for _ in 0..BATCH {
            let ran_before = now_ms().saturating_sub(interval);
            let Some(id) = self.db().claim_expiry_notification(ran_before).await? else {
                break;
            };
            if self.announce_for(id).await? {
                queued += 1;
            }
        }
        if queued > 0 {
            self.notify_wakeup.notify_waiters();
        }
        Ok(queued)
    }

    /// Scan one claimed notification; whether an event was queued.
    async fn announce_for(&self, id: i64) -> Result<bool, RegistryError> {
        let Some(row) = self.db().notification_by_id(id).await? else {
            return Ok(false);
        };
        let (Some(repo), Some(days)) = (row.repository.as_deref(), days_of(&row.event_config)) else {
            tracing::warn!(notification = %row.uuid, "repo_image_expiry notification without a repository or days");
            return Ok(false);
        };
        let Ok(name) = RepositoryName::new(repo.to_owned()) else {
            return Ok(false);
        };
        let expiring = match self.tags_expiring_within(&name, days).await {
            Ok(e) => e,
            // Deleted since the claim.
            Err(RegistryError::NameUnknown) => return Ok(false),
            Err(e) => return Err(e),
        };
        if expiring.tags.is_empty() {
            return Ok(false);
        }
        let tags: Vec<ExpiringTagRow> = expiring
            .tags
            .iter()
            .map(|t| ExpiringTagRow {
                tag_id: t.tag_id,
                name: t.name.clone(),
            })
            .collect();
        let site = &self.config().notifications.site;
        let payload = |fresh: &[String]| {
            let mut data = RepoEvent::ImageExpiry {
                tags: fresh.to_vec(),
                days,
            }
            .payload(site, repo);
            if let Some(d) = data.as_object_mut() {
                d.insert("notification_uuid".into(), Value::String(row.uuid.clone()));
            }
            data.to_string()
        };
        let delivery = uuid::Uuid::new_v4().to_string();
        let fresh = self
            .db()
            .announce_expiring_tags(id, &tags, &delivery, payload)
            .await?;
        Ok(!fresh.is_empty())
    }
}

/// `eventConfig.days`, a number or a numeric string (as the API accepts).
fn days_of(event_config: &str) -> Option<u32> {
    let config: Value = serde_json::from_str(event_config).ok()?;
    match config.get("days")? {
        Value::Number(n) => n.as_u64().and_then(|d| u32::try_from(d).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|d| *d > 0)
}

#[cfg(test)]
mod tests {
    use super::days_of;

    #[test]
    fn days_are_read_as_the_api_accepts_them() {
        assert_eq!(days_of(r#"{"days": 7}"#), Some(7));
        assert_eq!(days_of(r#"{"days": "30"}"#), Some(30));
        assert_eq!(days_of(r#"{"days": 0}"#), None);
        assert_eq!(days_of(r#"{"days": -1}"#), None);
        assert_eq!(days_of(r#"{}"#), None);
        assert_eq!(days_of("not json"), None);
    }
}
