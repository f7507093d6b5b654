//! Blob uploads: monolithic, chunked and resumable, and cross-repository
//! mounts. A blob becomes visible only after its digest is verified and its
//! bytes are durably stored. Every staged upload has a session row first
//! (monolithic ones too), so staged bytes are always found and cleaned up.

use crate::RepositoryName;
use berth_oci::{Algorithm, Digest, Hasher};
use berth_store::metadata::CommitBlob;
use berth_store::{Appended, ByteStream, StoreError, StoredBlob};
use futures_util::StreamExt;

use super::sessions::{Session, SessionCheckpoint, from_store, new_token};
use super::{Registry, RegistryError};

/// Where an upload session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    /// Session id.
    pub id: String,
    /// Bytes received so far.
    pub offset: u64,
}

/// A chunk's declared position, from `Content-Range` / `Content-Length`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobRange {
    /// First byte offset, if the client declared one.
    pub start: Option<u64>,
    /// Length the client declared, if any.
    pub length: Option<u64>,
}

/// Feed every chunk of `body` through `hasher` as it streams past, noting
/// in `unreadable` why the body itself failed, if it did.
fn hashing<'a>(
    body: ByteStream<'a>,
    hasher: &'a mut Hasher,
    unreadable: &'a mut Option<String>,
) -> ByteStream<'a> {
    body.map(move |chunk| {
        match &chunk {
            Ok(bytes) => hasher.update(bytes),
            Err(e) => *unreadable = Some(e.to_string()),
        }
        chunk
    })
    .boxed()
}

/// What streaming a body into the store came to: if the body itself failed,
/// the client is at fault, whatever the store made of the failure.
fn blame_body<T>(result: Result<T, RegistryError>, unreadable: Option<String>) -> Result<T, RegistryError> {
    match (result, unreadable) {
        (Err(_), Some(why)) => Err(RegistryError::BodyUnreadable(why)),
        (result, _) => result,
    }
}

impl Registry {
    /// Open an upload session in `repo` hashing with `algorithm`.
    pub async fn start_upload(
        &self,
        repo: &RepositoryName,
        algorithm: Algorithm,
    ) -> Result<UploadStatus, RegistryError> {
        let repo_id = self.repo_for_push(repo).await?;
        // Quota: refused at upload start when the namespace is full.
        self.check_quota(repo.as_str(), &[]).await?;
        let id = new_token();
        self.db
            .create_upload(
                &id,
                repo_id,
                algorithm.as_str(),
                &Hasher::new(algorithm).save(),
                self.expiry_ms(),
                None,
            )
            .await?;
        Ok(UploadStatus { id, offset: 0 })
    }

    /// Upload a whole blob in one request, verified against `digest`.
    pub async fn upload_monolithic(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        declared: BlobRange,
        body: ByteStream<'_>,
    ) -> Result<(), RegistryError> {
        let repo_id = self.repo_for_push(repo).await?;
        // Quota: refused at upload start when the namespace is full.
        self.check_quota(repo.as_str(), &[]).await?;
        let id = new_token();
        let token = new_token();
        let mut hasher = Hasher::new(digest.algorithm());
        // Expires at once: as soon as this request's lease lapses (it died),
        // the cleanup worker may remove what it staged.
        self.db
            .create_upload(
                &id,
                repo_id,
                digest.algorithm().as_str(),
                &hasher.save(),
                0,
                Some(self.lease(&token)),
            )
            .await?;
        let checkpoint = SessionCheckpoint {
            db: &self.db,
            id: &id,
            token: &token,
        };
        let mut unreadable = None;
        let received = async {
            let append = self.blobs.append(
                &id,
                0,
                &[],
                hashing(body, &mut hasher, &mut unreadable),
                &checkpoint,
            );
            let appended = self.while_leased(&id, &token, append).await;
            let appended = blame_body(appended, unreadable)?;
            check_length(declared, appended.written)?;
            check_digest(&hasher.finish(), digest)?;
            Ok(appended)
        }
        .await;
        match received {
            Ok(appended) => {
                self.commit(repo_id, &id, &appended.state, appended.written, digest, false)
                    .await
            }
            Err(e) => {
                self.discard_failed(&id).await;
                Err(e)
            }
        }
    }

    /// Link `digest` from repository `from` into `repo`. Returns `false` when
    /// the blob is not there to mount (the caller then opens a session).
    pub async fn mount_blob(
        &self,
        repo: &RepositoryName,
        from: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let Some(from_id) = self.db.repository_id(from.as_str()).await? else {
            return Ok(false);
        };
        let repo_id = self.repo_for_push(repo).await?;
        // Quota: a mount starts an upload too.
        self.check_quota(repo.as_str(), &[]).await?;
        Ok(self
            .db
            .mount_blob(repo_id, from_id, &digest.to_string())
            .await?
            .is_some())
    }

    /// Append a chunk to a session. Returns the new offset.
    pub async fn upload_chunk(
        &self,
        repo: &RepositoryName,
        id: &str,
        declared: BlobRange,
        body: ByteStream<'_>,
    ) -> Result<UploadStatus, RegistryError> {
        let mut session = self.claim_session(repo, id).await?;
        match self.append_chunk(&mut session, declared, body).await {
            Ok(()) => Ok(UploadStatus {
                id: id.to_owned(),
                offset: session.row.size as u64,
            }),
            Err(e) => {
                self.release(id, &session.token).await;
                Err(e)
            }
        }
    }

    /// Finish a session, optionally with a last chunk, verifying `digest`.
    pub async fn finish_upload(
        &self,
        repo: &RepositoryName,
        id: &str,
        digest: &Digest,
        declared: BlobRange,
        body: Option<ByteStream<'_>>,
    ) -> Result<(), RegistryError> {
        let session = self.claim_session(repo, id).await?;
        let finished = self.finish_claimed(&session, digest, declared, body).await;
        if finished.is_err() {
            // No-op if the session was discarded.
            self.release(id, &session.token).await;
        }
        finished
    }

    /// Where a session stands.
    pub async fn upload_status(
        &self,
        repo: &RepositoryName,
        id: &str,
    ) -> Result<UploadStatus, RegistryError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::BlobUploadUnknown)?;
        let session = self
            .db
            .upload(id)
            .await?
            .filter(|s| s.repository_id == repo_id)
            .ok_or(RegistryError::BlobUploadUnknown)?;
        Ok(UploadStatus {
            id: id.to_owned(),
            offset: session.size as u64,
        })
    }

    /// Cancel a session and drop its bytes.
    pub async fn cancel_upload(&self, repo: &RepositoryName, id: &str) -> Result<(), RegistryError> {
        let session = self.claim_session(repo, id).await?;
        let discarded = self.discard(id, &session.row.store_state).await;
        if discarded.is_err() {
            self.release(id, &session.token).await;
        }
        discarded
    }

    /// Stream one chunk into the store at the session's offset, hashing it
    /// into a copy of the session's hasher. Records nothing.
    async fn receive_chunk(
        &self,
        session: &Session,
        declared: BlobRange,
        body: ByteStream<'_>,
    ) -> Result<(Appended, Hasher), RegistryError> {
        let current = session.row.size as u64;
        if declared.start.is_some_and(|start| start != current) {
            return Err(RegistryError::RangeNotSatisfiable { current });
        }
        let mut attempt = session.hasher.clone();
        let mut unreadable = None;
        let checkpoint = SessionCheckpoint {
            db: &self.db,
            id: &session.id,
            token: &session.token,
        };
        let append = self.blobs.append(
            &session.id,
            current,
            &session.row.store_state,
            hashing(body, &mut attempt, &mut unreadable),
            &checkpoint,
        );
        let appended = self.while_leased(&session.id, &session.token, append).await;
        let appended = blame_body(appended, unreadable)?;
        check_length(declared, appended.written)?;
        Ok((appended, attempt))
    }

    /// Append one chunk and record the new offset and states, releasing the
    /// lease. Nothing is recorded if the chunk fails midway.
    async fn append_chunk(
        &self,
        session: &mut Session,
        declared: BlobRange,
        body: ByteStream<'_>,
    ) -> Result<(), RegistryError> {
        let (appended, hasher) = self.receive_chunk(session, declared, body).await?;
        let old_size = session.row.size;
        let new_size = old_size + appended.written as i64;
        let advanced = self
            .db
            .advance_upload(
                &session.id,
                &session.token,
                old_size,
                new_size,
                &hasher.save(),
                &appended.state,
                self.expiry_ms(),
            )
            .await?;
        if !advanced {
            return Err(RegistryError::UploadBusy);
        }
        if let Err(e) = self
            .blobs
            .superseded(&session.id, &session.row.store_state, &appended.state)
            .await
        {
            tracing::warn!(upload = %session.id, error = %e, "cannot release superseded staging data");
        }
        session.row.size = new_size;
        session.row.store_state = appended.state;
        session.hasher = hasher;
        Ok(())
    }

    /// Append the last chunk if any, verify and commit.
    async fn finish_claimed(
        &self,
        session: &Session,
        digest: &Digest,
        declared: BlobRange,
        body: Option<ByteStream<'_>>,
    ) -> Result<(), RegistryError> {
        let (size, state, hasher) = match body {
            Some(body) => {
                let (appended, hasher) = self.receive_chunk(session, declared, body).await?;
                (session.row.size as u64 + appended.written, appended.state, hasher)
            }
            None => (
                session.row.size as u64,
                session.row.store_state.clone(),
                session.hasher.clone(),
            ),
        };
        // A session that hashed with another algorithm has the store re-read
        // its bytes while committing.
        let verify = hasher.algorithm() != digest.algorithm();
        if !verify && let Err(e) = check_digest(&hasher.finish(), digest) {
            self.discard(&session.id, &state).await?;
            return Err(e);
        }
        self.commit(
            session.row.repository_id,
            &session.id,
            &state,
            size,
            digest,
            verify,
        )
        .await
    }

    /// After a failed monolithic upload: drop what it staged (as far as the
    /// session row knows) and the row. Failures are left to the cleanup
    /// worker.
    async fn discard_failed(&self, id: &str) {
        let state = match self.db.upload(id).await {
            Ok(row) => row.map(|r| r.store_state).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        if let Err(e) = self.discard(id, &state).await {
            tracing::warn!(upload = id, error = %e, "cannot discard a failed upload; the cleanup worker will");
        }
    }

    /// Store verified bytes as `digest`, make the blob visible and close
    /// session `id`. The digest is pinned from before the stored row is
    /// looked at until the row is committed, so garbage collection cannot
    /// delete the object this commit writes or relies on.
    async fn commit(
        &self,
        repo_id: i64,
        id: &str,
        state: &[u8],
        size: u64,
        digest: &Digest,
        verify: bool,
    ) -> Result<(), RegistryError> {
        let key = digest.to_string();
        let pin = self.pin_blob(&key).await?;
        let work = async {
            let existing = self.db.blob(&key).await?;
            let present = match &existing {
                Some(row) => {
                    let stored = StoredBlob {
                        digest: digest.clone(),
                        key: row.location.clone(),
                    };
                    self.blobs.stat(&stored).await?.is_some()
                }
                None => false,
            };
            if present && !verify {
                // Known content, verified by its hash: keep the stored copy.
                self.blobs.abort(id, state).await?;
                let location = existing.as_ref().and_then(|r| r.location.as_deref());
                self.db
                    .commit_blob(&CommitBlob {
                        repository_id: repo_id,
                        digest: &key,
                        size: size as i64,
                        location,
                        upload: Some(id),
                        replace: false,
                        pin: &pin.token,
                    })
                    .await
                    .map_err(from_store)?;
                return Ok(());
            }
            let stored = match self.blobs.commit(id, size, state, digest, verify).await {
                Ok(stored) => stored,
                Err(StoreError::DigestMismatch(actual)) => {
                    self.discard(id, state).await?;
                    return Err(RegistryError::DigestInvalid(format!(
                        "content has digest {actual}, not {digest}"
                    )));
                }
                Err(e) => return Err(from_store(e)),
            };
            let recorded = self
                .db
                .commit_blob(&CommitBlob {
                    repository_id: repo_id,
                    digest: &key,
                    size: size as i64,
                    location: stored.key.as_deref(),
                    upload: Some(id),
                    // The row's bytes are gone: ours take their place.
                    replace: existing.is_some() && !present,
                    pin: &pin.token,
                })
                .await
                .map_err(from_store)?;
            if !recorded && stored.key.is_some() {
                // A concurrent upload of the same content was recorded
                // first; this copy is a duplicate under a key of its own
                // (also queued for garbage collection, should this fail).
                if let Err(e) = self.blobs.delete(&stored).await {
                    tracing::warn!(%digest, error = %e, "cannot delete a duplicate blob copy");
                }
            }
            Ok(())
        };
        let committed = self.while_pinned(&pin, work).await;
        match committed {
            Ok(()) => crate::metrics::pushed_bytes(size),
            Err(_) => self.unpin_blob(&pin).await,
        }
        committed
    }
}

fn check_length(declared: BlobRange, written: u64) -> Result<(), RegistryError> {
    match declared.length {
        Some(len) if len != written => Err(RegistryError::SizeInvalid(format!(
            "declared {len} bytes but received {written}"
        ))),
        _ => Ok(()),
    }
}

fn check_digest(actual: &Digest, expected: &Digest) -> Result<(), RegistryError> {
    if actual == expected {
        Ok(())
    } else {
        Err(RegistryError::DigestInvalid(format!(
            "content has digest {actual}, not {expected}"
        )))
    }
}
