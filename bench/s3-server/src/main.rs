//! The benchmarks' S3 server: s3s-fs (the S3 server of the tests) with
//! these changes, so that Distribution can keep its blobs in the same
//! bucket as Berth and neither pays for a shortcut of s3s-fs that a real S3
//! server does not take:
//! - `ListMultipartUploads`, which s3s-fs answers 501 Not Implemented and
//!   Distribution's S3 driver calls to resume every upload, answered from
//!   the uploads this process started and has not yet completed or aborted;
//! - `ListParts` from the parts this process stored, in order, with their
//!   sizes and ETags and `IsTruncated` (s3s-fs reads its whole data
//!   directory for each, answers parts in directory order, without ETags or
//!   `IsTruncated`, on which Distribution's driver dereferences a nil
//!   pointer);
//! - a listing without a delimiter walks only the directories its prefix
//!   can reach (s3s-fs walks the whole bucket for each, and Distribution
//!   stats every path with one);
//! - every connection has `TCP_NODELAY`, as servers usually set (without
//!   it a small answer waits for the client's delayed ACK, about 40 ms);
//! - `GetObject` sends the object's bytes read in 1 MiB pieces. s3s-fs
//!   reads 4 KiB at a time, each through tokio's blocking pool: serving a
//!   256 MiB blob took it 1.5-1.9 s of CPU, more than either registry
//!   spent passing the bytes on, so on two cores the server bounded both
//!   registries' downloads, not their own work.
//!
//! Everything else is s3s-fs's own code.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use clap::Parser;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio_util::io::ReaderStream;

/// How much of an object one read takes when it is sent.
const READ_PIECE: usize = 1 << 20;

/// Command line, as s3s-fs's.
#[derive(Debug, Parser)]
struct Opt {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long)]
    port: u16,
    /// Access key of the one account.
    #[arg(long)]
    access_key: String,
    /// Its secret key.
    #[arg(long)]
    secret_key: String,
    /// Root directory of the stored data.
    root: PathBuf,
}

/// A multipart upload begun and not yet completed or aborted.
struct OpenUpload {
    bucket: String,
    key: String,
    began: SystemTime,
    /// Its parts by number, as `ListParts` answers them.
    parts: BTreeMap<i32, Part>,
}

/// Open multipart uploads by upload id.
type Uploads = BTreeMap<String, OpenUpload>;

/// s3s-fs and the multipart uploads it holds open.
struct Server {
    fs: FileSystem,
    root: PathBuf,
    uploads: Mutex<Uploads>,
}

impl Server {
    fn uploads(&self) -> S3Result<std::sync::MutexGuard<'_, Uploads>> {
        self.uploads.lock().map_err(|_| s3_error!(InternalError))
    }

    /// Remember part `number` of `upload_id`, just stored by s3s-fs.
    async fn record_part(&self, upload_id: &str, number: i32, e_tag: Option<ETag>) -> S3Result<()> {
        // s3s-fs's name for a stored part.
        let path = self.root.join(format!(".upload_id-{upload_id}.part-{number}"));
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| s3_error!(e, InternalError))?;
        let part = Part {
            part_number: Some(number),
            size: Some(i64::try_from(meta.len()).map_err(|e| s3_error!(e, InternalError))?),
            last_modified: meta.modified().ok().map(Timestamp::from),
            e_tag,
            ..Default::default()
        };
        if let Some(open) = self.uploads()?.get_mut(upload_id) {
            open.parts.insert(number, part);
        }
        Ok(())
    }

    /// Every object of `bucket` whose key starts with `prefix`, by key,
    /// reading only directories that can hold such keys.
    async fn objects(&self, bucket: &str, prefix: &str) -> S3Result<Vec<Object>> {
        let bucket_root = self.root.join(bucket);
        if !bucket_root.is_dir() || bucket.contains('/') || bucket.starts_with('.') {
            return Err(s3_error!(NoSuchBucket));
        }
        let mut objects = Vec::new();
        let mut dirs = VecDeque::from([(bucket_root, String::new())]);
        while let Some((dir, dir_key)) = dirs.pop_front() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(s3_error!(e, InternalError)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| s3_error!(e, InternalError))?
            {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let key = format!("{dir_key}{name}");
                // The entry's type comes with the directory listing; only
                // files that match are asked for their size and time.
                let file_type = entry.file_type().await.map_err(|e| s3_error!(e, InternalError))?;
                if file_type.is_dir() {
                    let sub = format!("{key}/");
                    if prefix.starts_with(&sub) || sub.starts_with(prefix) {
                        dirs.push_back((entry.path(), sub));
                    }
                } else if key.starts_with(prefix) {
                    let meta = match entry.metadata().await {
                        Ok(meta) => meta,
                        // Deleted since the listing.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(s3_error!(e, InternalError)),
                    };
                    objects.push(Object {
                        key: Some(key),
                        size: Some(i64::try_from(meta.len()).map_err(|e| s3_error!(e, InternalError))?),
                        last_modified: meta.modified().ok().map(Timestamp::from),
                        ..Default::default()
                    });
                }
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }
}

/// Implements `S3` for [`Server`]: the listed operations go to s3s-fs as
/// they are, the items after them are this server's own.
macro_rules! s3_operations {
    (delegated { $($name:ident($input:ident) -> $output:ident;)* } own { $($own:item)* }) => {
        #[async_trait::async_trait]
        impl S3 for Server {
            $(
                async fn $name(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.fs.$name(req).await
                }
            )*
            $($own)*
        }
    };
}

s3_operations! {
    delegated {
        create_bucket(CreateBucketInput) -> CreateBucketOutput;
        copy_object(CopyObjectInput) -> CopyObjectOutput;
        delete_bucket(DeleteBucketInput) -> DeleteBucketOutput;
        delete_object(DeleteObjectInput) -> DeleteObjectOutput;
        delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
        get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
        head_bucket(HeadBucketInput) -> HeadBucketOutput;
        head_object(HeadObjectInput) -> HeadObjectOutput;
        list_buckets(ListBucketsInput) -> ListBucketsOutput;
        put_object(PutObjectInput) -> PutObjectOutput;
    }
    own {
        async fn create_multipart_upload(
            &self,
            req: S3Request<CreateMultipartUploadInput>,
        ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
            let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
            let out = self.fs.create_multipart_upload(req).await?;
            if let Some(id) = &out.output.upload_id {
                let open = OpenUpload {
                    bucket,
                    key,
                    began: SystemTime::now(),
                    parts: BTreeMap::new(),
                };
                self.uploads()?.insert(id.clone(), open);
            }
            Ok(out)
        }

        async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
            let (id, number) = (req.input.upload_id.clone(), req.input.part_number);
            let out = self.fs.upload_part(req).await?;
            self.record_part(&id, number, out.output.e_tag.clone()).await?;
            Ok(out)
        }

        async fn upload_part_copy(
            &self,
            req: S3Request<UploadPartCopyInput>,
        ) -> S3Result<S3Response<UploadPartCopyOutput>> {
            let (id, number) = (req.input.upload_id.clone(), req.input.part_number);
            let out = self.fs.upload_part_copy(req).await?;
            let e_tag = out.output.copy_part_result.as_ref().and_then(|r| r.e_tag.clone());
            self.record_part(&id, number, e_tag).await?;
            Ok(out)
        }

        async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
            // s3s-fs resolves the key within the bucket and answers the
            // headers; only the body is read here, from the same file.
            let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
            let mut out = self.fs.get_object(req).await?;
            if key.split('/').any(|c| c == "..") {
                return Ok(out); // s3s-fs resolves these virtually; keep its body.
            }
            let start = match &out.output.content_range {
                Some(range) => range
                    .strip_prefix("bytes ")
                    .and_then(|r| r.split_once('-'))
                    .and_then(|(first, _)| first.parse::<u64>().ok())
                    .ok_or_else(|| s3_error!(InternalError, "unexpected content range {range}"))?,
                None => 0,
            };
            let len = out
                .output
                .content_length
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| s3_error!(InternalError))?;
            let mut file = tokio::fs::File::open(self.root.join(&bucket).join(&key))
                .await
                .map_err(|e| s3_error!(e, NoSuchKey))?;
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| s3_error!(e, InternalError))?;
            let body = ReaderStream::with_capacity(file.take(len), READ_PIECE);
            out.output.body = Some(StreamingBlob::wrap(body));
            Ok(out)
        }

        async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
            let input = req.input;
            let uploads = self.uploads()?;
            let open = uploads
                .get(&input.upload_id)
                .filter(|open| open.bucket == input.bucket && open.key == input.key)
                .ok_or_else(|| s3_error!(NoSuchUpload))?;
            let after = input.part_number_marker.unwrap_or(0);
            let max = usize::try_from(input.max_parts.unwrap_or(1000)).unwrap_or(1000);
            let mut parts: Vec<Part> = open.parts.range(after + 1..).map(|(_, p)| p.clone()).collect();
            let truncated = parts.len() > max;
            parts.truncate(max);
            Ok(S3Response::new(ListPartsOutput {
                bucket: Some(input.bucket),
                key: Some(input.key),
                upload_id: Some(input.upload_id),
                is_truncated: Some(truncated),
                next_part_number_marker: parts.last().and_then(|p| p.part_number),
                parts: Some(parts),
                ..Default::default()
            }))
        }

        async fn complete_multipart_upload(
            &self,
            req: S3Request<CompleteMultipartUploadInput>,
        ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
            let id = req.input.upload_id.clone();
            let out = self.fs.complete_multipart_upload(req).await?;
            self.uploads()?.remove(&id);
            Ok(out)
        }

        async fn abort_multipart_upload(
            &self,
            req: S3Request<AbortMultipartUploadInput>,
        ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
            let id = req.input.upload_id.clone();
            let out = self.fs.abort_multipart_upload(req).await?;
            self.uploads()?.remove(&id);
            Ok(out)
        }

        async fn list_multipart_uploads(
            &self,
            req: S3Request<ListMultipartUploadsInput>,
        ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
            let input = req.input;
            if input.delimiter.is_some() || input.key_marker.is_some() || input.upload_id_marker.is_some() {
                return Err(s3_error!(NotImplemented, "only a prefix is supported"));
            }
            let prefix = input.prefix.clone().unwrap_or_default();
            let max = usize::try_from(input.max_uploads.unwrap_or(1000)).unwrap_or(1000);
            let open = self.uploads()?;
            let mut uploads: Vec<MultipartUpload> = open
                .iter()
                .filter(|(_, o)| o.bucket == input.bucket && o.key.starts_with(&prefix))
                .map(|(id, o)| MultipartUpload {
                    key: Some(o.key.clone()),
                    upload_id: Some(id.clone()),
                    initiated: Some(Timestamp::from(o.began)),
                    ..Default::default()
                })
                .collect();
            uploads.sort_by(|a, b| (&a.key, &a.initiated).cmp(&(&b.key, &b.initiated)));
            let truncated = uploads.len() > max;
            uploads.truncate(max);
            Ok(S3Response::new(ListMultipartUploadsOutput {
                bucket: Some(input.bucket),
                prefix: input.prefix,
                max_uploads: input.max_uploads,
                is_truncated: Some(truncated),
                uploads: Some(uploads),
                ..Default::default()
            }))
        }

        async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
            let v2 = self.list_objects_v2(req.map_input(Into::into)).await?;
            Ok(v2.map_output(|v2| ListObjectsOutput {
                contents: v2.contents,
                common_prefixes: v2.common_prefixes,
                delimiter: v2.delimiter,
                encoding_type: v2.encoding_type,
                name: v2.name,
                prefix: v2.prefix,
                max_keys: v2.max_keys,
                is_truncated: v2.is_truncated,
                next_marker: v2.next_continuation_token,
                ..Default::default()
            }))
        }

        async fn list_objects_v2(
            &self,
            req: S3Request<ListObjectsV2Input>,
        ) -> S3Result<S3Response<ListObjectsV2Output>> {
            if req.input.delimiter.is_some() {
                // s3s-fs prunes directories itself when there is a delimiter.
                return self.fs.list_objects_v2(req).await;
            }
            let input = req.input;
            let prefix = input.prefix.clone().unwrap_or_default();
            let mut objects = self.objects(&input.bucket, &prefix).await?;
            let after = match (input.continuation_token.as_deref(), input.start_after.as_deref()) {
                (Some(token), Some(start)) => Some(token.max(start).to_owned()),
                (token, start) => token.or(start).map(str::to_owned),
            };
            if let Some(after) = after {
                objects.retain(|o| o.key.as_deref().is_some_and(|k| k > after.as_str()));
            }
            let max_keys = input.max_keys.unwrap_or(1000);
            let max = usize::try_from(max_keys).unwrap_or(1000);
            let truncated = objects.len() > max;
            objects.truncate(max);
            let next = if truncated {
                objects.last().and_then(|o| o.key.clone())
            } else {
                None
            };
            Ok(S3Response::new(ListObjectsV2Output {
                key_count: Some(i32::try_from(objects.len()).unwrap_or(i32::MAX)),
                max_keys: Some(max_keys),
                is_truncated: Some(truncated),
                contents: (!objects.is_empty()).then_some(objects),
                continuation_token: input.continuation_token,
                next_continuation_token: next,
                encoding_type: input.encoding_type,
                name: Some(input.bucket),
                prefix: input.prefix,
                start_after: input.start_after,
                ..Default::default()
            }))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opt = Opt::parse();
    // Failures that become 500s are logged by s3s and s3s-fs; show them.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(false)
        .init();
    let root = std::fs::canonicalize(&opt.root)?;
    let server = Server {
        fs: FileSystem::new(&root).map_err(|e| format!("{e:?}"))?,
        root,
        uploads: Mutex::default(),
    };
    let mut builder = S3ServiceBuilder::new(server);
    builder.set_auth(SimpleAuth::from_single(opt.access_key, opt.secret_key));
    let service = builder.build();
    let listener = TcpListener::bind((opt.host.as_str(), opt.port)).await?;
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let conn = http
            .serve_connection(TokioIo::new(socket), service.clone())
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}
