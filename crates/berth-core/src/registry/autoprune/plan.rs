//! What auto-prune policies prune, and when: one computation for the
//! worker (prunable now), the preview (the same, for one policy) and the
//! expiry notices (prunable within some days). Each tag gets the time at
//! which a rule makes it prunable; a run ends those whose time has come.

use std::collections::HashMap;

use berth_store::metadata::{PolicyOwner, PrunableTag, PrunePolicyRow, StatedRepository};
use regex::Regex;

use super::{PruneMethod, PrunePolicy, PruneSpec};
use crate::names::RepositoryName;
use crate::registry::immutability::effective;
use crate::registry::state::RepositoryState;
use crate::registry::{ClientError, Registry, RegistryError, compile_tag_pattern};

/// A tag a policy prunes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrunedTag {
    /// The repository's full name (`ns/name`).
    pub repository: String,
    /// The tag.
    pub name: String,
}

/// Why a tag will stop resolving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiryReason {
    /// Its planned expiry.
    Expiration,
    /// An auto-prune policy (by id; `None` for the registry's default).
    Prune(Option<String>),
}

/// A tag that will stop resolving, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringTag {
    /// The tag row (a re-pushed tag is a new row).
    pub tag_id: i64,
    /// The tag.
    pub name: String,
    /// When (ms since the epoch).
    pub expires_ms: i64,
    /// Why.
    pub reason: ExpiryReason,
}

/// The tags of a repository that expire or are pruned within a number of
/// days: what Quay's `repo_image_expiry` event carries (`repository`,
/// `namespace`, `name`, `tags`, and each tag's date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageExpiry {
    /// `ns/name`.
    pub repository: String,
    /// The namespace.
    pub namespace: String,
    /// The name within the namespace.
    pub name: String,
    /// Soonest first.
    pub tags: Vec<ExpiringTag>,
}

/// One policy, ready to match tags.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    method: PruneMethod,
    pattern: Option<Regex>,
    matches: bool,
    /// The policy's id (`None`: the registry's default).
    policy: Option<String>,
}

impl Rule {
    /// The rule of `spec`, from policy `policy`.
    pub(super) fn new(spec: &PruneSpec, policy: Option<String>) -> Result<Rule, ClientError> {
        let pattern = match &spec.tag_pattern {
            Some(p) => Some(compile_tag_pattern(p).map_err(ClientError::Invalid)?),
            None => None,
        };
        Ok(Rule {
            method: spec.method,
            pattern,
            matches: spec.tag_pattern_matches,
            policy,
        })
    }

    /// Rules of stored rows (rows that no longer parse prune nothing).
    fn of_rows(rows: &[PrunePolicyRow]) -> Vec<Rule> {
        rows.iter()
            .filter_map(PrunePolicy::from_row)
            .filter_map(|p| Rule::new(&p.spec, Some(p.uuid)).ok())
            .collect()
    }

    /// Whether the rule looks at tag `name` at all.
    fn looks_at(&self, name: &str) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| p.is_match(name) == self.matches)
    }
}

/// For each tag of `tags` (most recently set first), the earliest time a
/// rule makes it prunable and that rule's index. `idle` holds, for tags
/// idle long enough to matter, when they were last pulled or set; `now`
/// is when a count-based rule prunes.
pub(super) fn prunable_at(
    rules: &[Rule],
    tags: &[PrunableTag],
    idle: &HashMap<String, i64>,
    now: i64,
) -> Vec<Option<(i64, usize)>> {
    let mut at: Vec<Option<(i64, usize)>> = vec![None; tags.len()];
    let mut earliest = |i: usize, when: i64, rule: usize| {
        if at[i].is_none_or(|(t, _)| when < t) {
            at[i] = Some((when, rule));
        }
    };
    for (r, rule) in rules.iter().enumerate() {
        let mut seen = 0u64;
        for (i, tag) in tags.iter().enumerate() {
            if !rule.looks_at(&tag.name) {
                continue;
            }
            match rule.method {
                PruneMethod::NumberOfTags(keep) => {
                    seen += 1;
                    if seen > keep {
                        earliest(i, now, r);
                    }
                }
                PruneMethod::CreationDate(age) => earliest(i, tag.start_ms.saturating_add(ms(age)), r),
                PruneMethod::LastPulled(age) => {
                    if let Some(last) = idle.get(&tag.name) {
                        earliest(i, last.saturating_add(ms(age)), r);
                    }
                }
            }
        }
    }
    at
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A tag a run would end: its row and which policy.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub(super) tag: PrunedTag,
    pub(super) row_id: i64,
    pub(super) at_ms: i64,
    pub(super) policy: Option<String>,
}

impl Registry {
    /// The rules of namespace `namespace`: its own policies, or the
    /// registry's default if it has none (as Quay applies it).
    pub(super) async fn namespace_rules(&self, namespace: &str) -> Result<Vec<Rule>, RegistryError> {
        let rows = self.db.namespace_prune_policies(namespace).await?;
        if !rows.is_empty() {
            return Ok(Rule::of_rows(&rows));
        }
        Ok(self
            .config
            .autoprune
            .default_policy
            .as_ref()
            .and_then(|spec| Rule::new(spec, None).ok())
            .into_iter()
            .collect())
    }

    /// The rules of repository `repo`: its own policies, then `namespace`'s.
    pub(super) async fn repository_rules(
        &self,
        repo: i64,
        namespace: &[Rule],
    ) -> Result<Vec<Rule>, RegistryError> {
        let mut rules = Rule::of_rows(&self.db.prune_policies(PolicyOwner::Repository(repo)).await?);
        rules.extend(namespace.iter().cloned());
        Ok(rules)
    }

    /// The tags of `repo` that `rules` make prunable by `horizon` (ms),
    /// count-based rules pruning at `now`: none unless the repository is
    /// `NORMAL`, never an immutable tag. Soonest first.
    pub(super) async fn plan_repository(
        &self,
        repo: &StatedRepository,
        rules: &[Rule],
        now: i64,
        horizon: i64,
    ) -> Result<Vec<Planned>, RegistryError> {
        if rules.is_empty() || RepositoryState::stored(&repo.state) != RepositoryState::Normal {
            return Ok(Vec::new());
        }
        let Ok(name) = RepositoryName::new(repo.name.clone()) else {
            return Ok(Vec::new());
        };
        let tags = self.db.prunable_tags(repo.id).await?;
        let idle = self.idle_tags(&name, rules, horizon).await?;
        let held = self.tag_policies(&name, repo.id).await?;
        let mut planned: Vec<Planned> = prunable_at(rules, &tags, &idle, now)
            .into_iter()
            .zip(&tags)
            .filter_map(|(at, tag)| {
                let (at_ms, rule) = at?;
                let immutable = effective(tag.immutable, tag.policy_exempt, held.holds(&tag.name));
                (at_ms <= horizon && !immutable).then(|| Planned {
                    tag: PrunedTag {
                        repository: repo.name.clone(),
                        name: tag.name.clone(),
                    },
                    row_id: tag.id,
                    at_ms,
                    policy: rules.get(rule).and_then(|r| r.policy.clone()),
                })
            })
            .collect();
        planned.sort_by(|a, b| (a.at_ms, &a.tag).cmp(&(b.at_ms, &b.tag)));
        Ok(planned)
    }

    /// For `last_pulled` rules: the tags of `repo` idle long enough that
    /// one of them may prune them by `horizon`, with when they were last
    /// pulled or set.
    async fn idle_tags(
        &self,
        repo: &RepositoryName,
        rules: &[Rule],
        horizon: i64,
    ) -> Result<HashMap<String, i64>, RegistryError> {
        let shortest = rules
            .iter()
            .filter_map(|r| match r.method {
                PruneMethod::LastPulled(age) => Some(ms(age)),
                _ => None,
            })
            .min();
        let Some(shortest) = shortest else {
            return Ok(HashMap::new());
        };
        Ok(self
            .tags_not_pulled_since(repo, horizon.saturating_sub(shortest))
            .await?
            .into_iter()
            .map(|t| {
                let last = t.last_pull_ms.unwrap_or(t.start_ms).max(t.start_ms);
                (t.name, last)
            })
            .collect())
    }

    /// The tags of `repo` that will expire (planned expiry) or be pruned
    /// by a policy within `days` days, soonest first: the source of
    /// `repo_image_expiry` notifications. Immutable tags neither expire
    /// nor are pruned.
    pub async fn tags_expiring_within(
        &self,
        repo: &RepositoryName,
        days: u32,
    ) -> Result<ImageExpiry, RegistryError> {
        let (id, state) = self
            .db
            .repository_state(repo.as_str())
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        let now = berth_store::now_ms();
        let horizon = now.saturating_add(i64::from(days) * 86_400_000);
        let stated = StatedRepository {
            id,
            name: repo.as_str().to_owned(),
            state,
        };
        let namespace = self.namespace_rules(repo.namespace()).await?;
        let rules = self.repository_rules(id, &namespace).await?;
        let mut soonest: HashMap<String, ExpiringTag> = HashMap::new();
        for p in self.plan_repository(&stated, &rules, now, horizon).await? {
            soonest.insert(
                p.tag.name.clone(),
                ExpiringTag {
                    tag_id: p.row_id,
                    name: p.tag.name,
                    expires_ms: p.at_ms,
                    reason: ExpiryReason::Prune(p.policy),
                },
            );
        }
        let held = self.tag_policies(repo, id).await?;
        for tag in self.db.prunable_tags(id).await? {
            let Some(expires_ms) = tag.expires_ms.filter(|e| *e <= horizon) else {
                continue;
            };
            if effective(tag.immutable, tag.policy_exempt, held.holds(&tag.name)) {
                continue;
            }
            if soonest.get(&tag.name).is_none_or(|t| expires_ms <= t.expires_ms) {
                soonest.insert(
                    tag.name.clone(),
                    ExpiringTag {
                        tag_id: tag.id,
                        name: tag.name,
                        expires_ms,
                        reason: ExpiryReason::Expiration,
                    },
                );
            }
        }
        let mut tags: Vec<ExpiringTag> = soonest.into_values().collect();
        tags.sort_by(|a, b| (a.expires_ms, &a.name).cmp(&(b.expires_ms, &b.name)));
        Ok(ImageExpiry {
            repository: repo.as_str().to_owned(),
            namespace: repo.namespace().to_owned(),
            name: repo.short().to_owned(),
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::autoprune::PruneValue;

    const DAY: i64 = 86_400_000;

    fn rule(method: &str, value: PruneValue, pattern: Option<&str>, matches: bool) -> Rule {
        let spec = PruneSpec::parse(method, &value, pattern, Some(matches)).unwrap();
        Rule::new(&spec, Some(method.into())).unwrap()
    }

    /// Tags named by age in days, most recent first.
    fn tags(names: &[(&str, i64)]) -> Vec<PrunableTag> {
        names
            .iter()
            .enumerate()
            .map(|(i, (name, start))| PrunableTag {
                id: i as i64,
                name: (*name).into(),
                start_ms: *start,
                expires_ms: None,
                immutable: false,
                policy_exempt: false,
            })
            .collect()
    }

    fn due(rules: &[Rule], tags: &[PrunableTag], idle: &HashMap<String, i64>, now: i64) -> Vec<String> {
        prunable_at(rules, tags, idle, now)
            .into_iter()
            .zip(tags)
            .filter(|(at, _)| at.is_some_and(|(t, _)| t <= now))
            .map(|(_, t)| t.name.clone())
            .collect()
    }

    #[test]
    fn counts_keep_the_newest_among_the_tags_they_look_at() {
        let now = 100 * DAY;
        let t = tags(&[
            ("v5", 5),
            ("dev-2", 4),
            ("v4", 3),
            ("v3", 2),
            ("dev-1", 1),
            ("v2", 0),
        ]);
        let keep3 = rule("number_of_tags", PruneValue::Count(3), None, true);
        assert_eq!(due(&[keep3], &t, &HashMap::new(), now), ["v3", "dev-1", "v2"]);
        let keep1_dev = rule("number_of_tags", PruneValue::Count(1), Some("dev-"), true);
        assert_eq!(due(&[keep1_dev], &t, &HashMap::new(), now), ["dev-1"]);
        let keep2_other = rule("number_of_tags", PruneValue::Count(2), Some("dev-"), false);
        assert_eq!(due(&[keep2_other], &t, &HashMap::new(), now), ["v3", "v2"]);
    }

    #[test]
    fn ages_prune_from_the_tag_start_or_last_pull_and_tell_when() {
        let now = 10 * DAY;
        let t = tags(&[("new", 9 * DAY), ("old", 2 * DAY), ("older", DAY)]);
        let age = rule("creation_date", PruneValue::Text("2d".into()), None, true);
        assert_eq!(
            due(std::slice::from_ref(&age), &t, &HashMap::new(), now),
            ["old", "older"]
        );
        // `new` becomes prunable two days after it was set.
        let at = prunable_at(&[age], &t, &HashMap::new(), now);
        assert_eq!(at[0], Some((11 * DAY, 0)));
        let pulled = rule("last_pulled", PruneValue::Text("1w".into()), None, true);
        let idle: HashMap<String, i64> = [("old".to_owned(), 9 * DAY), ("older".to_owned(), DAY)].into();
        assert_eq!(due(std::slice::from_ref(&pulled), &t, &idle, now), ["older"]);
        let at = prunable_at(&[pulled], &t, &idle, now);
        assert_eq!(at[1], Some((16 * DAY, 0)));
        assert_eq!(at[0], None, "a tag not idle is not pruned by last_pulled");
        assert_eq!(ms(Duration::from_secs(1)), 1000);
    }

    #[test]
    fn several_rules_prune_the_union_at_the_earliest_time() {
        let now = 10 * DAY;
        let t = tags(&[("a", 9 * DAY), ("b", 8 * DAY), ("c", 7 * DAY)]);
        let keep2 = rule("number_of_tags", PruneValue::Count(2), None, true);
        let age = rule("creation_date", PruneValue::Text("2d".into()), None, true);
        let at = prunable_at(&[keep2, age], &t, &HashMap::new(), now);
        assert_eq!(at[0], Some((11 * DAY, 1)));
        assert_eq!(at[1], Some((10 * DAY, 1)));
        assert_eq!(
            at[2],
            Some((9 * DAY, 1)),
            "the age rule prunes it before the count does"
        );
    }
}
