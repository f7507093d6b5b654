//! Repository states, as Quay has them: `NORMAL` takes every write,
//! `READ_ONLY` none, `MIRROR` only what its mirror's robot writes. Every
//! write to a repository's content (a push, a tag deleted or changed
//! through either API) asks [`Registry::check_writable`], whose answer is
//! the pure [`decide_write`]. Background pruning skips repositories that
//! are not `NORMAL`.

use super::{ClientError, Registry, RegistryError};
use crate::Caller;
use crate::identity::{Action, Actor, AuditEvent, Principal};
use crate::names::RepositoryName;

/// A repository's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepositoryState {
    /// Every write its permissions allow.
    #[default]
    Normal,
    /// Pulls only, whatever the permissions.
    ReadOnly,
    /// Pulls; writes only by the repository's mirror robot.
    Mirror,
}

impl RepositoryState {
    /// Quay's name (`NORMAL`, `READ_ONLY`, `MIRROR`), also the stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RepositoryState::Normal => "NORMAL",
            RepositoryState::ReadOnly => "READ_ONLY",
            RepositoryState::Mirror => "MIRROR",
        }
    }

    /// The state named `name`, if it is one.
    pub fn parse(name: &str) -> Option<RepositoryState> {
        match name {
            "NORMAL" => Some(RepositoryState::Normal),
            "READ_ONLY" => Some(RepositoryState::ReadOnly),
            "MIRROR" => Some(RepositoryState::Mirror),
            _ => None,
        }
    }

    /// The stored state; an unknown one (a newer version's) is read-only,
    /// so nothing is written where the state is not understood.
    pub(crate) fn stored(name: &str) -> RepositoryState {
        RepositoryState::parse(name).unwrap_or(RepositoryState::ReadOnly)
    }
}

/// Who may write to a mirrored repository besides nobody: its mirror's
/// robot, once the repository has a mirror configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorWriter {
    /// No mirror is configured: nobody writes.
    Unconfigured,
    /// This robot account (by id) writes what it mirrors.
    Robot(i64),
}

/// Whether a write may go ahead in a repository's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteDecision {
    /// Go ahead (the permissions were checked already).
    Allowed,
    /// The repository is read-only.
    ReadOnly,
    /// The repository is a mirror and the writer is not its robot.
    Mirror,
}

/// The decision for `principal` writing to a repository in `state`, whose
/// mirror writer is `mirror`.
pub fn decide_write(state: RepositoryState, mirror: MirrorWriter, principal: &Principal) -> WriteDecision {
    match state {
        RepositoryState::Normal => WriteDecision::Allowed,
        RepositoryState::ReadOnly => WriteDecision::ReadOnly,
        RepositoryState::Mirror => match (mirror, &principal.actor) {
            (MirrorWriter::Robot(id), Actor::Robot(robot)) if robot.id == id => WriteDecision::Allowed,
            _ => WriteDecision::Mirror,
        },
    }
}

impl Registry {
    /// The state of repository `repo` (`NORMAL` if it does not exist yet:
    /// a first push creates it so).
    pub async fn repository_state(&self, repo: &RepositoryName) -> Result<RepositoryState, RegistryError> {
        Ok(self
            .db
            .repository_state(repo.as_str())
            .await?
            .map(|(_, s)| RepositoryState::stored(&s))
            .unwrap_or_default())
    }

    /// Refuse a write by `principal` to `repo` unless its state allows it.
    /// The permissions are checked elsewhere, before.
    pub async fn check_writable(
        &self,
        principal: &Principal,
        repo: &RepositoryName,
    ) -> Result<(), RegistryError> {
        if repo.as_str().contains('/') && self.is_proxy_namespace(repo.namespace()).await? {
            return Err(RegistryError::ProxyCacheNamespace(repo.namespace().to_owned()));
        }
        let Some((id, state)) = self.db.repository_state(repo.as_str()).await? else {
            return Ok(());
        };
        let state = RepositoryState::stored(&state);
        if state == RepositoryState::Normal {
            return Ok(());
        }
        let mirror = match self.db.mirror_robot(id).await? {
            Some(robot) => MirrorWriter::Robot(robot),
            None => MirrorWriter::Unconfigured,
        };
        match decide_write(state, mirror, principal) {
            WriteDecision::Allowed => Ok(()),
            WriteDecision::ReadOnly => Err(RegistryError::RepositoryReadOnly(repo.as_str().to_owned())),
            WriteDecision::Mirror => Err(RegistryError::RepositoryMirror(repo.as_str().to_owned())),
        }
    }

    /// Set the state of `repo` (its administrators may); logged as
    /// `change_repo_state`.
    pub async fn change_repository_state(
        &self,
        caller: &Caller,
        repo: &RepositoryName,
        state: RepositoryState,
    ) -> Result<(), ClientError> {
        self.identity
            .authorize(&caller.principal, Action::Administer(repo.as_str()))
            .await?;
        let (id, _) = self
            .db
            .repository_state(repo.as_str())
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("repository {repo} not found")))?;
        if !self.db.set_repository_state(id, state.as_str()).await? {
            return Err(ClientError::NotFound(format!("repository {repo} not found")));
        }
        self.log(
            AuditEvent::by("change_repo_state", caller)
                .repository(repo.as_str())
                .metadata(serde_json::json!({
                    "repo": repo.short(),
                    "namespace": repo.namespace(),
                    "state_changed": state.as_str(),
                })),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{AccountRef, Credential};

    fn robot(id: i64) -> Principal {
        Principal {
            actor: Actor::Robot(AccountRef {
                id,
                name: "org+mirror".into(),
                super_user: false,
            }),
            credential: Credential::None,
        }
    }

    #[test]
    fn states_decide_writes() {
        let user = Principal::anonymous();
        assert_eq!(
            decide_write(RepositoryState::Normal, MirrorWriter::Unconfigured, &user),
            WriteDecision::Allowed
        );
        assert_eq!(
            decide_write(RepositoryState::ReadOnly, MirrorWriter::Robot(7), &robot(7)),
            WriteDecision::ReadOnly
        );
        assert_eq!(
            decide_write(RepositoryState::Mirror, MirrorWriter::Unconfigured, &robot(7)),
            WriteDecision::Mirror
        );
        assert_eq!(
            decide_write(RepositoryState::Mirror, MirrorWriter::Robot(7), &robot(7)),
            WriteDecision::Allowed
        );
        assert_eq!(
            decide_write(RepositoryState::Mirror, MirrorWriter::Robot(7), &robot(8)),
            WriteDecision::Mirror
        );
        for s in [
            RepositoryState::Normal,
            RepositoryState::ReadOnly,
            RepositoryState::Mirror,
        ] {
            assert_eq!(RepositoryState::parse(s.as_str()), Some(s));
        }
        assert_eq!(RepositoryState::parse("ORG_MIRROR"), None);
        assert_eq!(RepositoryState::stored("MARKED"), RepositoryState::ReadOnly);
    }
}
