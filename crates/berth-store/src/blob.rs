//! Blob bytes. [`BlobStore`] is the small interface the registry needs:
//! read committed blobs, and stage uploads that become visible only once
//! their digest is verified and they are durably stored.
//!
//! A staged upload may span many requests on many instances, so a store
//! keeps nothing about it in memory: what it needs to continue (e.g. an S3
//! multipart upload id and its parts) is an opaque state the caller stores
//! with the upload session and hands back on every call.

mod local;
mod s3;

use std::io;
use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use berth_oci::{Digest, Hasher};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

pub use local::LocalBlobStore;
pub use s3::{S3BlobStore, S3Settings};

use crate::StoreError;

/// A stream of blob bytes.
pub type ByteStream<'a> = BoxStream<'a, io::Result<Bytes>>;

/// Where a committed blob's bytes are: under the digest's own
/// content-addressed key, or under an object key recorded at commit (stores
/// that cannot rename assemble large uploads at a key of their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// The blob's digest.
    pub digest: Digest,
    /// Object key relative to the store's root, when not [`canonical_key`].
    pub key: Option<String>,
}

impl StoredBlob {
    /// The object key holding the bytes.
    pub fn object_key(&self) -> String {
        self.key.clone().unwrap_or_else(|| canonical_key(&self.digest))
    }
}

/// The content-addressed key of a blob: `blobs/<alg>/<hex[0..2]>/<hex>`.
pub fn canonical_key(digest: &Digest) -> String {
    let hex = digest.hex();
    format!("blobs/{}/{}/{}", digest.algorithm().as_str(), &hex[..2], hex)
}

/// What an append did: bytes accepted and the store's new upload state.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Bytes taken from the body.
    pub written: u64,
    /// State describing the staged bytes up to the new offset; the caller
    /// persists it with the session only once the whole chunk landed.
    pub state: Vec<u8>,
}

/// Persists a store's upload state with the session mid-append, before the
/// store creates something that must be cleaned up if this process dies
/// (e.g. an S3 multipart upload). The saved state still describes exactly
/// the bytes the session held when the append began.
#[async_trait]
pub trait Checkpoint: Send + Sync {
    /// Save `state` with the session, or fail if the session is no longer
    /// this request's to change.
    async fn save(&self, state: &[u8]) -> Result<(), StoreError>;
}

/// Where blob bytes live: a local directory or an S3-compatible bucket.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Size of a committed blob, or `None` if absent.
    async fn stat(&self, blob: &StoredBlob) -> Result<Option<u64>, StoreError>;

    /// Stream a committed blob, whole or one byte range.
    async fn read(
        &self,
        blob: &StoredBlob,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, StoreError>;

    /// Remove a committed blob's bytes (no error if they are gone).
    async fn delete(&self, blob: &StoredBlob) -> Result<(), StoreError>;

    /// Remove many committed blobs' bytes, in as few requests as the store
    /// allows. Yields, in any order, each blob whose bytes are now gone
    /// (deleted or already absent); a blob that could not be deleted is
    /// logged and not yielded. Dropping the stream early stops the work.
    fn delete_many(&self, blobs: Vec<StoredBlob>) -> BoxStream<'_, StoredBlob> {
        delete_each(self, blobs)
    }

    /// A URL from which anyone holding it may GET the blob for `expires_in`,
    /// or `None` if this store cannot sign one.
    async fn presigned_url(
        &self,
        blob: &StoredBlob,
        expires_in: Duration,
    ) -> Result<Option<String>, StoreError>;

    /// Append `body` to staged upload `id`, whose `state` describes `offset`
    /// staged bytes. Anything staged past `offset` by an interrupted request
    /// is ignored or overwritten. The appended bytes are durable when this
    /// returns.
    async fn append(
        &self,
        id: &str,
        offset: u64,
        state: &[u8],
        body: ByteStream<'_>,
        checkpoint: &dyn Checkpoint,
    ) -> Result<Appended, StoreError>;

    /// Release what `old` held that `new` no longer needs, once the session
    /// moved from `old` to `new`.
    async fn superseded(&self, id: &str, old: &[u8], new: &[u8]) -> Result<(), StoreError>;

    /// Make the first `size` bytes of upload `id` durable and visible as
    /// `digest`, atomically: readers see the whole blob or nothing. With
    /// `verify`, the bytes are hashed again first and refused with
    /// [`StoreError::DigestMismatch`] unless they match (for sessions that
    /// hashed with another algorithm).
    async fn commit(
        &self,
        id: &str,
        size: u64,
        state: &[u8],
        digest: &Digest,
        verify: bool,
    ) -> Result<StoredBlob, StoreError>;

    /// Drop everything upload `id` staged (no error if there is nothing).
    /// `state` may be empty when the session is unknown.
    async fn abort(&self, id: &str, state: &[u8]) -> Result<(), StoreError>;

    /// Ids of every upload with staged bytes, to find those no session owns.
    async fn staged_uploads(&self) -> Result<Vec<String>, StoreError>;

    /// Write a small object, read it back and delete it: whether the store
    /// works end to end (the health check).
    async fn probe(&self) -> Result<(), StoreError>;
}

/// Objects [`BlobStore::delete_many`] deletes at once, one request each, in
/// stores without a bulk delete.
const DELETES_IN_FLIGHT: usize = 16;

/// [`BlobStore::delete_many`] one request per object, a few at a time.
fn delete_each<S: BlobStore + ?Sized>(store: &S, blobs: Vec<StoredBlob>) -> BoxStream<'_, StoredBlob> {
    futures_util::stream::iter(blobs)
        .map(move |blob| async move {
            match store.delete(&blob).await {
                Ok(()) => Some(blob),
                Err(e) => {
                    tracing::warn!(digest = %blob.digest, error = %e, "cannot delete a blob's object");
                    None
                }
            }
        })
        .buffer_unordered(DELETES_IN_FLIGHT)
        .filter_map(|deleted| async move { deleted })
        .boxed()
}

/// What [`BlobStore::probe`] writes, under a fresh name each time.
pub(crate) const PROBE_CONTENT: &[u8] = b"berth storage probe";

/// `object_store` options reading a whole object or one byte range.
pub(crate) fn get_options(range: Option<Range<u64>>) -> object_store::GetOptions {
    object_store::GetOptions {
        range: range.map(object_store::GetRange::Bounded),
        ..Default::default()
    }
}

/// Upload ids are generated by the registry; refuse anything else so an id
/// can never name a path outside the staging area.
pub(crate) fn check_upload_id(id: &str) -> Result<(), StoreError> {
    let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if ok { Ok(()) } else { Err(StoreError::NotFound) }
}

/// Hash a stream with `digest`'s algorithm and fail unless it matches.
pub(crate) async fn verify_stream(mut bytes: ByteStream<'_>, digest: &Digest) -> Result<(), StoreError> {
    let mut hasher = Hasher::new(digest.algorithm());
    while let Some(chunk) = bytes.next().await {
        hasher.update(&chunk?);
    }
    let actual = hasher.finish();
    if &actual == digest {
        Ok(())
    } else {
        Err(StoreError::DigestMismatch(actual.to_string()))
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use futures_util::TryStreamExt;

    /// A checkpoint that accepts everything (no session behind it).
    pub struct NoCheckpoint;

    #[async_trait]
    impl Checkpoint for NoCheckpoint {
        async fn save(&self, _state: &[u8]) -> Result<(), StoreError> {
            Ok(())
        }
    }

    pub fn body(parts: &[&'static [u8]]) -> ByteStream<'static> {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
        .boxed()
    }

    pub async fn collect(s: ByteStream<'static>) -> Vec<u8> {
        s.try_fold(Vec::new(), |mut v, b| async move {
            v.extend_from_slice(&b);
            Ok(v)
        })
        .await
        .unwrap()
    }
}
