//! Blobs in an S3-compatible bucket (AWS S3, Ceph RGW, MinIO, ...).
//!
//! An upload streams into an S3 multipart upload in parts of [`PART_SIZE`];
//! bytes that do not fill a part yet are kept as small segment objects
//! under `uploads/<id>/`. Everything needed to continue (multipart upload
//! id, part ETags, segments) is the opaque upload state the caller keeps
//! with the session, so any instance can take the next chunk.
//!
//! Commit: an upload that never filled a part is written to the blob's
//! content-addressed key (`PutMode::Create`); a multipart upload is
//! completed at `blobs/by-upload/<id>` and that key is recorded with the
//! blob, since S3 cannot rename and copies are capped at 5 GiB.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_oci::Digest;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::ClientConfigKey;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::signer::{Method, Signer};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::{
    Appended, BlobStore, ByteStream, Checkpoint, StoredBlob, canonical_key, check_upload_id, get_options,
    verify_stream,
};
use crate::StoreError;

mod parts;
use parts::PartsInFlight;

/// Size of every multipart part but the last. S3 needs at least 5 MiB; a
/// few parts per in-flight upload are held in memory while they are sent
/// (see [`parts::IN_FLIGHT`]).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Segments kept before they are merged into one, so an upload sent in many
/// tiny chunks cannot pile up objects.
const MAX_SEGMENTS: usize = 32;

/// How to reach the bucket.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible server; AWS when unset.
    pub endpoint: Option<String>,
    /// Bucket name.
    pub bucket: String,
    /// Region (`us-east-1` when unset).
    pub region: Option<String>,
    /// Access key id; taken from the environment (`AWS_ACCESS_KEY_ID`, ...)
    /// when unset.
    pub access_key: Option<String>,
    /// Secret access key.
    pub secret_key: Option<String>,
    /// Key prefix inside the bucket (no leading or trailing `/`).
    pub prefix: String,
    /// Delete many objects per request (`DeleteObjects`, which carries a
    /// Content-MD5 header); otherwise one `DELETE` per object (FIPS mode).
    pub bulk_delete: bool,
}

impl std::fmt::Debug for S3Settings {
    // The secret never appears in logs or error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<redacted>"))
            .field("prefix", &self.prefix)
            .field("bulk_delete", &self.bulk_delete)
            .finish()
    }
}

/// One staged object holding bytes not yet in a part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Segment {
    name: String,
    len: u64,
}

/// The upload state kept with the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Staging {
    /// Multipart upload id, once the first part was needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    multipart: Option<String>,
    /// Content ids (ETags) of parts 0..n, each [`PART_SIZE`] long.
    #[serde(default)]
    parts: Vec<String>,
    /// Bytes after the parts, in order.
    #[serde(default)]
    segments: Vec<Segment>,
}

impl Staging {
    fn decode(state: &[u8]) -> Result<Staging, StoreError> {
        if state.is_empty() {
            return Ok(Staging::default());
        }
        serde_json::from_slice(state).map_err(|e| StoreError::Corrupt(format!("upload state: {e}")))
    }

    /// The state of upload `id`, which the session says holds `size` bytes.
    fn load(id: &str, state: &[u8], size: u64) -> Result<Staging, StoreError> {
        check_upload_id(id)?;
        let staging = Staging::decode(state)?;
        if staging.len() == size {
            Ok(staging)
        } else {
            Err(StoreError::Corrupt(format!(
                "upload {id} stages {} bytes, session says {size}",
                staging.len()
            )))
        }
    }

    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|e| StoreError::Corrupt(format!("upload state: {e}")))
    }

    fn segment_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    fn len(&self) -> u64 {
        self.parts.len() as u64 * PART_SIZE as u64 + self.segment_bytes()
    }
}

/// Bytes waiting to become a part, as received (no copying).
#[derive(Default)]
struct Pending {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Pending {
    fn push(&mut self, b: Bytes) {
        self.len += b.len();
        self.chunks.push_back(b);
    }

    /// Take exactly `n` bytes (`n <= len`) from the front.
    fn take(&mut self, n: usize) -> PutPayload {
        let mut out = Vec::new();
        let mut need = n;
        while need > 0 {
            let Some(mut first) = self.chunks.pop_front() else {
                break;
            };
            if first.len() > need {
                let rest = first.split_off(need);
                self.chunks.push_front(rest);
            }
            need -= first.len();
            self.len -= first.len();
            out.push(first);
        }
        out.into_iter().collect()
    }

    fn take_all(&mut self) -> PutPayload {
        self.len = 0;
        std::mem::take(&mut self.chunks).into_iter().collect()
    }
}

/// Blob storage in one bucket, under an optional key prefix.
pub struct S3BlobStore {
    s3: Arc<AmazonS3>,
    prefix: String,
    bulk_delete: bool,
}

fn not_found_ok(r: Result<(), object_store::Error>) -> Result<(), StoreError> {
    match r {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl S3BlobStore {
    /// Connect (lazily: no request is made until the first use).
    pub fn open(settings: &S3Settings) -> Result<S3BlobStore, StoreError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_region(settings.region.as_deref().unwrap_or("us-east-1"));
        let plaintext = settings
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(plaintext);
        }
        if let Some(key) = &settings.access_key {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_key {
            builder = builder.with_secret_access_key(secret);
        }
        // Loading the system's trust store (every file of /etc/ssl/certs)
        // took a few milliseconds of each start. A plaintext endpoint with
        // static keys makes no TLS connection at all, so it is skipped;
        // keys from a token service or instance metadata still need it.
        if plaintext && settings.access_key.is_some() && settings.secret_key.is_some() {
            builder = builder.with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::NoSystemCertificates),
                "true",
            );
        }
        Ok(S3BlobStore {
            s3: Arc::new(builder.build()?),
            prefix: settings.prefix.trim_matches('/').to_owned(),
            bulk_delete: settings.bulk_delete,
        })
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn segment_path(&self, id: &str, segment: &Segment) -> ObjectPath {
        self.path(&format!("uploads/{id}/{}", segment.name))
    }

    fn assembled_key(id: &str) -> String {
        format!("blobs/by-upload/{id}")
    }

    /// Read segments back (they total less than a part) and check lengths.
    async fn read_segments(
        &self,
        id: &str,
        segments: &[Segment],
        into: &mut Pending,
    ) -> Result<(), StoreError> {
        for segment in segments {
            let bytes = self
                .s3
                .get(&self.segment_path(id, segment))
                .await?
                .bytes()
                .await?;
            if bytes.len() as u64 != segment.len {
                return Err(StoreError::Corrupt(format!(
                    "upload {id}: segment {} has {} bytes, expected {}",
                    segment.name,
                    bytes.len(),
                    segment.len
                )));
            }
            into.push(bytes);
        }
        Ok(())
    }

    /// Move the bytes of `segments` in front of `pending`, emptying the
    /// list (the objects stay until the session no longer references them).
    async fn absorb_segments(
        &self,
        id: &str,
        segments: &mut Vec<Segment>,
        pending: &mut Pending,
    ) -> Result<(), StoreError> {
        let mut front = Pending::default();
        self.read_segments(id, segments, &mut front).await?;
        front.chunks.append(&mut pending.chunks);
        front.len += pending.len;
        *pending = front;
        segments.clear();
        Ok(())
    }

    /// Write `payload` as a new segment object (a fresh name, so a request
    /// that loses a race never overwrites what the session references).
    async fn put_segment(&self, id: &str, payload: PutPayload) -> Result<Segment, StoreError> {
        let segment = Segment {
            name: format!("seg-{}", uuid::Uuid::new_v4().simple()),
            len: payload.content_length() as u64,
        };
        self.s3.put(&self.segment_path(id, &segment), payload).await?;
        Ok(segment)
    }

    /// The multipart upload's id, starting it first if needed.
    async fn begin_multipart(
        &self,
        id: &str,
        staging: &mut Staging,
        begun: &Staging,
        checkpoint: &dyn Checkpoint,
    ) -> Result<String, StoreError> {
        if let Some(m) = &staging.multipart {
            return Ok(m.clone());
        }
        let m = self
            .s3
            .create_multipart(&self.path(&Self::assembled_key(id)))
            .await?;
        // Record the id before any part is sent, so the multipart upload
        // can be aborted even if this process dies now.
        let mut saved = begun.clone();
        saved.multipart = Some(m.clone());
        checkpoint.save(&saved.encode()?).await?;
        staging.multipart = Some(m.clone());
        Ok(m)
    }

    async fn delete_segments(&self, id: &str, segments: &[Segment]) {
        for segment in segments {
            if let Err(e) = not_found_ok(self.s3.delete(&self.segment_path(id, segment)).await) {
                tracing::warn!(upload = id, error = %e, "cannot delete a staged segment; it is removed with the upload");
            }
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn stat(&self, blob: &StoredBlob) -> Result<Option<u64>, StoreError> {
        match self.s3.head(&self.path(&blob.object_key())).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read(
        &self,
        blob: &StoredBlob,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, StoreError> {
        match self
            .s3
            .get_opts(&self.path(&blob.object_key()), get_options(range))
            .await
        {
            Ok(got) => Ok(got.into_stream().map_err(std::io::Error::other).boxed()),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, blob: &StoredBlob) -> Result<(), StoreError> {
        not_found_ok(self.s3.delete(&self.path(&blob.object_key())).await)
    }

    /// `DeleteObjects`: up to 1,000 keys a request (a server without it
    /// fails each request, and those blobs stay for a later pass).
    fn delete_many(&self, blobs: Vec<StoredBlob>) -> BoxStream<'_, StoredBlob> {
        if !self.bulk_delete {
            return super::delete_each(self, blobs);
        }
        let mut by_path: HashMap<ObjectPath, StoredBlob> = blobs
            .into_iter()
            .map(|blob| (self.path(&blob.object_key()), blob))
            .collect();
        let paths: Vec<object_store::Result<ObjectPath>> = by_path.keys().cloned().map(Ok).collect();
        self.s3
            .delete_stream(futures_util::stream::iter(paths).boxed())
            .filter_map(move |deleted| {
                let blob = match deleted {
                    Ok(path) => by_path.remove(&path),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot delete blobs' objects");
                        None
                    }
                };
                async move { blob }
            })
            .boxed()
    }

    async fn presigned_url(
        &self,
        blob: &StoredBlob,
        expires_in: Duration,
    ) -> Result<Option<String>, StoreError> {
        let url = self
            .s3
            .signed_url(Method::GET, &self.path(&blob.object_key()), expires_in)
            .await?;
        Ok(Some(url.to_string()))
    }

    async fn append(
        &self,
        id: &str,
        offset: u64,
        state: &[u8],
        mut body: ByteStream<'_>,
        checkpoint: &dyn Checkpoint,
    ) -> Result<Appended, StoreError> {
        let begun = Staging::load(id, state, offset)?;
        let mut staging = begun.clone();
        let mut pending = Pending::default();
        let mut written = 0u64;
        let mut loaded_segments = false;
        let mut sending: Option<PartsInFlight> = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            written += chunk.len() as u64;
            pending.push(chunk);
            if !loaded_segments && staging.segment_bytes() + pending.len as u64 >= PART_SIZE as u64 {
                // The staged segments start the next part.
                self.absorb_segments(id, &mut staging.segments, &mut pending)
                    .await?;
                loaded_segments = true;
            }
            while pending.len >= PART_SIZE {
                let part = pending.take(PART_SIZE);
                let parts = match &mut sending {
                    Some(parts) => parts,
                    None => {
                        let upload = self.begin_multipart(id, &mut staging, &begun, checkpoint).await?;
                        let path = self.path(&Self::assembled_key(id));
                        sending.insert(PartsInFlight::new(self.s3.clone(), path, upload))
                    }
                };
                parts.send(staging.parts.len() + parts.len(), part);
                if parts.len() >= parts::IN_FLIGHT
                    && let Some(etag) = parts.next().await?
                {
                    staging.parts.push(etag);
                }
            }
        }
        if let Some(parts) = &mut sending {
            while let Some(etag) = parts.next().await? {
                staging.parts.push(etag);
            }
        }
        if pending.len > 0 {
            if staging.segments.len() >= MAX_SEGMENTS {
                self.absorb_segments(id, &mut staging.segments, &mut pending)
                    .await?;
            }
            let segment = self.put_segment(id, pending.take_all()).await?;
            staging.segments.push(segment);
        }
        Ok(Appended {
            written,
            state: staging.encode()?,
        })
    }

    async fn superseded(&self, id: &str, old: &[u8], new: &[u8]) -> Result<(), StoreError> {
        let (old, new) = (Staging::decode(old)?, Staging::decode(new)?);
        let gone: Vec<Segment> = old
            .segments
            .into_iter()
            .filter(|s| !new.segments.contains(s))
            .collect();
        self.delete_segments(id, &gone).await;
        Ok(())
    }

    async fn commit(
        &self,
        id: &str,
        size: u64,
        state: &[u8],
        digest: &Digest,
        verify: bool,
    ) -> Result<StoredBlob, StoreError> {
        let staging = Staging::load(id, state, size)?;
        let mut rest = Pending::default();
        self.read_segments(id, &staging.segments, &mut rest).await?;
        let stored = match &staging.multipart {
            None => {
                let bytes: Vec<Bytes> = rest.chunks.iter().cloned().collect();
                if verify {
                    let stream = futures_util::stream::iter(bytes.into_iter().map(Ok)).boxed();
                    verify_stream(stream, digest).await?;
                }
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                let path = self.path(&canonical_key(digest));
                match self.s3.put_opts(&path, rest.take_all(), opts).await {
                    // Same digest, same verified bytes: already stored.
                    Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                StoredBlob {
                    digest: digest.clone(),
                    key: None,
                }
            }
            Some(upload) => {
                let key = Self::assembled_key(id);
                let path = self.path(&key);
                let mut parts: Vec<PartId> = staging
                    .parts
                    .iter()
                    .map(|p| PartId {
                        content_id: p.clone(),
                    })
                    .collect();
                if rest.len > 0 {
                    let last = self
                        .s3
                        .put_part(&path, upload, parts.len(), rest.take_all())
                        .await?;
                    parts.push(last);
                }
                // Servers that check part ETags here (AWS S3 does) also
                // refuse a part overwritten by a request that lost its lease.
                self.s3.complete_multipart(&path, upload, parts).await?;
                let stored = StoredBlob {
                    digest: digest.clone(),
                    key: Some(key),
                };
                if verify && let Err(e) = verify_stream(self.read(&stored, None).await?, digest).await {
                    self.delete(&stored).await?;
                    return Err(e);
                }
                stored
            }
        };
        self.delete_segments(id, &staging.segments).await;
        Ok(stored)
    }

    async fn abort(&self, id: &str, state: &[u8]) -> Result<(), StoreError> {
        check_upload_id(id)?;
        // A state that cannot be read still leaves the segments to sweep.
        let staging = Staging::decode(state).unwrap_or_default();
        if let Some(upload) = &staging.multipart {
            let path = self.path(&Self::assembled_key(id));
            match self.s3.abort_multipart(&path, upload).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            // Completed by a commit whose session was never closed: the
            // object is not any blob's, as the closing transaction records
            // the blob and deletes the session together.
            not_found_ok(self.s3.delete(&path).await)?;
        }
        let staged: Vec<ObjectPath> = self
            .s3
            .list(Some(&self.path(&format!("uploads/{id}"))))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for path in staged {
            not_found_ok(self.s3.delete(&path).await)?;
        }
        Ok(())
    }

    async fn staged_uploads(&self) -> Result<Vec<String>, StoreError> {
        let listing = self.s3.list_with_delimiter(Some(&self.path("uploads"))).await?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .filter(|id| check_upload_id(id).is_ok())
            .collect())
    }

    async fn probe(&self) -> Result<(), StoreError> {
        let path = self.path(&format!("health/{}", uuid::Uuid::new_v4().simple()));
        self.s3
            .put(&path, PutPayload::from_static(super::PROBE_CONTENT))
            .await?;
        let read = self.s3.get(&path).await;
        let read = match read {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        };
        not_found_ok(self.s3.delete(&path).await)?;
        if read?.as_ref() != super::PROBE_CONTENT {
            return Err(StoreError::Corrupt(
                "the storage probe read back other bytes".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(p: &mut Pending) -> Vec<Vec<u8>> {
        p.take_all().into_iter().map(|b| b.to_vec()).collect()
    }

    #[test]
    fn pending_splits_without_losing_bytes() {
        let mut p = Pending::default();
        p.push(Bytes::from_static(b"abc"));
        p.push(Bytes::from_static(b"defg"));
        let first: Vec<u8> = p.take(5).into_iter().flat_map(|b| b.to_vec()).collect();
        assert_eq!(first, b"abcde");
        assert_eq!(p.len, 2);
        assert_eq!(chunks(&mut p), vec![b"fg".to_vec()]);
    }

    #[test]
    fn staging_state_round_trips_and_counts_bytes() {
        let s = Staging {
            multipart: Some("m".into()),
            parts: vec!["e1".into()],
            segments: vec![Segment {
                name: "seg-1".into(),
                len: 10,
            }],
        };
        let decoded = Staging::decode(&s.encode().unwrap()).unwrap();
        assert_eq!(decoded, s);
        assert_eq!(decoded.len(), PART_SIZE as u64 + 10);
        assert_eq!(Staging::decode(b"").unwrap(), Staging::default());
        assert!(Staging::decode(b"{nonsense").is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let s = S3Settings {
            secret_key: Some("hunter2".into()),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
