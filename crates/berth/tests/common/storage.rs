//! The blob storage a test server runs on: its data directory, or (with
//! `TEST_STORAGE=s3`) a fresh key prefix in the bucket of a real
//! S3-compatible server named by `TEST_S3_ENDPOINT`, `TEST_S3_BUCKET`,
//! `TEST_S3_ACCESS_KEY` and `TEST_S3_SECRET_KEY`. Tests look inside it
//! through the same questions either way: which blobs are stored, which
//! uploads have staged data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// Connection details of the test S3 server.
#[derive(Clone)]
pub struct S3Env {
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
    /// s3s-fs's data directory, if known: the only way to see multipart
    /// uploads still open (the S3 API lists objects, not those).
    root: Option<PathBuf>,
}

fn s3_env() -> Option<S3Env> {
    if std::env::var("TEST_STORAGE").as_deref() != Ok("s3") {
        return None;
    }
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("TEST_STORAGE=s3 needs {name}"));
    Some(S3Env {
        endpoint: var("TEST_S3_ENDPOINT"),
        bucket: var("TEST_S3_BUCKET"),
        access_key: var("TEST_S3_ACCESS_KEY"),
        secret_key: var("TEST_S3_SECRET_KEY"),
        root: std::env::var("TEST_S3_ROOT").ok().map(PathBuf::from),
    })
}

/// Whether the suite runs on S3.
pub fn on_s3() -> bool {
    s3_env().is_some()
}

/// Where one server (or one cluster) keeps its blobs.
#[derive(Clone)]
pub enum TestStorage {
    /// A local directory: the server's `DATA_DIR`, or a `LocalStorage`
    /// path shared by a cluster.
    Directory { dir: PathBuf, configured: bool },
    /// A key prefix of its own in the test bucket.
    S3 {
        env: S3Env,
        s3: Arc<AmazonS3>,
        prefix: String,
    },
}

impl TestStorage {
    /// Storage for one server: its data directory, or a fresh S3 prefix.
    pub fn for_server(data_dir: &Path) -> TestStorage {
        match s3_env() {
            Some(env) => TestStorage::s3(env),
            None => TestStorage::Directory {
                dir: data_dir.to_owned(),
                configured: false,
            },
        }
    }

    /// Storage shared by several servers: a directory configured as
    /// `LocalStorage`, or a fresh S3 prefix.
    pub fn shared(dir: &Path) -> TestStorage {
        match s3_env() {
            Some(env) => TestStorage::s3(env),
            None => TestStorage::Directory {
                dir: dir.to_owned(),
                configured: true,
            },
        }
    }

    fn s3(env: S3Env) -> TestStorage {
        let s3 = AmazonS3Builder::new()
            .with_endpoint(&env.endpoint)
            .with_allow_http(true)
            .with_bucket_name(&env.bucket)
            .with_region("us-east-1")
            .with_access_key_id(&env.access_key)
            .with_secret_access_key(&env.secret_key)
            .build()
            .unwrap();
        TestStorage::S3 {
            env,
            s3: Arc::new(s3),
            prefix: format!("t-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// For S3: the endpoint, bucket, access key, secret key and key
    /// prefix, as an S3 client needs them.
    pub fn s3_location(&self) -> Option<[String; 5]> {
        match self {
            TestStorage::S3 { env, prefix, .. } => Some([
                env.endpoint.clone(),
                env.bucket.clone(),
                env.access_key.clone(),
                env.secret_key.clone(),
                prefix.clone(),
            ]),
            TestStorage::Directory { .. } => None,
        }
    }

    /// Whether this is S3.
    pub fn is_s3(&self) -> bool {
        matches!(self, TestStorage::S3 { .. })
    }

    /// The `config.yaml` lines selecting this storage.
    pub fn config_yaml(&self) -> String {
        match self {
            TestStorage::Directory {
                configured: false, ..
            } => String::new(),
            TestStorage::Directory {
                dir,
                configured: true,
            } => format!(
                "DISTRIBUTED_STORAGE_CONFIG:\n  shared: [LocalStorage, {{storage_path: \"{}\"}}]\n",
                dir.display()
            ),
            TestStorage::S3 { env, prefix, .. } => format!(
                "DISTRIBUTED_STORAGE_CONFIG:\n  s3:\n    - S3Storage\n    - s3_bucket: {}\n      storage_path: /{prefix}/\n      \
                 s3_access_key: {}\n      s3_secret_key: {}\n      endpoint_url: {}\n",
                env.bucket, env.access_key, env.secret_key, env.endpoint
            ),
        }
    }

    async fn s3_list(s3: &AmazonS3, prefix: &str) -> Vec<(String, u64)> {
        s3.list(Some(&ObjectPath::from(prefix)))
            .map_ok(|m| (m.location.to_string(), m.size))
            .try_collect()
            .await
            .unwrap()
    }

    /// Keys (or paths) of every stored blob object.
    pub async fn blob_objects(&self) -> Vec<String> {
        match self {
            TestStorage::Directory { dir, .. } => super::files_under(&dir.join("blobs"))
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            TestStorage::S3 { s3, prefix, .. } => Self::s3_list(s3, &format!("{prefix}/blobs"))
                .await
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
        }
    }

    /// Ids of uploads with staged data, and how many bytes they stage.
    pub async fn staged(&self) -> (BTreeSet<String>, u64) {
        let mut ids = BTreeSet::new();
        let mut bytes = 0;
        match self {
            TestStorage::Directory { dir, .. } => {
                for p in super::files_under(&dir.join("uploads")) {
                    bytes += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                    ids.insert(p.file_name().unwrap().to_string_lossy().into_owned());
                }
            }
            TestStorage::S3 { env, s3, prefix } => {
                let staged = format!("{prefix}/uploads/");
                for (key, size) in Self::s3_list(s3, &staged).await {
                    let id = key.strip_prefix(&staged).unwrap().split('/').next().unwrap();
                    ids.insert(id.to_owned());
                    bytes += size;
                }
                if let Some(root) = &env.root {
                    let assembling = format!("{prefix}/blobs/by-upload/");
                    for (key, part_bytes) in open_multipart_uploads(root, &env.bucket) {
                        if let Some(id) = key.strip_prefix(&assembling) {
                            ids.insert(id.to_owned());
                            bytes += part_bytes;
                        }
                    }
                }
            }
        }
        (ids, bytes)
    }

    /// Overwrite the one staged object with zeros of the same length.
    pub async fn overwrite_staged(&self) {
        match self {
            TestStorage::Directory { dir, .. } => {
                let files = super::files_under(&dir.join("uploads"));
                assert_eq!(files.len(), 1);
                let len = std::fs::metadata(&files[0]).unwrap().len();
                std::fs::write(&files[0], vec![0u8; len as usize]).unwrap();
            }
            TestStorage::S3 { s3, prefix, .. } => {
                let objects = Self::s3_list(s3, &format!("{prefix}/uploads")).await;
                assert_eq!(objects.len(), 1, "{objects:?}");
                let (key, len) = &objects[0];
                s3.put(&ObjectPath::from(key.as_str()), vec![0u8; *len as usize].into())
                    .await
                    .unwrap();
            }
        }
    }
}

/// Multipart uploads s3s-fs holds open in `bucket`: (key, bytes in parts).
/// s3s-fs keeps `.bucket-<b64>.object-<b64>.upload-<id>.metadata.json` per
/// open upload and `.upload_id-<id>.part-<n>` per part in its root.
fn open_multipart_uploads(root: &Path, bucket: &str) -> Vec<(String, u64)> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bucket_tag = format!(".bucket-{}.object-", b64.encode(bucket));
    let mut uploads = Vec::new();
    let names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for name in &names {
        let Some(rest) = name
            .strip_prefix(&bucket_tag)
            .and_then(|r| r.strip_suffix(".metadata.json"))
        else {
            continue;
        };
        let Some((key, upload)) = rest.split_once(".upload-") else {
            continue;
        };
        let Ok(key) = b64.decode(key) else { continue };
        let part_prefix = format!(".upload_id-{upload}.part-");
        let bytes = names
            .iter()
            .filter(|n| n.starts_with(&part_prefix))
            .map(|n| std::fs::metadata(root.join(n)).map(|m| m.len()).unwrap_or(0))
            .sum();
        uploads.push((String::from_utf8_lossy(&key).into_owned(), bytes));
    }
    uploads
}
