//! Blobs in a local directory: committed blobs are read through
//! `object_store`'s local backend; uploads are staged as append-only files
//! (the local backend has no resumable multipart uploads) and committed by
//! fsync + rename into the content-addressed layout. The directory holds
//! everything, so the per-upload state is empty.

use std::io;
use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_oci::Digest;
use futures_util::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{
    Appended, BlobStore, ByteStream, Checkpoint, StoredBlob, canonical_key, check_upload_id, get_options,
    verify_stream,
};
use crate::StoreError;

/// Read buffer for streaming blobs out; large enough to keep syscalls rare.
const READ_CHUNK: usize = 256 * 1024;

/// Write buffer for staging uploads.
const WRITE_BUFFER: usize = 1024 * 1024;

/// Blob storage under one directory: `blobs/<alg>/<hex[0..2]>/<hex>` and
/// `uploads/<id>`.
pub struct LocalBlobStore {
    root: PathBuf,
    objects: Arc<LocalFileSystem>,
}

impl LocalBlobStore {
    /// Open (creating) the store under `root`.
    pub fn open(root: &Path) -> Result<LocalBlobStore, StoreError> {
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        let objects = LocalFileSystem::new_with_prefix(root)?;
        Ok(LocalBlobStore {
            root: root.to_owned(),
            objects: Arc::new(objects),
        })
    }

    fn key(blob: &StoredBlob) -> ObjectPath {
        ObjectPath::from(blob.object_key())
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(canonical_key(digest))
    }

    fn upload_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        check_upload_id(id)?;
        Ok(self.root.join("uploads").join(id))
    }
}

fn not_found_to_none<T>(r: Result<T, object_store::Error>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Stream `len` bytes of `file` from its current position.
fn file_stream(file: tokio::fs::File, len: u64) -> ByteStream<'static> {
    ReaderStream::with_capacity(file.take(len), READ_CHUNK).boxed()
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn stat(&self, blob: &StoredBlob) -> Result<Option<u64>, StoreError> {
        Ok(not_found_to_none(self.objects.head(&Self::key(blob)).await)?.map(|m| m.size))
    }

    async fn read(
        &self,
        blob: &StoredBlob,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, StoreError> {
        let got = not_found_to_none(self.objects.get_opts(&Self::key(blob), get_options(range)).await)?
            .ok_or(StoreError::NotFound)?;
        let span = got.range.clone();
        match got.payload {
            // Stream the file ourselves: the generic path reads 8 KiB at a time.
            GetResultPayload::File(file, _) => {
                let mut file = tokio::fs::File::from_std(file);
                file.seek(SeekFrom::Start(span.start)).await?;
                Ok(file_stream(file, span.end - span.start))
            }
            GetResultPayload::Stream(s) => Ok(s.map_err(io::Error::other).boxed()),
        }
    }

    async fn delete(&self, blob: &StoredBlob) -> Result<(), StoreError> {
        not_found_to_none(self.objects.delete(&Self::key(blob)).await)?;
        Ok(())
    }

    async fn presigned_url(
        &self,
        _blob: &StoredBlob,
        _expires_in: Duration,
    ) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    async fn append(
        &self,
        id: &str,
        offset: u64,
        _state: &[u8],
        mut body: ByteStream<'_>,
        _checkpoint: &dyn Checkpoint,
    ) -> Result<Appended, StoreError> {
        let path = self.upload_path(id)?;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .await?;
        let len = file.metadata().await?.len();
        if len < offset {
            return Err(StoreError::Corrupt(format!(
                "upload {id} has {len} staged bytes, session says {offset}"
            )));
        }
        // Bytes past `offset` came from a request that failed before the
        // session advanced: drop them.
        file.set_len(offset).await?;
        file.seek(SeekFrom::Start(offset)).await?;
        // Request bodies arrive in small frames; batch them into large
        // writes so each blocking-pool round trip moves a lot of data.
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            out.write_all(&chunk).await?;
            written += chunk.len() as u64;
        }
        out.flush().await?;
        out.into_inner().sync_data().await?;
        Ok(Appended {
            written,
            state: Vec::new(),
        })
    }

    async fn superseded(&self, _id: &str, _old: &[u8], _new: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }

    async fn commit(
        &self,
        id: &str,
        size: u64,
        _state: &[u8],
        digest: &Digest,
        verify: bool,
    ) -> Result<StoredBlob, StoreError> {
        let staged = self.upload_path(id)?;
        if size == 0 {
            // A session that never received a byte staged no file yet.
            tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&staged)
                .await?;
        }
        if verify {
            let file = tokio::fs::File::open(&staged).await?;
            verify_stream(file_stream(file, size), digest).await?;
        }
        let target = self.blob_path(digest);
        let file = tokio::fs::OpenOptions::new().write(true).open(&staged).await?;
        file.set_len(size).await?;
        file.sync_all().await?;
        drop(file);
        let dir = target
            .parent()
            .ok_or_else(|| StoreError::Corrupt("blob path has no parent".into()))?;
        tokio::fs::create_dir_all(dir).await?;
        // rename is atomic; a concurrent commit of the same digest writes
        // identical bytes, so either winner is correct.
        tokio::fs::rename(&staged, &target).await?;
        tokio::fs::File::open(dir).await?.sync_all().await?;
        Ok(StoredBlob {
            digest: digest.clone(),
            key: None,
        })
    }

    async fn abort(&self, id: &str, _state: &[u8]) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.upload_path(id)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn staged_uploads(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let mut dir = tokio::fs::read_dir(self.root.join("uploads")).await?;
        while let Some(entry) = dir.next_entry().await? {
            if let Some(name) = entry.file_name().to_str()
                && check_upload_id(name).is_ok()
            {
                ids.push(name.to_owned());
            }
        }
        Ok(ids)
    }

    async fn probe(&self) -> Result<(), StoreError> {
        // Beside the staged uploads, under a name no upload id can have.
        let path = self
            .root
            .join("uploads")
            .join(format!(".probe-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&path, super::PROBE_CONTENT).await?;
        let read = tokio::fs::read(&path).await;
        let removed = tokio::fs::remove_file(&path).await;
        if read? != super::PROBE_CONTENT {
            return Err(StoreError::Corrupt(
                "the storage probe read back other bytes".into(),
            ));
        }
        removed?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::test_support::{NoCheckpoint, body, collect};
    use berth_oci::Algorithm;

    #[tokio::test]
    async fn staged_upload_commits_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let id = "0123abcd";
        let a = store
            .append(id, 0, &[], body(&[b"hello ", b"wor"]), &NoCheckpoint)
            .await
            .unwrap();
        assert_eq!(a.written, 9);
        // An interrupted request left junk past the session's offset of 9.
        store
            .append(id, 9, &a.state, body(&[b"JUNK"]), &NoCheckpoint)
            .await
            .unwrap();
        let b = store
            .append(id, 9, &a.state, body(&[b"ld"]), &NoCheckpoint)
            .await
            .unwrap();
        assert_eq!(b.written, 2);
        let digest = Digest::of(Algorithm::Sha256, b"hello world");
        let blob = StoredBlob {
            digest: digest.clone(),
            key: None,
        };
        assert_eq!(store.stat(&blob).await.unwrap(), None);
        assert!(matches!(
            store
                .commit(id, 11, &b.state, &Digest::of(Algorithm::Sha512, b"x"), true)
                .await,
            Err(StoreError::DigestMismatch(_))
        ));
        assert_eq!(store.commit(id, 11, &b.state, &digest, true).await.unwrap(), blob);
        assert_eq!(store.stat(&blob).await.unwrap(), Some(11));
        assert_eq!(
            collect(store.read(&blob, None).await.unwrap()).await,
            b"hello world"
        );
        assert_eq!(
            collect(store.read(&blob, Some(6..9)).await.unwrap()).await,
            b"wor"
        );
        assert!(store.staged_uploads().await.unwrap().is_empty());
        assert_eq!(
            store.presigned_url(&blob, Duration::from_secs(60)).await.unwrap(),
            None
        );
        store.delete(&blob).await.unwrap();
        assert_eq!(store.stat(&blob).await.unwrap(), None);
        assert!(matches!(store.read(&blob, None).await, Err(StoreError::NotFound)));
    }

    #[tokio::test]
    async fn an_upload_that_staged_nothing_commits_the_empty_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let empty = Digest::of(Algorithm::Sha256, b"");
        for verify in [false, true] {
            let blob = store.commit("0123abcd", 0, &[], &empty, verify).await.unwrap();
            assert_eq!(store.stat(&blob).await.unwrap(), Some(0));
            assert!(collect(store.read(&blob, None).await.unwrap()).await.is_empty());
        }
        assert!(store.staged_uploads().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn upload_ids_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        assert!(
            store
                .append("../x", 0, &[], body(&[b"x"]), &NoCheckpoint)
                .await
                .is_err()
        );
    }
}
