//! `repo_image_expiry` notifications: which are due for a scan, and the
//! tag rows each has announced. A scan claims a notification by stamping
//! `last_ran_ms`, so one instance scans it per interval; announcing records
//! the tags and queues the delivery in one transaction, so a tag is
//! announced once per notification even across crashes.

use crate::{Db, StoreError, now_ms, on_db};

/// Event name of the notifications scanned here.
const EVENT: &str = "repo_image_expiry";

/// A tag about to expire, by row (a re-pushed tag is a new row, announced
/// again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringTagRow {
    /// The tag row's id.
    pub tag_id: i64,
    /// The tag's name.
    pub name: String,
}

impl Db {
    /// Claim the `repo_image_expiry` notification scanned longest ago (never
    /// scanned first) among those enabled and not scanned since
    /// `ran_before_ms`; returns its row id.
    pub async fn claim_expiry_notification(&self, ran_before_ms: i64) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        // The outer re-check makes a concurrent claim of the same row match
        // nothing (PostgreSQL re-evaluates it on the updated row).
        on_db!(self.writer(), pool => {
            let row: Option<(i64,)> = sqlx::query_as(
                "UPDATE notifications SET last_ran_ms = $1 \
                 WHERE id = (SELECT id FROM notifications \
                             WHERE event = $2 AND repository_id IS NOT NULL AND number_of_failures < 3 \
                               AND (last_ran_ms IS NULL OR last_ran_ms < $3) \
                             ORDER BY COALESCE(last_ran_ms, 0), id LIMIT 1) \
                   AND (last_ran_ms IS NULL OR last_ran_ms < $3) \
                 RETURNING id",
            )
            .bind(now)
            .bind(EVENT)
            .bind(ran_before_ms)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(id,)| id))
        })
    }

    /// Record `tags` as announced by notification `notification_id` and,
    /// if any was not announced before, queue one delivery for that
    /// notification alone, its payload made by `payload` from the newly
    /// announced names; one transaction. Returns those names.
    pub async fn announce_expiring_tags(
        &self,
        notification_id: i64,
        tags: &[ExpiringTagRow],
        delivery: &str,
        payload: impl Fn(&[String]) -> String,
    ) -> Result<Vec<String>, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let mut fresh = Vec::new();
            for tag in tags {
                // A tag row gone meanwhile (collected) has nothing to announce.
                let done = sqlx::query(
                    "INSERT INTO notification_tag_expiry (notification_id, tag_id) \
                     SELECT $1, id FROM tags WHERE id = $2 \
                     ON CONFLICT DO NOTHING",
                )
                .bind(notification_id)
                .bind(tag.tag_id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    fresh.push(tag.name.clone());
                }
            }
            if !fresh.is_empty() {
                sqlx::query(
                    "INSERT INTO notification_queue \
                     (notification_id, delivery, event, payload, queued_ms, next_attempt_ms) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(notification_id)
                .bind(delivery)
                .bind(EVENT)
                .bind(payload(&fresh))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(fresh)
        })
    }
}
