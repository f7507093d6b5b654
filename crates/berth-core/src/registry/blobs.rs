//! Reading and unlinking blobs of a repository.

use crate::RepositoryName;
use std::ops::Range;

use berth_oci::Digest;
use berth_store::{ByteStream, StoredBlob};

use super::{Registry, RegistryError};

/// A blob known to be linked to the repository it was opened in; only
/// [`Registry::open_blob`] makes one, so reads always pass the link check.
#[derive(Debug, Clone)]
pub struct LinkedBlob {
    stored: StoredBlob,
    size: u64,
}

impl LinkedBlob {
    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.stored.digest
    }

    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Registry {
    /// Look up a blob linked to the repository.
    pub async fn open_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<LinkedBlob, RegistryError> {
        let key = digest.to_string();
        let row = self.db.linked_blob(repo.as_str(), &key).await?;
        let row = row.ok_or(RegistryError::BlobUnknown)?;
        // A client checking a blob before pushing a manifest that uses it
        // skips the upload: keep the link for at least half a grace period
        // more (a write only every half period per link). If garbage
        // collection removed it meanwhile, the blob is unknown after all.
        let grace = i64::try_from(self.config.gc.push_grace.as_millis()).unwrap_or(i64::MAX);
        if grace > 0
            && berth_store::now_ms().saturating_sub(row.linked_ms) > grace / 2
            && !self.db.touch_blob_link(repo.as_str(), &key).await?
        {
            return Err(RegistryError::BlobUnknown);
        }
        Ok(LinkedBlob {
            stored: StoredBlob {
                digest: digest.clone(),
                key: row.location,
            },
            size: row.size as u64,
        })
    }

    /// A presigned URL to send the client to instead of streaming the blob,
    /// when redirects are configured and the store can sign one.
    pub async fn blob_redirect(&self, blob: &LinkedBlob) -> Result<Option<String>, RegistryError> {
        match self.config.blob_redirect {
            Some(expires_in) => {
                let url = self.blobs.presigned_url(&blob.stored, expires_in).await?;
                if url.is_some() {
                    crate::metrics::pulled_bytes(blob.size);
                }
                Ok(url)
            }
            None => Ok(None),
        }
    }

    /// Stream an opened blob, whole or one byte range.
    pub async fn read_blob(
        &self,
        blob: &LinkedBlob,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, RegistryError> {
        match self.blobs.read(&blob.stored, range).await {
            Err(berth_store::StoreError::NotFound) => Err(RegistryError::BlobUnknown),
            other => Ok(other?),
        }
    }

    /// Stream an opened blob, whole or one byte range, to a client: a
    /// [`Registry::read_blob`] counted as pulled bytes (when the read
    /// starts: an estimate, as in Quay). Reads of the registry's own (the
    /// indexer's) are not pulls.
    pub async fn pull_blob(
        &self,
        blob: &LinkedBlob,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, RegistryError> {
        let len = range
            .as_ref()
            .map_or(blob.size, |r| r.end.saturating_sub(r.start));
        let stream = self.read_blob(blob, range).await?;
        crate::metrics::pulled_bytes(len);
        Ok(stream)
    }

    /// Unlink a blob from the repository (its bytes stay while other
    /// repositories use them; garbage collection reclaims the rest).
    pub async fn delete_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<(), RegistryError> {
        let repo_id = self
            .existing_repo(repo)
            .await?
            .ok_or(RegistryError::BlobUnknown)?;
        if self.db.unlink_blob(repo_id, &digest.to_string()).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown)
        }
    }
}
