//! Blob uploads: monolithic, chunked and resumable, and cross-repository
//! mounts. A blob becomes visible only after its digest is verified and its
//! bytes are durably stored.

use berth_oci::{Algorithm, Digest, Hasher, validate_repository};
use berth_store::ByteStream;
use futures_util::StreamExt;

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

/// Feed every chunk of `body` through `hasher` as it streams past.
fn hashing<'a>(body: ByteStream<'a>, hasher: &'a mut Hasher) -> ByteStream<'a> {
    body.map(move |chunk| {
        if let Ok(bytes) = &chunk {
            hasher.update(bytes);
        }
        chunk
    })
    .boxed()
}

fn new_upload_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Registry {
    /// Open an upload session in `repo` hashing with `algorithm`.
    pub async fn start_upload(
        &self,
        repo: &str,
        algorithm: Algorithm,
    ) -> Result<UploadStatus, RegistryError> {
        let repo_id = self.repo_for_push(repo).await?;
        let id = new_upload_id();
        self.db
            .create_upload(&id, repo_id, algorithm.as_str(), &Hasher::new(algorithm).save())
            .await?;
        Ok(UploadStatus { id, offset: 0 })
    }

    /// Upload a whole blob in one request, verified against `digest`.
    pub async fn upload_monolithic(
        &self,
        repo: &str,
        digest: &Digest,
        declared: BlobRange,
        body: ByteStream<'_>,
    ) -> Result<(), RegistryError> {
        let repo_id = self.repo_for_push(repo).await?;
        let id = new_upload_id();
        let mut hasher = Hasher::new(digest.algorithm());
        let written = match self.blobs.append(&id, 0, hashing(body, &mut hasher)).await {
            Ok(n) => n,
            Err(e) => {
                self.blobs.abort(&id).await?;
                return Err(e.into());
            }
        };
        let outcome = check_length(declared, written).and_then(|()| check_digest(&hasher.finish(), digest));
        if let Err(e) = outcome {
            self.blobs.abort(&id).await?;
            return Err(e);
        }
        self.commit(repo_id, &id, written, digest, false).await
    }

    /// Link `digest` from repository `from` into `repo`. Returns `false` when
    /// the blob is not there to mount (the caller then opens a session).
    pub async fn mount_blob(&self, repo: &str, from: &str, digest: &Digest) -> Result<bool, RegistryError> {
        validate_repository(from)?;
        let Some(from_id) = self.db.repository_id(from).await? else {
            return Ok(false);
        };
        let repo_id = self.repo_for_push(repo).await?;
        Ok(self
            .db
            .mount_blob(repo_id, from_id, &digest.to_string())
            .await?
            .is_some())
    }

    /// Append a chunk to a session. Returns the new offset.
    pub async fn upload_chunk(
        &self,
        repo: &str,
        id: &str,
        declared: BlobRange,
        body: ByteStream<'_>,
    ) -> Result<UploadStatus, RegistryError> {
        let _guard = self.locks.lock(id).await;
        let (session, hasher) = self.session(repo, id).await?;
        let (offset, hasher) = self
            .write_chunk(id, session.size, &hasher, declared, body)
            .await?;
        if !self
            .db
            .advance_upload(id, session.size, offset, &hasher.save())
            .await?
        {
            return Err(RegistryError::BlobUploadUnknown);
        }
        Ok(UploadStatus {
            id: id.to_owned(),
            offset: offset as u64,
        })
    }

    /// Finish a session, optionally with a last chunk, verifying `digest`.
    pub async fn finish_upload(
        &self,
        repo: &str,
        id: &str,
        digest: &Digest,
        declared: BlobRange,
        body: Option<ByteStream<'_>>,
    ) -> Result<(), RegistryError> {
        let _guard = self.locks.lock(id).await;
        let (session, mut hasher) = self.session(repo, id).await?;
        let mut size = session.size;
        if let Some(body) = body {
            // Not recorded in the session: the commit below ends it, and if
            // the commit fails the stray bytes are dropped by the next append.
            (size, hasher) = self.write_chunk(id, size, &hasher, declared, body).await?;
        }
        let actual = if hasher.algorithm() == digest.algorithm() {
            hasher.finish()
        } else {
            // The session hashed with another algorithm: read the bytes back.
            self.rehash(id, size, digest.algorithm()).await?
        };
        if let Err(e) = check_digest(&actual, digest) {
            self.db.delete_upload(id).await?;
            self.blobs.abort(id).await?;
            return Err(e);
        }
        self.commit(session.repository_id, id, size as u64, digest, true)
            .await
    }

    /// Where a session stands.
    pub async fn upload_status(&self, repo: &str, id: &str) -> Result<UploadStatus, RegistryError> {
        let (session, _) = self.session(repo, id).await?;
        Ok(UploadStatus {
            id: id.to_owned(),
            offset: session.size as u64,
        })
    }

    /// Cancel a session and drop its bytes.
    pub async fn cancel_upload(&self, repo: &str, id: &str) -> Result<(), RegistryError> {
        let _guard = self.locks.lock(id).await;
        self.session(repo, id).await?;
        self.db.delete_upload(id).await?;
        self.blobs.abort(id).await?;
        Ok(())
    }

    async fn session(
        &self,
        repo: &str,
        id: &str,
    ) -> Result<(berth_store::metadata::UploadRow, Hasher), RegistryError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::BlobUploadUnknown)?;
        let session = self
            .db
            .upload(id)
            .await?
            .ok_or(RegistryError::BlobUploadUnknown)?;
        if session.repository_id != repo_id {
            return Err(RegistryError::BlobUploadUnknown);
        }
        let algorithm: Algorithm = session.algorithm.parse()?;
        let hasher = Hasher::restore(algorithm, &session.hash_state)
            .map_err(|e| RegistryError::Internal(berth_store::StoreError::Corrupt(e.to_string())))?;
        Ok((session, hasher))
    }

    /// Append one chunk at the session's offset and record the new offset
    /// Append one chunk at the session's offset. Returns the new offset and
    /// the hash state after it; the caller decides whether to record them.
    async fn write_chunk(
        &self,
        id: &str,
        offset: i64,
        hasher: &Hasher,
        declared: BlobRange,
        body: ByteStream<'_>,
    ) -> Result<(i64, Hasher), RegistryError> {
        let current = offset as u64;
        if declared.start.is_some_and(|start| start != current) {
            return Err(RegistryError::RangeNotSatisfiable { current });
        }
        let mut attempt = hasher.clone();
        let written = self
            .blobs
            .append(id, current, hashing(body, &mut attempt))
            .await?;
        check_length(declared, written)?;
        Ok((offset + written as i64, attempt))
    }

    async fn rehash(&self, id: &str, size: i64, algorithm: Algorithm) -> Result<Digest, RegistryError> {
        let mut stream = self.blobs.read_upload(id, size as u64).await?;
        let mut hasher = Hasher::new(algorithm);
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk.map_err(berth_store::StoreError::from)?);
        }
        Ok(hasher.finish())
    }

    /// Store verified bytes as `digest` and make the blob visible.
    async fn commit(
        &self,
        repo_id: i64,
        id: &str,
        size: u64,
        digest: &Digest,
        session: bool,
    ) -> Result<(), RegistryError> {
        let key = digest.to_string();
        let known = self.db.blob_size(&key).await?.is_some() && self.blobs.stat(digest).await?.is_some();
        if known {
            self.blobs.abort(id).await?;
        } else {
            self.blobs.commit(id, size, digest).await?;
        }
        self.db
            .commit_blob(repo_id, &key, size as i64, session.then_some(id))
            .await?;
        Ok(())
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
