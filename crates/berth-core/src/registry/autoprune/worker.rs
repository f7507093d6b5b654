//! The auto-prune worker. Every instance runs it; an instance prunes a
//! namespace only under a claim in the database (`autoprune_runs`), so two
//! instances never prune one namespace at once, and a namespace is pruned
//! at most once per poll period whichever instance does it.

use std::time::Duration;

use berth_store::metadata::{EndTag, NewAuditEntry};
use berth_store::now_ms;

use super::plan::Planned;
use crate::identity::AuditEvent;
use crate::names::RepositoryName;
use crate::registry::sessions::new_token;
use crate::registry::{Registry, RegistryError};

/// The usage-log kind of a pruned tag (Quay's).
pub const AUTOPRUNE_LOG_KIND: &str = "autoprune_tag_delete";
/// How long a claim on a namespace lasts: longer than any run should take;
/// a dead instance's namespace waits this long.
const CLAIM: Duration = Duration::from_secs(600);

/// Which namespaces a pass prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrunePass {
    /// Those not pruned within the poll period (the worker's passes).
    Scheduled,
    /// All of them (`berth autoprune`, run by an operator).
    Now,
}

impl Registry {
    /// One pass: every namespace with a policy (every namespace, with a
    /// registry-wide default) that no other instance is pruning (and, for
    /// a scheduled pass, that was not pruned within the poll period) is
    /// claimed and pruned. Nothing is done in read-only mode. Returns how
    /// many tags it ended.
    pub async fn prune_tags(&self, pass: PrunePass) -> Result<usize, RegistryError> {
        if self.read_only() {
            return Ok(0);
        }
        let every = self.config.autoprune.default_policy.is_some();
        let gap = match pass {
            PrunePass::Scheduled => {
                i64::try_from(self.config.autoprune.poll_period.as_millis()).unwrap_or(i64::MAX)
            }
            PrunePass::Now => 0,
        };
        let token = new_token();
        let mut pruned = 0;
        for (id, namespace) in self.db.prune_namespaces(every).await? {
            let until = now_ms().saturating_add(CLAIM.as_millis() as i64);
            if !self.db.claim_prune_namespace(id, &token, until, gap).await? {
                continue;
            }
            let result = self.prune_namespace(&namespace).await;
            self.db.release_prune_namespace(id, &token).await?;
            pruned += result?;
        }
        Ok(pruned)
    }

    /// End every tag of namespace `namespace` its policies make prunable
    /// now, each with its `autoprune_tag_delete` entry.
    async fn prune_namespace(&self, namespace: &str) -> Result<usize, RegistryError> {
        let rules = self.namespace_rules(namespace).await?;
        let mut ended = 0;
        for repo in self.db.namespace_repositories(namespace).await? {
            let repo_rules = self.repository_rules(repo.id, &rules).await?;
            let now = now_ms();
            let planned = self.plan_repository(&repo, &repo_rules, now, now).await?;
            if planned.is_empty() {
                continue;
            }
            let Ok(name) = RepositoryName::new(repo.name.clone()) else {
                continue;
            };
            let held = self.tag_policies(&name, repo.id).await?;
            for p in planned {
                let entry = pruned_entry(&name, &p);
                match self
                    .db
                    .end_pruned_tag(repo.id, p.row_id, &|t| held.holds(t), &entry)
                    .await?
                {
                    EndTag::Ended => ended += 1,
                    // Moved, deleted or made immutable meanwhile.
                    EndTag::Missing | EndTag::Immutable => {}
                }
            }
        }
        Ok(ended)
    }

    /// Prune periodically (`AUTO_PRUNING_POLL_PERIOD`), then announce
    /// the tags about to expire (`repo_image_expiry`), which pruning
    /// policies decide too.
    pub(crate) async fn run_autoprune(&self) {
        loop {
            match self.prune_tags(PrunePass::Scheduled).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "auto-pruned tags"),
                Err(e) => tracing::warn!(error = %e, "cannot auto-prune tags"),
            }
            match self.announce_image_expiry().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "queued image expiry notifications"),
                Err(e) => tracing::warn!(error = %e, "cannot scan image expiry notifications"),
            }
            tokio::time::sleep(self.config.autoprune.poll_period).await;
        }
    }
}

/// Quay's usage-log entry of a pruned tag (no performer; the metadata
/// names the worker).
fn pruned_entry(repo: &RepositoryName, p: &Planned) -> NewAuditEntry {
    AuditEvent {
        kind: AUTOPRUNE_LOG_KIND,
        ..AuditEvent::default()
    }
    .repository(repo.as_str())
    .metadata(serde_json::json!({
        "performer": "autoprune worker",
        "namespace": repo.namespace(),
        "repo": repo.short(),
        "tag": p.tag.name,
        "policy_uuid": p.policy,
    }))
    .into_entry()
}
