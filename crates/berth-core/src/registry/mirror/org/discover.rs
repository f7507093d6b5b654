//! The discovery round of organization mirrors, run by the mirror worker
//! before it syncs repository mirrors. A due organization mirror is
//! claimed in the database (`SYNCING`, a token, a lease renewed after each
//! repository), so one instance discovers it at a time. The round lists
//! the upstream namespace, keeps the names matching `repository_filters`,
//! makes a `MIRROR` repository with a repository mirror (every tag, the
//! organization mirror's robot, credentials and settings) for each new
//! one, brings the existing ones' mirrors in line with the configuration,
//! and asks each for a sync; the repository-mirror worker copies them.

use std::collections::HashMap;

use berth_store::metadata::{MirrorFields, MirrorOutcome, OrgMirrorRow};
use berth_store::now_ms;

use super::super::sync::glob_matches;
use super::super::{SYNC_RETRIES, SyncStatus, next_start};
use crate::identity::AuditEvent;
use crate::names::RepositoryName;
use crate::registry::sessions::new_token;
use crate::registry::{Registry, RegistryError};

/// The first retry's delay after a failed discovery; doubled for each further one.
const RETRY_DELAY_MS: i64 = 30_000;
/// The claim of a discovery (renewed after each repository).
const LEASE_MS: i64 = 10 * 60 * 1000;
/// Why a repository is skipped.
const NOT_MATCHED: &str = "not matched by repository_filters";
const NAME_TAKEN: &str = "a repository of this name existed before the organization mirror";
const GONE: &str = "no longer in the upstream namespace";
const BAD_NAME: &str = "not a valid repository name here";

/// How a discovery ended.
enum Ended {
    Done { mirrored: usize, created: usize },
    Failed(String),
    Cancelled,
}

impl Registry {
    /// One pass: claim and discover every due organization mirror no
    /// other instance holds. Nothing in read-only mode. Returns how many.
    pub async fn discover_org_mirrors(&self) -> Result<usize, RegistryError> {
        if self.read_only() {
            return Ok(0);
        }
        let mut done = 0;
        for id in self.db.due_org_mirrors().await? {
            let token = new_token();
            let Some(row) = self
                .db
                .claim_org_mirror(id, &token, now_ms().saturating_add(LEASE_MS))
                .await?
            else {
                continue;
            };
            self.discover_claimed(row, &token).await?;
            done += 1;
        }
        Ok(done)
    }

    async fn discover_claimed(&self, row: OrgMirrorRow, token: &str) -> Result<(), RegistryError> {
        let what = format!(
            "namespace '{}' of {} ({})",
            row.external_namespace, row.registry_url, row.registry_type
        );
        self.org_entry(&row.namespace, "org_mirror_sync_started", &what)
            .await;
        let ended = match self.discover(&row, token).await {
            Ok(e) => e,
            Err(e) => Ended::Failed(e),
        };
        let now = now_ms();
        let (outcome, kind, entry) = match &ended {
            Ended::Cancelled => return Ok(()),
            Ended::Done { mirrored, created } => (
                MirrorOutcome {
                    status: SyncStatus::Success.as_str(),
                    next_start_ms: next_start(row.sync_start_ms, row.sync_interval_s, now),
                    retries: SYNC_RETRIES,
                    error: None,
                },
                "org_mirror_sync_success",
                format!("{what}: {mirrored} repositories mirrored, {created} created"),
            ),
            Ended::Failed(why) => {
                let left = row.sync_retries_remaining - 1;
                let (next, retries) = if left > 0 {
                    let delay = RETRY_DELAY_MS << (SYNC_RETRIES - 1 - left).clamp(0, 10);
                    (
                        Some(now + delay.min(row.sync_interval_s.saturating_mul(1000))),
                        left,
                    )
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
                    "org_mirror_sync_failed",
                    format!("{what}: {why}"),
                )
            }
        };
        if self
            .db
            .release_org_mirror(row.account_id, token, &outcome)
            .await?
        {
            if matches!(ended, Ended::Failed(_)) {
                tracing::info!(namespace = %row.namespace, error = %entry, "organization mirror discovery failed");
            }
            self.org_entry(&row.namespace, kind, &entry).await;
        }
        Ok(())
    }

    /// The discovery itself; an `Err` fails it whole.
    async fn discover(&self, row: &OrgMirrorRow, token: &str) -> Result<Ended, String> {
        let lister = self.org_lister(row)?;
        let upstream = lister.list().await.map_err(|e| e.to_string())?;
        let filters: Vec<String> = serde_json::from_str(&row.repository_filters).unwrap_or_default();
        let known: HashMap<String, Option<i64>> = self
            .db
            .org_mirror_repositories(row.account_id)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| (r.name, r.repository_id))
            .collect();
        let credentials = self.org_credentials(row)?;
        let host = reqwest::Url::parse(&row.registry_url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            })
            .ok_or_else(|| format!("invalid registry URL {}", row.registry_url))?;
        let (mut mirrored, mut created) = (0, 0);
        let mut seen = std::collections::HashSet::new();
        for name in &upstream {
            if !self.still_discovering(row, token).await {
                return Ok(Ended::Cancelled);
            }
            seen.insert(name.as_str());
            let matched = filters.is_empty() || filters.iter().any(|g| glob_matches(g, name));
            let local = RepositoryName::join(&row.namespace, name).ok().filter(|_| {
                crate::upstream::UpstreamRef::parse(&format!("{host}/{}/{name}", row.external_namespace))
                    .is_ok()
            });
            let linked = known.get(name).copied().flatten();
            let id = match (matched, &local, linked) {
                (_, None, _) => {
                    self.skip(row, name, BAD_NAME).await?;
                    continue;
                }
                (false, _, None) => {
                    self.skip(row, name, NOT_MATCHED).await?;
                    continue;
                }
                (false, _, Some(id)) => {
                    self.skip(row, name, NOT_MATCHED).await?;
                    self.align_mirror(row, id, name, &host, credentials.as_ref(), false)
                        .await?;
                    continue;
                }
                (true, Some(_), Some(id)) => {
                    self.db
                        .record_org_mirror_repository(row.account_id, name, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    id
                }
                (true, Some(local), None) => {
                    match self
                        .db
                        .create_org_mirrored_repository(
                            row.account_id,
                            name,
                            local.as_str(),
                            row.visibility == "public",
                            row.robot_id,
                        )
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        Some(id) => {
                            created += 1;
                            self.log_created(row, local).await;
                            id
                        }
                        None => {
                            self.skip(row, name, NAME_TAKEN).await?;
                            continue;
                        }
                    }
                }
            };
            self.align_mirror(row, id, name, &host, credentials.as_ref(), row.is_enabled)
                .await?;
            if row.is_enabled {
                self.db.mirror_sync_now(id).await.map_err(|e| e.to_string())?;
            }
            mirrored += 1;
        }
        // Repositories gone upstream keep their content; their mirrors stop.
        for (name, linked) in &known {
            if seen.contains(name.as_str()) {
                continue;
            }
            self.skip(row, name, GONE).await?;
            if let Some(id) = linked {
                self.align_mirror(row, *id, name, &host, credentials.as_ref(), false)
                    .await?;
            }
        }
        Ok(Ended::Done { mirrored, created })
    }

    /// Renew the discovery's claim; false if it is gone (cancelled).
    async fn still_discovering(&self, row: &OrgMirrorRow, token: &str) -> bool {
        self.db
            .renew_org_mirror_claim(row.account_id, token, now_ms().saturating_add(LEASE_MS))
            .await
            .unwrap_or(false)
    }

    async fn skip(&self, row: &OrgMirrorRow, name: &str, why: &str) -> Result<(), String> {
        self.db
            .record_org_mirror_repository(row.account_id, name, Some(why))
            .await
            .map_err(|e| e.to_string())
    }

    /// Create or update repository `id`'s mirror from the organization
    /// mirror's configuration: every tag of `host/<namespace>/<name>`,
    /// credentials sealed for this repository, synced when asked (by the
    /// discovery), enabled if `enabled`.
    async fn align_mirror(
        &self,
        row: &OrgMirrorRow,
        id: i64,
        name: &str,
        host: &str,
        credentials: Option<&crate::upstream::Credentials>,
        enabled: bool,
    ) -> Result<(), String> {
        let fields = MirrorFields {
            is_enabled: enabled,
            external_reference: format!("{host}/{}/{name}", row.external_namespace),
            username_sealed: self
                .seal_credential(id, "username", credentials.map(|c| c.username.as_str()))
                .map_err(|e| e.to_string())?,
            password_sealed: self
                .seal_credential(id, "password", credentials.map(|c| c.password.as_str()))
                .map_err(|e| e.to_string())?,
            robot_id: row.robot_id,
            sync_interval_s: 0,
            sync_start_ms: None,
            tag_globs: r#"["*"]"#.into(),
            registry_config: row.registry_config.clone(),
            timeout_s: row.timeout_s,
            architecture_filter: row.architecture_filter.clone(),
        };
        let store = |e: berth_store::StoreError| e.to_string();
        if self.db.mirror(id).await.map_err(store)?.is_some() {
            self.db.update_mirror(id, &fields).await.map_err(store)?;
        } else {
            self.db.create_mirror(id, &fields).await.map_err(store)?;
        }
        self.db
            .set_account_permission(id, row.robot_id, "write")
            .await
            .map_err(store)
    }

    async fn log_created(&self, row: &OrgMirrorRow, repo: &RepositoryName) {
        let entry = AuditEvent {
            kind: "org_mirror_repo_created",
            ..AuditEvent::default()
        }
        .repository(repo.as_str())
        .metadata(serde_json::json!({
            "namespace": row.namespace, "repo": repo.short(), "visibility": row.visibility,
            "performer": "organization mirror worker",
        }));
        if let Err(e) = self.log(entry).await {
            tracing::warn!(error = %e, "cannot log an organization mirror event");
        }
    }

    /// A usage-log entry of the discovery (no performer, as Quay's).
    async fn org_entry(&self, ns: &str, kind: &'static str, message: &str) {
        let entry = AuditEvent {
            kind,
            ..AuditEvent::default()
        }
        .namespace(ns)
        .metadata(serde_json::json!({
            "namespace": ns, "message": message, "performer": "organization mirror worker",
        }));
        if let Err(e) = self.log(entry).await {
            tracing::warn!(error = %e, kind, "cannot log an organization mirror event");
        }
    }
}
