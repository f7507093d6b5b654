//! Per repository: unrecoverable tag rows, unreachable manifests and
//! unused blob links. What is garbage is decided by marking from the
//! manifests something keeps, inside the transaction that deletes.

use std::collections::HashMap;

use berth_store::metadata::{ManifestNode, RepositorySweep};

use super::GcReport;
use crate::registry::{Registry, RegistryError};

impl Registry {
    /// Collect every repository that may hold garbage, each in its own
    /// transactions (so a long pass never holds one lock for long).
    pub(super) async fn collect_repositories(
        &self,
        sweep: &RepositorySweep,
        report: &mut GcReport,
    ) -> Result<(), RegistryError> {
        let grace_cutoff = sweep.grace_cutoff_ms;
        let pick = move |nodes: &[ManifestNode]| unreachable_manifests(nodes, grace_cutoff);
        for repo in self.db.gc_candidate_repositories(sweep).await? {
            loop {
                let step = match self.db.collect_repository(repo, sweep, &pick).await {
                    Ok(step) => step,
                    // Nothing was deleted (one transaction); the next pass
                    // tries again, and other repositories go on.
                    Err(e) => {
                        tracing::warn!(repository = repo, error = %e, "cannot collect a repository's garbage");
                        break;
                    }
                };
                report.tag_rows += step.tag_rows;
                report.manifests += step.manifests;
                report.blob_links += step.blob_links;
                if !step.more {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Ids of the manifests nothing keeps. Kept are: manifests named by a tag
/// row (the caller already removed unrecoverable ones), manifests pushed
/// at or after `grace_cutoff_ms`, and everything a kept manifest reaches:
/// its children, its subject, and the referrers of a kept manifest (an
/// untagged referrer lives while its subject does; a kept referrer keeps
/// its subject).
pub(crate) fn unreachable_manifests(nodes: &[ManifestNode], grace_cutoff_ms: i64) -> Vec<i64> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.digest.as_str(), i))
        .collect();
    let mut referrers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(subject) = &n.subject {
            referrers.entry(subject.as_str()).or_default().push(i);
        }
    }
    let mut kept = vec![false; nodes.len()];
    let mut stack: Vec<usize> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if n.tagged || n.created_ms >= grace_cutoff_ms {
            kept[i] = true;
            stack.push(i);
        }
    }
    while let Some(i) = stack.pop() {
        let n = &nodes[i];
        let reached = n
            .children
            .iter()
            .chain(n.subject.iter())
            .filter_map(|d| index.get(d.as_str()).copied())
            .chain(referrers.get(n.digest.as_str()).into_iter().flatten().copied());
        for j in reached {
            if !kept[j] {
                kept[j] = true;
                stack.push(j);
            }
        }
    }
    nodes
        .iter()
        .zip(kept)
        .filter(|(_, kept)| !kept)
        .map(|(n, _)| n.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: i64, tagged: bool, subject: Option<&str>, children: &[&str]) -> ManifestNode {
        ManifestNode {
            id,
            digest: format!("d{id}"),
            subject: subject.map(str::to_owned),
            created_ms: 0,
            tagged,
            children: children.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn garbage(nodes: &[ManifestNode]) -> Vec<i64> {
        let mut g = unreachable_manifests(nodes, 100);
        g.sort_unstable();
        g
    }

    #[test]
    fn tagged_indexes_keep_their_children_and_untagged_ones_free_them() {
        let nodes = [
            node(1, true, None, &["d2", "d3"]),
            node(2, false, None, &[]),
            node(3, false, None, &[]),
            node(4, false, None, &["d5"]),
            node(5, false, None, &[]),
        ];
        assert_eq!(garbage(&nodes), vec![4, 5]);
    }

    #[test]
    fn referrers_live_with_their_subject_and_keep_it() {
        // 2 refers to tagged 1: kept. 4 (tagged) refers to untagged 3: both
        // kept. 6 refers to untagged 5: neither is kept by anything else.
        // 7 refers to a subject not in the repository.
        let nodes = [
            node(1, true, None, &[]),
            node(2, false, Some("d1"), &[]),
            node(3, false, None, &[]),
            node(4, true, Some("d3"), &[]),
            node(5, false, None, &[]),
            node(6, false, Some("d5"), &[]),
            node(7, false, Some("d99"), &[]),
        ];
        assert_eq!(garbage(&nodes), vec![5, 6, 7]);
    }

    #[test]
    fn recent_pushes_are_kept_with_what_they_reach() {
        let mut index = node(1, false, None, &["d2"]);
        index.created_ms = 100;
        let nodes = [index, node(2, false, None, &[]), node(3, false, None, &[])];
        assert_eq!(garbage(&nodes), vec![3]);
    }
}
