//! The tag lifecycle: history, planned expiry (set through the API or by
//! the `quay.expires-after` label at push time), the time machine that
//! restores deleted, moved-away and expired tags within the namespace's
//! window, and the worker that records expired tags as ended. Immutable
//! tags (`immutability.rs`) are never moved, ended or set to expire here.

use std::time::Duration;

use berth_oci::{Digest, Reference};
use berth_store::metadata::{ExpiredTag, NewAuditEntry, Retarget, TagHistoryQuery, TagRow};
use berth_store::now_ms;

use super::{ClientError, Registry, RegistryError};
use crate::Caller;
use crate::identity::{Action, AuditEvent, namespace_of};
use crate::names::{RepositoryName, TagName};

/// Most rows one history page holds.
pub const MAX_TAG_PAGE: u32 = 100;
/// Expired tag rows ended per transaction.
const EXPIRY_BATCH: i64 = 100;
/// The usage-log kind of a tag ended by its planned expiry. Quay logs
/// nothing here; `delete_tag` (with `"expired": true` in the metadata, and
/// no performer) keeps the log within Quay's vocabulary.
pub const TAG_EXPIRED_LOG_KIND: &str = "delete_tag";

/// How a tag listing narrows names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// Names containing this text, case-insensitively (`like:`).
    Contains(String),
    /// Exactly this name (`eq:`).
    Exact(String),
}

/// One page of a repository's tag history.
#[derive(Debug, Clone, Default)]
pub struct TagQuery {
    /// Only rows of this name (`specificTag`).
    pub specific: Option<String>,
    /// A name filter (`filter_tag_name`).
    pub filter: Option<TagFilter>,
    /// Only tags that resolve now (`onlyActiveTags`).
    pub only_active: bool,
    /// Page number, from 1.
    pub page: u32,
    /// Rows per page (clamped to 1..=100).
    pub limit: u32,
}

/// One row of a tag's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    /// Tag name.
    pub name: String,
    /// The manifest it points (or pointed) to.
    pub manifest_digest: String,
    /// Whether that manifest is an index or manifest list.
    pub is_manifest_list: bool,
    /// When the row started.
    pub start_ms: i64,
    /// When it ended, or will (or did) expire.
    pub end_ms: Option<i64>,
    /// Whether a restore created it.
    pub reversion: bool,
    /// The manifest's size plus the blobs it references directly.
    pub size: i64,
    /// Whether the tag is immutable (its own flag or a policy).
    pub immutable: bool,
    /// Pulls by this tag name (all its rows share them).
    pub pulls: super::TagPullCount,
    /// For an index: each child's digest and whether it is stored (a
    /// sparse index lacks some).
    pub children: Vec<(String, bool)>,
}

impl TagRecord {
    /// The record of `r`, whose name policies hold or not.
    fn new(r: TagRow, policy: bool) -> Self {
        TagRecord {
            immutable: super::immutability::effective(r.immutable, r.policy_exempt, policy),
            is_manifest_list: matches!(
                r.media_type.as_str(),
                berth_oci::media_type::OCI_INDEX | berth_oci::media_type::DOCKER_MANIFEST_LIST
            ),
            name: r.name,
            manifest_digest: r.manifest_digest,
            start_ms: r.start_ms,
            // An expired row resolves no more whether or not the worker
            // has ended it yet.
            end_ms: r.end_ms.or(r.expires_ms),
            reversion: r.reversion,
            size: r.size,
            pulls: super::TagPullCount::default(),
            children: Vec::new(),
        }
    }
}

/// A page of tag history and whether another follows.
#[derive(Debug, Clone, Default)]
pub struct TagHistory {
    /// The rows, newest first.
    pub tags: Vec<TagRecord>,
    /// Whether a next page has rows.
    pub has_additional: bool,
}

/// What changing a tag's expiry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpiryChange {
    /// Changed from the first to the second planned expiry (ms).
    Changed(Option<i64>, Option<i64>),
    /// No tag of that name resolves.
    NoTag,
    /// The tag was moved or ended while it was being changed.
    Raced,
}

/// A change to a tag through the API; a move is done before an
/// expiration, so the expiration applies to the tag as the change leaves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagChange {
    /// Point the tag at this manifest of the repository (creating or moving
    /// it).
    pub manifest_digest: Option<Digest>,
    /// Plan the tag's expiry at this time (ms since the epoch), or with
    /// `Some(None)` cancel a planned one.
    pub expiration_ms: Option<Option<i64>>,
    /// Make the tag immutable, or (its administrators) release it.
    pub immutable: Option<bool>,
}

impl Registry {
    /// A page of the tag history of `repo`: live and ended rows, newest
    /// first. Those who may pull it may read it.
    pub async fn tag_history(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        q: &TagQuery,
    ) -> Result<TagHistory, ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Pull(repo.as_str()))
            .await?;
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        let exact = match (&q.specific, &q.filter) {
            (Some(a), Some(TagFilter::Exact(b))) if a != b => return Ok(TagHistory::default()),
            (Some(a), _) | (None, Some(TagFilter::Exact(a))) => Some(a.as_str()),
            _ => None,
        };
        let contains = match &q.filter {
            Some(TagFilter::Contains(s)) => Some(s.as_str()),
            _ => None,
        };
        let limit = q.limit.clamp(1, MAX_TAG_PAGE);
        let offset = i64::from(q.page.max(1) - 1) * i64::from(limit);
        let mut rows = self
            .db
            .tag_history(
                repo_id,
                &TagHistoryQuery {
                    name: exact,
                    name_contains: contains,
                    only_active: q.only_active,
                    offset,
                    limit: i64::from(limit) + 1,
                },
            )
            .await?;
        let has_additional = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let policies = self.tag_policies(repo, repo_id).await?;
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        let pulls = self.tags_pulls(repo_id, &names).await?;
        let mut tags: Vec<TagRecord> = rows
            .into_iter()
            .zip(pulls)
            .map(|(row, pulls)| {
                let held = policies.holds(&row.name);
                TagRecord {
                    pulls,
                    ..TagRecord::new(row, held)
                }
            })
            .collect();
        for t in tags.iter_mut().filter(|t| t.is_manifest_list) {
            t.children = self.db.child_presence(repo_id, &t.manifest_digest).await?;
        }
        Ok(TagHistory { tags, has_additional })
    }

    /// The time-machine window of the namespace `repo` is in: its own
    /// setting, else the configured default.
    pub async fn time_machine_window(&self, repo: &str) -> Result<Duration, RegistryError> {
        let chosen = self
            .db
            .account_by_name(namespace_of(repo))
            .await?
            .and_then(|a| a.tag_expiration_s);
        Ok(match chosen {
            Some(s) => Duration::from_secs(s.max(0) as u64),
            None => self.config.default_tag_expiration,
        })
    }

    /// Create, move, make immutable or plan the expiry of tag `tag` of
    /// `repo` (its writers may; releasing an immutable tag takes its
    /// administrators), logging each change as Quay does (`create_tag`,
    /// `move_tag`, `change_tag_immutability`, `change_tag_expiration`).
    pub async fn change_tag(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        tag: &TagName,
        change: &TagChange,
    ) -> Result<(), ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Push(repo.as_str()))
            .await?;
        self.check_writable(&caller.principal, repo).await?;
        if let Some(digest) = &change.manifest_digest {
            let previous = self.retarget(repo, tag, digest).await?;
            let kind = if previous.is_some() {
                "move_tag"
            } else {
                "create_tag"
            };
            self.log(tag_event(
                kind,
                caller,
                repo,
                tag,
                serde_json::json!({
                    "manifest_digest": digest.to_string(),
                    "original_manifest_digest": previous,
                }),
            ))
            .await?;
        }
        if let Some(immutable) = change.immutable {
            self.change_tag_immutability(caller, repo, tag, immutable).await?;
        }
        let Some(expiration_ms) = change.expiration_ms else {
            return Ok(());
        };
        match self.set_tag_expiration(repo, tag, expiration_ms).await? {
            ExpiryChange::NoTag => Err(ClientError::NotFound(format!("tag {tag} not found"))),
            ExpiryChange::Raced => Err(ClientError::Invalid(
                "Could not update tag expiration; Tag has probably changed".into(),
            )),
            ExpiryChange::Changed(None, None) => Ok(()),
            ExpiryChange::Changed(old, new) => {
                self.log(tag_event(
                    "change_tag_expiration",
                    caller,
                    repo,
                    tag,
                    serde_json::json!({
                        "expiration_date": expiration_ms.map(|ms| ms / 1000),
                        "effective_expiration_date": new.map(|ms| ms / 1000),
                        "old_expiration_date": old.map(|ms| ms / 1000),
                    }),
                ))
                .await
            }
        }
    }

    /// Point tag `tag` at `digest` (creating or moving it); the manifest
    /// it resolved to before, if any.
    async fn retarget(
        &self,
        repo: &RepositoryName,
        tag: &TagName,
        digest: &Digest,
    ) -> Result<Option<String>, ClientError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        let policies = self.tag_policies(repo, repo_id).await?;
        match self
            .db
            .retarget_tag(repo_id, tag.as_str(), &digest.to_string(), false, &|t| {
                policies.holds(t)
            })
            .await?
        {
            Retarget::Done(previous) => Ok(previous),
            Retarget::Immutable => Err(immutable(tag, "overwrite").into()),
            Retarget::UnknownManifest => Err(ClientError::NotFound(format!(
                "manifest {digest} not found in {repo}"
            ))),
        }
    }

    /// Plan (or with `None` cancel) the expiry of live tag `tag` at
    /// `expires_ms`, kept between the configured bounds from the tag's
    /// start, as Quay does.
    async fn set_tag_expiration(
        &self,
        repo: &RepositoryName,
        tag: &TagName,
        expires_ms: Option<i64>,
    ) -> Result<ExpiryChange, RegistryError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        let Some(live) = self.db.live_tag(repo_id, tag.as_str()).await? else {
            return Ok(ExpiryChange::NoTag);
        };
        if expires_ms.is_some() {
            let held = self.tag_policies(repo, repo_id).await?.holds(tag.as_str());
            if super::immutability::effective(live.immutable, live.policy_exempt, held) {
                return Err(immutable(tag, "set expiration on"));
            }
        }
        let (min, max) = self.config.tag_expiration_bounds;
        let (min, max) = (duration_ms(min), duration_ms(max).max(duration_ms(min)));
        let planned = expires_ms.map(|at| {
            let offset = at.saturating_sub(live.start_ms).clamp(min, max);
            live.start_ms.saturating_add(offset)
        });
        if self.db.set_tag_expiry(repo_id, live.id, planned).await? {
            Ok(ExpiryChange::Changed(live.expires_ms, planned))
        } else {
            Ok(ExpiryChange::Raced)
        }
    }

    /// Delete tag `tag` of `repo` (its writers may): it stops resolving
    /// and stays restorable for the namespace's time-machine window.
    pub async fn delete_tag(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        tag: &TagName,
    ) -> Result<(), ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Push(repo.as_str()))
            .await?;
        self.check_writable(&caller.principal, repo).await?;
        match self
            .delete_manifest(repo, &Reference::Tag(tag.as_str().to_owned()))
            .await
        {
            Err(RegistryError::ManifestUnknown) => {
                return Err(ClientError::NotFound(format!("tag {tag} not found")));
            }
            other => other?,
        }
        self.log(tag_event("delete_tag", caller, repo, tag, serde_json::json!({})))
            .await
    }

    /// Point tag `tag` at `digest` again (a new row marked as a reversion;
    /// its writers may), if the tag pointed there within the namespace's
    /// time-machine window and the manifest still exists. Logged as
    /// `revert_tag`.
    pub async fn restore_tag(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        tag: &TagName,
        digest: &Digest,
    ) -> Result<(), ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Push(repo.as_str()))
            .await?;
        self.check_writable(&caller.principal, repo).await?;
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        let window = duration_ms(self.time_machine_window(repo.as_str()).await?);
        let since = now_ms().saturating_sub(window);
        let not_restorable = || {
            ClientError::NotFound(format!(
                "tag {tag} cannot be restored to {digest}: it did not point there within the time-machine window, or the manifest is gone"
            ))
        };
        let digest_text = digest.to_string();
        let policies = self.tag_policies(repo, repo_id).await?;
        if !self
            .db
            .tag_restorable(repo_id, tag.as_str(), &digest_text, since)
            .await?
        {
            return Err(not_restorable());
        }
        let previous = match self
            .db
            .retarget_tag(repo_id, tag.as_str(), &digest_text, true, &|t| policies.holds(t))
            .await?
        {
            Retarget::Done(previous) => previous,
            Retarget::Immutable => return Err(immutable(tag, "overwrite").into()),
            // Collected meanwhile.
            Retarget::UnknownManifest => return Err(not_restorable()),
        };
        self.log(tag_event(
            "revert_tag",
            caller,
            repo,
            tag,
            serde_json::json!({
                "manifest_digest": digest_text,
                "original_manifest_digest": previous,
            }),
        ))
        .await
    }

    /// Delete repository `repo` with its manifests, tags and uploads (its
    /// administrators may); its name is free at once, and garbage
    /// collection reclaims blobs nothing else uses. Logged as
    /// `delete_repo`.
    pub async fn delete_repository(&self, caller: &Caller, repo: &RepositoryName) -> Result<(), ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        if !self.db.delete_repository(repo_id).await? {
            return Err(RegistryError::NameUnknown.into());
        }
        self.log(
            AuditEvent::by("delete_repo", caller)
                .repository(repo.as_str())
                .metadata(serde_json::json!({ "namespace": repo.namespace(), "repo": repo.short() })),
        )
        .await
    }

    /// Write a client operation's usage-log entry before it is answered.
    pub(crate) async fn log(&self, event: AuditEvent) -> Result<(), ClientError> {
        self.identity
            .audit()
            .record_now(event)
            .await
            .map_err(|e| ClientError::Registry(e.into()))
    }

    /// When `repo` last changed (a tag set, moved or ended).
    pub(crate) async fn repository_last_modified(&self, repo_id: i64) -> Result<Option<i64>, RegistryError> {
        Ok(self.db.repository_updated_ms(repo_id).await?)
    }

    /// End every live tag row whose planned expiry has passed, logging
    /// each. Such tags stopped resolving when they expired; this records
    /// it. Nothing is done in read-only mode. Returns how many were ended.
    pub async fn end_expired_tags(&self) -> Result<usize, RegistryError> {
        if self.read_only() {
            return Ok(0);
        }
        let mut total = 0;
        loop {
            let policies = self.all_tag_policies().await?;
            let ended = self
                .db
                .end_expired_tags(now_ms(), EXPIRY_BATCH, &expiry_audit_entry, &|repo, tag| {
                    policies.holds(repo, tag)
                })
                .await?;
            total += ended;
            if ended < EXPIRY_BATCH as usize {
                return Ok(total);
            }
        }
    }
}

/// The usage-log entry of a tag ended by its planned expiry (no performer).
fn expiry_audit_entry(t: &ExpiredTag) -> NewAuditEntry {
    let ns = namespace_of(&t.repository);
    let short = t
        .repository
        .strip_prefix(ns)
        .and_then(|n| n.strip_prefix('/'))
        .unwrap_or(&t.repository);
    AuditEvent {
        kind: TAG_EXPIRED_LOG_KIND,
        ..AuditEvent::default()
    }
    .repository(&t.repository)
    .metadata(serde_json::json!({
        "namespace": ns,
        "repo": short,
        "tag": t.name,
        "manifest_digest": t.manifest_digest,
        "expired": true,
        "expiration_date": t.expires_ms / 1000,
    }))
    .into_entry()
}

/// The refusal of `operation` on immutable tag `tag`.
fn immutable(tag: &TagName, operation: &'static str) -> RegistryError {
    RegistryError::TagImmutable {
        tag: tag.as_str().to_owned(),
        operation,
    }
}

/// A duration in whole milliseconds, saturating.
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A usage-log entry of `kind` about `tag`, with Quay's metadata for tag
/// changes (`username`, `namespace`, `repo`, `tag`) and `extra`'s fields.
pub(super) fn tag_event(
    kind: &'static str,
    caller: &Caller,
    repo: &RepositoryName,
    tag: &TagName,
    extra: serde_json::Value,
) -> AuditEvent {
    let mut metadata = serde_json::json!({
        "username": caller.name(),
        "namespace": repo.namespace(),
        "repo": repo.short(),
        "tag": tag.as_str(),
    });
    if let (Some(m), serde_json::Value::Object(extra)) = (metadata.as_object_mut(), extra) {
        m.extend(extra);
    }
    AuditEvent::by(kind, caller)
        .repository(repo.as_str())
        .metadata(metadata)
}
