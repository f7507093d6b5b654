//! The mirror worker. Every instance runs it; a mirror is synced only under
//! a claim in the database (its row set to `SYNCING` with a token and a
//! lease, renewed after each tag), so one instance at a time syncs it. A
//! sync lists the upstream's tags, keeps those matching the globs, copies
//! each (blobs, then child manifests, then the tagged manifest, all by
//! their upstream digests) as the mirror's robot, and ends the local tags
//! no longer matched. Under an `architecture_filter` an index keeps only
//! the children of the filter's architectures: it is stored sparse. Blobs
//! the registry holds anywhere are linked, not downloaded.

use std::time::Duration;

use berth_oci::{Digest, ManifestKind, ParsedManifest, Reference};
use berth_store::metadata::{MirrorOutcome, MirrorRow};
use berth_store::now_ms;

use super::{Mirror, SYNC_RETRIES, SyncStatus, next_start};
use crate::Caller;
use crate::identity::{AccountRef, Action, Actor, AuditEvent, Credential, Principal};
use crate::names::{RepositoryName, TagName};
use crate::notify::RepoEvent;
use crate::registry::sessions::new_token;
use crate::registry::{BlobRange, ChildRule, ClientError, Registry, RegistryError};
use crate::upstream::{Credentials, UpstreamClient, UpstreamRef, UpstreamSettings};

/// How often an instance looks for due mirrors (Quay's `REPO_MIRROR_INTERVAL`);
/// `sync-now` wakes the instance that took the request at once.
pub const MIRROR_POLL: Duration = Duration::from_secs(30);
/// The first retry's delay after a failed sync; doubled for each further one.
const RETRY_DELAY_MS: i64 = 30_000;

/// How a sync ended.
enum Ended {
    /// Every matched tag copied.
    Done { copied: usize, removed: usize },
    /// Some tags (or the whole sync) failed.
    Failed(String),
    /// `sync-cancel` dropped the claim.
    Cancelled,
}

/// Whether `tag` matches the shell glob `pattern` (`*`, `?`, `[seq]`,
/// `[!seq]`), as Python's `fnmatch` (Quay's). Linear in practice: a `*`
/// only remembers its last position.
pub fn glob_matches(pattern: &str, tag: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = tag.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class_matches(&p, pi, t[ti]),
            Some(c) if *c == t[ti] => Some(pi + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ti += 1;
            }
            (None, Some((sp, st))) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// If `p[start]` opens a bracket class matching `c`, the index after it;
/// an unclosed `[` is a literal.
fn class_matches(p: &[char], start: usize, c: char) -> Option<usize> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!'));
    if negate {
        i += 1;
    }
    let first = i;
    let mut found = false;
    while i < p.len() && (p[i] != ']' || i == first) {
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            found |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            found |= p[i] == c;
            i += 1;
        }
    }
    if i >= p.len() {
        return (c == '[').then_some(start + 1);
    }
    (found != negate).then_some(i + 1)
}

impl Registry {
    /// One pass: claim and sync every due mirror no other instance holds.
    /// Nothing in read-only mode. Returns how many were synced.
    pub async fn sync_mirrors(&self) -> Result<usize, RegistryError> {
        if self.read_only() {
            return Ok(0);
        }
        let mut synced = 0;
        for id in self.db.due_mirrors().await? {
            let token = new_token();
            let Some(row) = self
                .db
                .claim_mirror(id, &token, lease_until(lease_for(None)))
                .await?
            else {
                continue;
            };
            self.sync_claimed(row, &token).await?;
            synced += 1;
        }
        Ok(synced)
    }

    /// Sync due mirrors every [`MIRROR_POLL`], or at once when woken.
    pub(crate) async fn run_mirrors(&self) {
        loop {
            if let Err(e) = self.discover_org_mirrors().await {
                tracing::warn!(error = %e, "cannot discover organization mirrors");
            }
            match self.sync_mirrors().await {
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot sync repository mirrors"),
            }
            tokio::select! {
                _ = tokio::time::sleep(MIRROR_POLL) => {}
                _ = self.mirror_wakeup.notified() => {}
            }
        }
    }

    /// Sync one claimed mirror and record how it ended.
    async fn sync_claimed(&self, row: MirrorRow, token: &str) -> Result<(), RegistryError> {
        let Ok(repo) = RepositoryName::new(row.repository.clone()) else {
            return Ok(());
        };
        let mirror = Mirror::from_row(&row);
        let what = format!(
            "'{}' with tag pattern '{}'",
            mirror.external_reference,
            mirror.tag_globs.join(",")
        );
        self.mirror_event(
            &repo,
            "repo_mirror_sync_started",
            &what,
            RepoEvent::MirrorSyncStarted {
                message: what.clone(),
            },
        )
        .await;
        let ended = match self.sync_mirror(&row, &mirror, &repo, token).await {
            Ok(ended) => ended,
            Err(e) => Ended::Failed(e),
        };
        let now = now_ms();
        let (outcome, entry) = match &ended {
            Ended::Cancelled => return Ok(()),
            Ended::Done { copied, removed } => (
                MirrorOutcome {
                    status: SyncStatus::Success.as_str(),
                    next_start_ms: next_start(row.sync_start_ms, row.sync_interval_s, now),
                    retries: SYNC_RETRIES,
                    error: None,
                },
                format!("{what}: {copied} tags synced, {removed} removed"),
            ),
            Ended::Failed(why) => {
                let left = row.sync_retries_remaining - 1;
                let (next, retries) = if left > 0 {
                    let delay = RETRY_DELAY_MS << (SYNC_RETRIES - 1 - left).clamp(0, 10);
                    let delay = delay.min(row.sync_interval_s.saturating_mul(1000).max(RETRY_DELAY_MS));
                    (Some(now + delay), left)
                } else {
                    (
                        next_start(row.sync_start_ms, row.sync_interval_s, now),
                        SYNC_RETRIES,
                    )
                };
                (
                    MirrorOutcome {
                        status: SyncStatus::Fail.as_str(),
                        next_start_ms: next,
                        retries,
                        error: Some(why.as_str()),
                    },
                    format!("{what}: {why}"),
                )
            }
        };
        if !self.db.release_mirror(row.repository_id, token, &outcome).await? {
            // Cancelled while the last tag was copied.
            return Ok(());
        }
        match ended {
            Ended::Done { .. } => {
                self.mirror_event(
                    &repo,
                    "repo_mirror_sync_success",
                    &entry,
                    RepoEvent::MirrorSyncSuccess {
                        message: entry.clone(),
                    },
                )
                .await
            }
            _ => {
                tracing::info!(repository = %repo, error = %entry, "mirror sync failed");
                self.mirror_event(
                    &repo,
                    "repo_mirror_sync_failed",
                    &entry,
                    RepoEvent::MirrorSyncFailed {
                        message: entry.clone(),
                    },
                )
                .await
            }
        }
        Ok(())
    }

    /// The usage-log entry and the notification event of a sync step.
    async fn mirror_event(&self, repo: &RepositoryName, kind: &'static str, message: &str, event: RepoEvent) {
        let entry = mirror_entry(kind, repo, serde_json::json!({ "message": message }));
        if let Err(e) = self.log(entry).await {
            tracing::warn!(error = %e, kind, "cannot log a mirror event");
        }
        if let Err(e) = self.enqueue_repo_event(repo, &event).await {
            tracing::warn!(error = %e, kind, "cannot queue a mirror notification");
        }
    }

    /// The sync itself; an `Err` is a failure of the whole sync.
    async fn sync_mirror(
        &self,
        row: &MirrorRow,
        mirror: &Mirror,
        repo: &RepositoryName,
        token: &str,
    ) -> Result<Ended, String> {
        let robot = Caller::new(
            Principal {
                actor: Actor::Robot(AccountRef {
                    id: row.robot_id,
                    name: row.robot_name.clone(),
                    super_user: false,
                }),
                credential: Credential::RobotToken,
            },
            None,
        );
        self.identity
            .authorize(&robot.principal, Action::Push(repo.as_str()))
            .await
            .map_err(|e| format!("robot {} may not write the mirror: {e}", row.robot_name))?;
        let filter = mirror.architecture_filter.as_deref().filter(|f| !f.is_empty());
        if filter.is_some() && !self.config.sparse_index.enabled {
            // Copying every platform instead would silently fill the
            // mirror with what its administrators left out.
            return Err("architecture_filter is set but FEATURE_SPARSE_INDEX is off: \
                 turn sparse indexes on, or clear the filter"
                .into());
        }
        let rule = filter.map_or(ChildRule::Complete, ChildRule::Filter);
        let client = self.mirror_client(row, mirror)?;
        let mut tags: Vec<String> = client
            .list_tags()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|t| mirror.tag_globs.iter().any(|g| glob_matches(g, t)))
            .collect();
        tags.sort();
        tags.dedup();
        let mut failures = Vec::new();
        let mut copied = 0;
        for tag in &tags {
            if !self.still_claimed(row, token).await {
                return Ok(Ended::Cancelled);
            }
            match self.copy_tag(&client, &robot, repo, tag, rule).await {
                Ok(()) => {
                    copied += 1;
                    self.log_tag(repo, "repo_mirror_sync_tag_success", tag, None)
                        .await;
                }
                Err(e) => {
                    self.log_tag(repo, "repo_mirror_sync_tag_failed", tag, Some(&e))
                        .await;
                    failures.push(format!("{tag}: {e}"));
                }
            }
        }
        if !self.still_claimed(row, token).await {
            return Ok(Ended::Cancelled);
        }
        let removed = self.remove_unmatched(&robot, repo, &tags).await?;
        match failures.first() {
            None => Ok(Ended::Done { copied, removed }),
            Some(first) => Ok(Ended::Failed(format!(
                "{} of {} tags failed; {first}",
                failures.len(),
                tags.len()
            ))),
        }
    }

    /// Renew the claim; false if it is gone (cancelled).
    async fn still_claimed(&self, row: &MirrorRow, token: &str) -> bool {
        self.db
            .renew_mirror_claim(
                row.repository_id,
                token,
                lease_until(lease_for(Some(row.timeout_s))),
            )
            .await
            .unwrap_or(false)
    }

    /// The upstream client of a mirror, with its credentials opened.
    fn mirror_client(&self, row: &MirrorRow, mirror: &Mirror) -> Result<UpstreamClient, String> {
        let target = UpstreamRef::parse(&row.external_reference).map_err(|e| e.to_string())?;
        let username = self.open_credential(row.repository_id, "username", row.username_sealed.as_deref());
        let password = self.open_credential(row.repository_id, "password", row.password_sealed.as_deref());
        if (row.username_sealed.is_some() && username.is_none())
            || (row.password_sealed.is_some() && password.is_none())
        {
            return Err(
                "the upstream credentials cannot be decrypted (DATABASE_SECRET_KEY changed?): set them again"
                    .into(),
            );
        }
        let credentials = username.map(|username| Credentials {
            username,
            password: password.unwrap_or_default(),
        });
        let settings = UpstreamSettings {
            verify_tls: mirror.connection.verify_tls,
            credentials,
            timeout: Duration::from_secs(u64::try_from(row.timeout_s).unwrap_or(300)),
            manifest_limit: self.config.manifest_size_limit,
        };
        UpstreamClient::new(self.config.notifications.ssrf.clone(), target, settings)
            .map_err(|e| e.to_string())
    }

    /// Copy tag `tag`: the blobs and the child manifests `rule` keeps
    /// (those not stored yet), then, unless the local tag already points
    /// at the upstream's digest, the manifest by tag. Children are looked
    /// at even then, so a widened filter completes a sparse index.
    async fn copy_tag(
        &self,
        client: &UpstreamClient,
        robot: &Caller,
        repo: &RepositoryName,
        tag: &str,
        rule: ChildRule<'_>,
    ) -> Result<(), String> {
        let top = client.manifest(tag).await.map_err(|e| e.to_string())?;
        let local = self.get_manifest(repo, &Reference::Tag(tag.to_owned())).await;
        let current = local.is_ok_and(|m| m.digest == top.digest.to_string());
        let parsed =
            ParsedManifest::parse(&top.content, top.media_type.as_deref()).map_err(|e| e.to_string())?;
        if parsed.kind != ManifestKind::Index && current {
            return Ok(());
        }
        let left_out = self.optional_children(&parsed, rule);
        for child in parsed.children.iter().filter(|c| !left_out.contains(c)) {
            if self
                .get_manifest(repo, &Reference::Digest(child.clone()))
                .await
                .is_ok()
            {
                continue;
            }
            let m = client
                .manifest(&child.to_string())
                .await
                .map_err(|e| e.to_string())?;
            self.copy_image(
                client,
                robot,
                repo,
                Reference::Digest(child.clone()),
                m.media_type,
                m.content,
                ChildRule::Complete,
            )
            .await?;
        }
        if current {
            return Ok(());
        }
        self.copy_image(
            client,
            robot,
            repo,
            Reference::Tag(tag.to_owned()),
            top.media_type,
            top.content,
            rule,
        )
        .await
    }

    /// Store the blobs a manifest references, then the manifest's exact
    /// bytes (an index with the children `rule` leaves out absent).
    #[allow(clippy::too_many_arguments)]
    async fn copy_image(
        &self,
        client: &UpstreamClient,
        robot: &Caller,
        repo: &RepositoryName,
        reference: Reference,
        media_type: Option<String>,
        content: Vec<u8>,
        rule: ChildRule<'_>,
    ) -> Result<(), String> {
        let parsed = ParsedManifest::parse(&content, media_type.as_deref()).map_err(|e| e.to_string())?;
        for digest in &parsed.blobs {
            self.ensure_blob(client, repo, digest)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.push_manifest_with(robot, repo, &reference, media_type.as_deref(), content, rule)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Make blob `digest` readable in `repo`: linked if the registry holds
    /// it anywhere, else downloaded (verified against its digest).
    async fn ensure_blob(
        &self,
        client: &UpstreamClient,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let key = digest.to_string();
        if self.db.linked_blob(repo.as_str(), &key).await?.is_some() {
            return Ok(());
        }
        let repo_id = self.repo_for_push(repo).await?;
        if self.db.link_stored_blob(repo_id, &key).await?.is_some() {
            return Ok(());
        }
        let body = client
            .blob(digest)
            .await
            .map_err(|e| RegistryError::BodyUnreadable(e.to_string()))?;
        self.upload_monolithic(repo, digest, BlobRange::default(), body)
            .await
    }

    /// End the local tags not among `matched` (the mirror is an exact copy
    /// of the matched tags). Returns how many were ended.
    async fn remove_unmatched(
        &self,
        robot: &Caller,
        repo: &RepositoryName,
        matched: &[String],
    ) -> Result<usize, String> {
        let live = self
            .live_tags(repo, usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        let mut removed = 0;
        for t in live {
            if matched.binary_search(&t.name).is_ok() {
                continue;
            }
            let Ok(tag) = TagName::new(t.name.clone()) else {
                continue;
            };
            match self.delete_tag(robot, repo, &tag).await {
                Ok(()) => removed += 1,
                Err(ClientError::NotFound(_)) => {}
                Err(e) => return Err(format!("cannot remove tag {}: {e}", t.name)),
            }
        }
        Ok(removed)
    }

    /// A per-tag usage-log entry.
    async fn log_tag(&self, repo: &RepositoryName, kind: &'static str, tag: &str, error: Option<&str>) {
        let mut metadata = serde_json::json!({ "tag": tag });
        if let Some(e) = error {
            metadata["message"] = e.into();
        }
        if let Err(e) = self.log(mirror_entry(kind, repo, metadata)).await {
            tracing::warn!(error = %e, kind, "cannot log a mirror event");
        }
    }
}

/// A usage-log entry of the mirror worker (no performer; the metadata
/// names the worker, as Quay's).
fn mirror_entry(kind: &'static str, repo: &RepositoryName, mut metadata: serde_json::Value) -> AuditEvent {
    metadata["namespace"] = repo.namespace().into();
    metadata["repo"] = repo.short().into();
    metadata["performer"] = "repository mirror worker".into();
    AuditEvent {
        kind,
        ..AuditEvent::default()
    }
    .repository(repo.as_str())
    .metadata(metadata)
}

/// The lease of a claim: twice the operation bound, at least ten minutes.
fn lease_for(timeout_s: Option<i64>) -> Duration {
    let t = timeout_s.and_then(|t| u64::try_from(t).ok()).unwrap_or(300);
    Duration::from_secs((2 * t).max(600))
}

fn lease_until(lease: Duration) -> i64 {
    now_ms().saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_as_fnmatch() {
        for (p, t) in [
            ("*", "latest"),
            ("v1.*", "v1.2"),
            ("v?", "v1"),
            ("[0-9]*", "3.19"),
            ("[!a]*", "b"),
            ("*-alpine", "3.19-alpine"),
            ("a*b*c", "axxbyyc"),
            ("[", "["),
        ] {
            assert!(glob_matches(p, t), "{p} {t}");
        }
        for (p, t) in [
            ("v1.*", "v2.0"),
            ("v?", "v10"),
            ("[!a]*", "abc"),
            ("*-alpine", "3.19"),
            ("latest", "latest2"),
            ("a*b*c", "axxbyy"),
        ] {
            assert!(!glob_matches(p, t), "{p} {t}");
        }
    }
}
