//! Immutable tags: immutability policies of organizations and repositories,
//! and the per-tag flag set through the API or the `quay.immutable` label.
//!
//! A tag is immutable when its live row says so (the API or the label), or
//! when a policy that applies to its repository matches its name and no
//! administrator released that row. Policies are matched when a tag is
//! checked, never copied onto rows, so deleting a policy releases at once
//! the tags only it held, and a new policy holds existing tags at once.
//! Every store operation that ends or moves a live row asks the same check
//! inside its transaction, so no caller (API, `/v2`, the expiry worker, a
//! future pruner) ends an immutable tag.

use std::collections::HashMap;

use berth_store::metadata::{PolicyOwner, PolicyRow, PolicyWrite};
use regex::{Regex, RegexBuilder};

use super::{ClientError, Registry, RegistryError};
use crate::Caller;
use crate::identity::{Action, AuditEvent, namespace_of};
use crate::names::{AccountKind, Namespace, RepositoryName, TagName};

/// Longest tag pattern accepted, in characters (Quay's limit).
pub const MAX_TAG_PATTERN_CHARS: usize = 256;
/// Largest compiled pattern, in bytes: bounds the memory one pattern holds.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;

/// Who a policy belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyScope {
    /// An organization: every repository in it.
    Organization(Namespace),
    /// One repository.
    Repository(RepositoryName),
}

/// A policy as created or changed through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInput {
    /// A regular expression matched at the start of tag names.
    pub tag_pattern: String,
    /// Whether tags that match (true) or the others (false) are immutable.
    pub tag_pattern_matches: bool,
}

/// An immutability policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImmutabilityPolicy {
    /// Its id.
    pub uuid: String,
    /// The pattern.
    pub tag_pattern: String,
    /// Whether matching (true) or other (false) tags are immutable.
    pub tag_pattern_matches: bool,
}

impl From<PolicyRow> for ImmutabilityPolicy {
    fn from(r: PolicyRow) -> Self {
        ImmutabilityPolicy {
            uuid: r.uuid,
            tag_pattern: r.tag_pattern,
            tag_pattern_matches: r.tag_pattern_matches,
        }
    }
}

/// Compile a tag pattern as Quay matches it (at the start of the name),
/// with the `regex` crate: linear time, bounded size. The error names the
/// pattern and says what is wrong.
pub fn compile_tag_pattern(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() {
        return Err("tagPattern is required and must be a non-empty string".into());
    }
    // No tag name holds one, and PostgreSQL text cannot store it.
    if pattern.contains('\0') {
        return Err("tagPattern must not contain NUL characters".into());
    }
    if pattern.chars().count() > MAX_TAG_PATTERN_CHARS {
        return Err(format!(
            "tagPattern must be {MAX_TAG_PATTERN_CHARS} characters or less"
        ));
    }
    RegexBuilder::new(&format!(r"\A(?:{pattern})"))
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("Invalid regex pattern {pattern:?}: {e}"))
}

/// One compiled policy.
#[derive(Debug, Clone)]
struct Compiled {
    regex: Regex,
    matches: bool,
}

impl Compiled {
    fn from_row(row: &PolicyRow) -> Option<Compiled> {
        // Stored patterns were checked when written; one that no longer
        // compiles holds nothing rather than failing every push.
        let regex = compile_tag_pattern(&row.tag_pattern).ok()?;
        Some(Compiled {
            regex,
            matches: row.tag_pattern_matches,
        })
    }

    fn holds(&self, tag: &str) -> bool {
        self.regex.is_match(tag) == self.matches
    }
}

/// The policies that apply to one repository.
#[derive(Debug, Clone, Default)]
pub(crate) struct TagPolicies(Vec<Compiled>);

impl TagPolicies {
    /// Whether a policy makes tag `tag` immutable.
    pub(crate) fn holds(&self, tag: &str) -> bool {
        self.0.iter().any(|p| p.holds(tag))
    }
}

/// Every policy, by owner name: what the expiry worker checks rows of any
/// repository against.
#[derive(Debug, Default)]
pub(crate) struct AllPolicies {
    by_namespace: HashMap<String, Vec<Compiled>>,
    by_repository: HashMap<String, Vec<Compiled>>,
}

impl AllPolicies {
    /// Whether a policy makes tag `tag` of repository `repo` immutable.
    pub(crate) fn holds(&self, repo: &str, tag: &str) -> bool {
        let own = self.by_repository.get(repo).into_iter().flatten();
        let ns = self.by_namespace.get(namespace_of(repo)).into_iter().flatten();
        own.chain(ns).any(|p| p.holds(tag))
    }
}

/// Whether a row is immutable: its own flag, or a policy unless released.
pub(crate) fn effective(own: bool, exempt: bool, policy: bool) -> bool {
    own || (!exempt && policy)
}

impl Registry {
    /// The policies that apply to repository `repo` (id `repo_id`).
    pub(crate) async fn tag_policies(
        &self,
        repo: &RepositoryName,
        repo_id: i64,
    ) -> Result<TagPolicies, RegistryError> {
        let rows = self.db.policies_for_repository(repo_id, repo.namespace()).await?;
        Ok(TagPolicies(rows.iter().filter_map(Compiled::from_row).collect()))
    }

    /// Every policy, for the expiry worker.
    pub(crate) async fn all_tag_policies(&self) -> Result<AllPolicies, RegistryError> {
        let mut all = AllPolicies::default();
        for row in self.db.all_immutability_policies().await? {
            let Some(c) = Compiled::from_row(&row) else {
                continue;
            };
            match (&row.namespace, &row.repository) {
                (_, Some(r)) => all.by_repository.entry(r.clone()).or_default().push(c),
                (Some(n), None) => all.by_namespace.entry(n.clone()).or_default().push(c),
                (None, None) => {}
            }
        }
        Ok(all)
    }

    /// The store owner of `scope`, once the caller may read (or, with
    /// `change`, change) its policies: an organization's administrators, a
    /// repository's administrators, superusers with full access.
    async fn policy_owner(&self, caller: &Caller, scope: &PolicyScope) -> Result<PolicyOwner, ClientError> {
        match scope {
            PolicyScope::Organization(ns) => match self.administered_namespace(caller, ns).await? {
                Some(a) if AccountKind::parse(&a.kind) == Some(AccountKind::Organization) => {
                    Ok(PolicyOwner::Namespace(a.id))
                }
                _ => Err(ClientError::NotFound(format!("organization {ns} not found"))),
            },
            PolicyScope::Repository(repo) => Ok(PolicyOwner::Repository(
                self.administered_repo(caller, repo).await?,
            )),
        }
    }

    /// The immutability policies of `scope`.
    pub async fn immutability_policies(
        &self,
        caller: &Caller,
        scope: &PolicyScope,
    ) -> Result<Vec<ImmutabilityPolicy>, ClientError> {
        let owner = self.policy_owner(caller, scope).await?;
        Ok(self
            .db
            .immutability_policies(owner)
            .await?
            .into_iter()
            .map(ImmutabilityPolicy::from)
            .collect())
    }

    /// Policy `uuid` of `scope`.
    pub async fn immutability_policy(
        &self,
        caller: &Caller,
        scope: &PolicyScope,
        uuid: &str,
    ) -> Result<ImmutabilityPolicy, ClientError> {
        let owner = self.policy_owner(caller, scope).await?;
        self.db
            .immutability_policies(owner)
            .await?
            .into_iter()
            .find(|p| p.uuid == uuid)
            .map(ImmutabilityPolicy::from)
            .ok_or_else(|| no_policy(uuid))
    }

    /// Create a policy of `scope`: it holds matching tags at once, existing
    /// ones included. Logged as `create_immutability_policy` (and
    /// `tags_made_immutable_by_policy` with how many live tags it newly
    /// holds). Returns its id.
    pub async fn create_immutability_policy(
        &self,
        caller: &Caller,
        scope: &PolicyScope,
        input: &PolicyInput,
    ) -> Result<String, ClientError> {
        let (pattern, compiled) = checked_policy(input)?;
        let owner = self.policy_owner(caller, scope).await?;
        let uuid = uuid::Uuid::new_v4().to_string();
        match self
            .db
            .insert_immutability_policy(owner, &uuid, &pattern, input.tag_pattern_matches)
            .await?
        {
            PolicyWrite::Done => {}
            PolicyWrite::Duplicate => return Err(duplicate(&pattern)),
            PolicyWrite::NotFound => return Err(no_policy(&uuid)),
        }
        self.log(policy_event(
            "create_immutability_policy",
            caller,
            scope,
            &pattern,
            input,
        ))
        .await?;
        self.apply_policy(caller, scope, owner, &pattern, input, &compiled)
            .await?;
        Ok(uuid)
    }

    /// Change policy `uuid` of `scope`; logged as
    /// `update_immutability_policy`.
    pub async fn update_immutability_policy(
        &self,
        caller: &Caller,
        scope: &PolicyScope,
        uuid: &str,
        input: &PolicyInput,
    ) -> Result<(), ClientError> {
        let (pattern, compiled) = checked_policy(input)?;
        let owner = self.policy_owner(caller, scope).await?;
        match self
            .db
            .update_immutability_policy(owner, uuid, &pattern, input.tag_pattern_matches)
            .await?
        {
            PolicyWrite::Done => {}
            PolicyWrite::Duplicate => return Err(duplicate(&pattern)),
            PolicyWrite::NotFound => return Err(no_policy(uuid)),
        }
        self.log(policy_event(
            "update_immutability_policy",
            caller,
            scope,
            &pattern,
            input,
        ))
        .await?;
        self.apply_policy(caller, scope, owner, &pattern, input, &compiled)
            .await
    }

    /// Delete policy `uuid` of `scope`: tags only it held are released at
    /// once. Logged as `delete_immutability_policy`.
    pub async fn delete_immutability_policy(
        &self,
        caller: &Caller,
        scope: &PolicyScope,
        uuid: &str,
    ) -> Result<(), ClientError> {
        let owner = self.policy_owner(caller, scope).await?;
        if !self.db.delete_immutability_policy(owner, uuid).await? {
            return Err(no_policy(uuid));
        }
        let mut metadata = scope_metadata(scope);
        metadata["policy_uuid"] = uuid.into();
        self.log(scope_event("delete_immutability_policy", caller, scope).metadata(metadata))
            .await
    }

    /// Make live tag `tag` immutable (the caller already may write to
    /// `repo`), or release it: releasing takes an administrator of the
    /// repository (or a superuser with full access) and also sets the row
    /// apart from the policies until the tag next moves. Logged as
    /// `change_tag_immutability` when it changed.
    pub(super) async fn change_tag_immutability(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        tag: &TagName,
        immutable: bool,
    ) -> Result<(), ClientError> {
        if !immutable {
            self.identity
                .authorize(&caller.principal, Action::Administer(repo.as_str()))
                .await?;
        }
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        let live = self
            .db
            .live_tag(repo_id, tag.as_str())
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("tag {tag} not found")))?;
        let held = self.tag_policies(repo, repo_id).await?.holds(tag.as_str());
        let was = effective(live.immutable, live.policy_exempt, held);
        if was == immutable {
            return Ok(());
        }
        let exempt = !immutable && held;
        if !self
            .db
            .set_tag_immutability(repo_id, live.id, immutable, exempt)
            .await?
        {
            return Err(ClientError::Invalid(
                "Could not update tag immutability; Tag has probably changed".into(),
            ));
        }
        self.log(super::tags::tag_event(
            "change_tag_immutability",
            caller,
            repo,
            tag,
            serde_json::json!({ "immutable": immutable, "old_immutable": was }),
        ))
        .await
    }

    /// What a new or changed policy does to the live tags it now holds:
    /// their planned expiries are cancelled (an immutable tag never
    /// expires) and earlier releases by an administrator lapse, as Quay
    /// marks such tags immutable again. Logs how many it newly holds.
    async fn apply_policy(
        &self,
        caller: &Caller,
        scope: &PolicyScope,
        owner: PolicyOwner,
        pattern: &str,
        input: &PolicyInput,
        compiled: &Regex,
    ) -> Result<(), ClientError> {
        let policy = Compiled {
            regex: compiled.clone(),
            matches: input.tag_pattern_matches,
        };
        let held: Vec<_> = self
            .db
            .live_tags_under(owner)
            .await?
            .into_iter()
            .filter(|t| policy.holds(&t.name))
            .collect();
        let adjust: Vec<i64> = held
            .iter()
            .filter(|t| t.expiring || t.policy_exempt)
            .map(|t| t.id)
            .collect();
        self.db.subject_tags_to_policy(&adjust).await?;
        let count = held.iter().filter(|t| !t.immutable).count();
        if count == 0 {
            return Ok(());
        }
        let mut metadata = policy_metadata(scope, pattern, input);
        metadata["count"] = count.into();
        self.log(scope_event("tags_made_immutable_by_policy", caller, scope).metadata(metadata))
            .await
    }
}

/// The trimmed pattern (as Quay stores it) and its compiled form, or 400.
fn checked_policy(input: &PolicyInput) -> Result<(String, Regex), ClientError> {
    let pattern = input.tag_pattern.trim().to_owned();
    let compiled = compile_tag_pattern(&pattern).map_err(ClientError::Invalid)?;
    Ok((pattern, compiled))
}

fn no_policy(uuid: &str) -> ClientError {
    ClientError::NotFound(format!("immutability policy {uuid} not found"))
}

fn duplicate(pattern: &str) -> ClientError {
    ClientError::Invalid(format!(
        "A policy with the same tagPattern {pattern:?} already exists"
    ))
}

/// Quay's metadata naming a policy's owner.
fn scope_metadata(scope: &PolicyScope) -> serde_json::Value {
    match scope {
        PolicyScope::Organization(ns) => serde_json::json!({ "namespace": ns.as_str() }),
        PolicyScope::Repository(r) => serde_json::json!({ "namespace": r.namespace(), "repo": r.short() }),
    }
}

fn policy_metadata(scope: &PolicyScope, pattern: &str, input: &PolicyInput) -> serde_json::Value {
    let mut metadata = scope_metadata(scope);
    metadata["tag_pattern"] = pattern.into();
    metadata["tag_pattern_matches"] = input.tag_pattern_matches.into();
    metadata
}

fn scope_event(kind: &'static str, caller: &Caller, scope: &PolicyScope) -> AuditEvent {
    let event = AuditEvent::by(kind, caller);
    match scope {
        PolicyScope::Organization(ns) => event.namespace(ns.as_str()),
        PolicyScope::Repository(r) => event.repository(r.as_str()),
    }
}

fn policy_event(
    kind: &'static str,
    caller: &Caller,
    scope: &PolicyScope,
    pattern: &str,
    input: &PolicyInput,
) -> AuditEvent {
    scope_event(kind, caller, scope).metadata(policy_metadata(scope, pattern, input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_at_the_start_like_quay() {
        let p = compile_tag_pattern("v[0-9]+").unwrap();
        assert!(p.is_match("v1"));
        assert!(p.is_match("v12-rc"));
        assert!(!p.is_match("latest-v1"));
        let anchored = compile_tag_pattern("^release-.*$").unwrap();
        assert!(anchored.is_match("release-1"));
        assert!(!anchored.is_match("pre-release-1"));
        // Alternation stays inside the start anchor.
        let alt = compile_tag_pattern("a|b").unwrap();
        assert!(!alt.is_match("cb"));
    }

    #[test]
    fn bad_patterns_are_refused_with_their_reason() {
        let err = compile_tag_pattern("v[0-9").unwrap_err();
        assert!(err.contains("v[0-9"), "{err}");
        assert!(compile_tag_pattern("").is_err());
        assert!(compile_tag_pattern("v\0").is_err());
        let long = "a".repeat(MAX_TAG_PATTERN_CHARS + 1);
        assert!(compile_tag_pattern(&long).unwrap_err().contains("256"));
        // Within the length limit but far over the compiled size limit.
        let huge = "(?:[a-z]{1,100}){1,100}".repeat(2);
        assert!(compile_tag_pattern(&huge).is_err());
        // Patterns that backtrack catastrophically elsewhere run in linear
        // time here.
        let evil = compile_tag_pattern("(a+)+$").unwrap();
        assert!(!evil.is_match(&format!("{}!", "a".repeat(10_000))));
    }

    #[test]
    fn inverted_policies_hold_the_tags_that_do_not_match() {
        let c = Compiled {
            regex: compile_tag_pattern("dev-").unwrap(),
            matches: false,
        };
        assert!(c.holds("v1"));
        assert!(!c.holds("dev-1"));
        assert!(effective(true, true, false));
        assert!(effective(false, false, true));
        assert!(!effective(false, true, true));
    }
}
