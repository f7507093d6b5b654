//! Blobs in a local directory: committed blobs are read through
//! `object_store`'s local backend; uploads are staged as append-only files
//! (the local backend has no resumable multipart uploads) and committed by
//! fsync + rename into the content-addressed layout.

use std::io;
use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use berth_oci::Digest;
use futures_util::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{BlobStore, ByteStream, check_upload_id};
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
        let objects = LocalFileSystem::new_with_prefix(root.join("blobs"))?;
        Ok(LocalBlobStore {
            root: root.to_owned(),
            objects: Arc::new(objects),
        })
    }

    fn key(digest: &Digest) -> ObjectPath {
        let hex = digest.hex();
        ObjectPath::from(format!("{}/{}/{}", digest.algorithm().as_str(), &hex[..2], hex))
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
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
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(not_found_to_none(self.objects.head(&Self::key(digest)).await)?.map(|m| m.size))
    }

    async fn read(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, StoreError> {
        let opts = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..Default::default()
        };
        let got = not_found_to_none(self.objects.get_opts(&Self::key(digest), opts).await)?
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

    async fn delete(&self, digest: &Digest) -> Result<(), StoreError> {
        not_found_to_none(self.objects.delete(&Self::key(digest)).await)?;
        Ok(())
    }

    async fn append(&self, id: &str, offset: u64, mut body: ByteStream<'_>) -> Result<u64, StoreError> {
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
        Ok(written)
    }

    async fn read_upload(&self, id: &str, size: u64) -> Result<ByteStream<'static>, StoreError> {
        let file = tokio::fs::File::open(self.upload_path(id)?).await?;
        Ok(file_stream(file, size))
    }

    async fn commit(&self, id: &str, size: u64, digest: &Digest) -> Result<(), StoreError> {
        let staged = self.upload_path(id)?;
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
        Ok(())
    }

    async fn abort(&self, id: &str) -> Result<(), StoreError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::Algorithm;
    use bytes::Bytes;

    fn body(parts: &[&'static [u8]]) -> ByteStream<'static> {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
        .boxed()
    }

    async fn collect(s: ByteStream<'static>) -> Vec<u8> {
        s.try_fold(Vec::new(), |mut v, b| async move {
            v.extend_from_slice(&b);
            Ok(v)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn staged_upload_commits_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let id = "0123abcd";
        assert_eq!(store.append(id, 0, body(&[b"hello ", b"wor"])).await.unwrap(), 9);
        // An interrupted request left junk past the session's offset of 9.
        store.append(id, 9, body(&[b"JUNK"])).await.unwrap();
        assert_eq!(store.append(id, 9, body(&[b"ld"])).await.unwrap(), 2);
        let digest = Digest::of(Algorithm::Sha256, b"hello world");
        assert_eq!(store.stat(&digest).await.unwrap(), None);
        store.commit(id, 11, &digest).await.unwrap();
        assert_eq!(store.stat(&digest).await.unwrap(), Some(11));
        assert_eq!(
            collect(store.read(&digest, None).await.unwrap()).await,
            b"hello world"
        );
        assert_eq!(
            collect(store.read(&digest, Some(6..9)).await.unwrap()).await,
            b"wor"
        );
        assert!(store.staged_uploads().await.unwrap().is_empty());
        store.delete(&digest).await.unwrap();
        assert_eq!(store.stat(&digest).await.unwrap(), None);
        assert!(matches!(
            store.read(&digest, None).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn upload_ids_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        assert!(store.append("../x", 0, body(&[b"x"])).await.is_err());
    }
}
