//! `DISTRIBUTED_STORAGE_CONFIG` entries, in Quay's shape:
//! `id: [DriverName, {params}]` with Quay's parameter names.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One storage location.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageDriver {
    /// `[LocalStorage, {storage_path: DIR}]`: a directory on this machine.
    Local(LocalStorage),
    /// `[S3Storage, {s3_bucket: ..., ...}]`: an S3-compatible bucket.
    S3(S3Storage),
}

/// Parameters of `LocalStorage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalStorage {
    /// Directory holding blobs and staged uploads.
    pub storage_path: PathBuf,
}

/// Parameters of `S3Storage` (Quay's names).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Storage {
    /// Bucket name.
    pub s3_bucket: String,
    /// Key prefix inside the bucket.
    #[serde(default)]
    pub storage_path: String,
    /// Access key id (else `AWS_ACCESS_KEY_ID` and the usual AWS sources).
    #[serde(default)]
    pub s3_access_key: Option<String>,
    /// Secret access key.
    #[serde(default)]
    pub s3_secret_key: Option<String>,
    /// Region (default `us-east-1`).
    #[serde(default)]
    pub s3_region: Option<String>,
    /// Full endpoint URL of an S3-compatible server, e.g.
    /// `http://127.0.0.1:9000`; AWS when neither this nor `host` is set.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Server host name (HTTPS), when `endpoint_url` is not given.
    #[serde(default)]
    pub host: Option<String>,
    /// Server port with `host`.
    #[serde(default)]
    pub port: Option<u16>,
}

impl fmt::Debug for S3Storage {
    // The secret key never reaches logs or error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Storage")
            .field("s3_bucket", &self.s3_bucket)
            .field("storage_path", &self.storage_path)
            .field("s3_access_key", &self.s3_access_key)
            .field(
                "s3_secret_key",
                &self.s3_secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("s3_region", &self.s3_region)
            .field("endpoint_url", &self.endpoint_url)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish()
    }
}

impl S3Storage {
    /// The server's base URL, if not AWS itself.
    pub fn endpoint(&self) -> Result<Option<String>, String> {
        match (&self.endpoint_url, &self.host) {
            (Some(_), Some(_)) => Err("S3Storage takes endpoint_url or host, not both".into()),
            (Some(url), None) => {
                if url.starts_with("http://") || url.starts_with("https://") {
                    Ok(Some(url.trim_end_matches('/').to_owned()))
                } else {
                    Err(format!(
                        "S3Storage endpoint_url {url:?} must start with http:// or https://"
                    ))
                }
            }
            (None, Some(host)) => Ok(Some(match self.port {
                Some(port) => format!("https://{host}:{port}"),
                None => format!("https://{host}"),
            })),
            (None, None) if self.port.is_some() => Err("S3Storage port needs a host".into()),
            (None, None) => Ok(None),
        }
    }
}

impl<'de> Deserialize<'de> for StorageDriver {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = StorageDriver;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[DriverName, {parameters}] with DriverName LocalStorage or S3Storage")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StorageDriver, A::Error> {
                let name: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let driver = match name.as_str() {
                    "LocalStorage" => seq.next_element()?.map(StorageDriver::Local),
                    "S3Storage" => seq.next_element()?.map(StorageDriver::S3),
                    other => {
                        return Err(de::Error::unknown_variant(other, &["LocalStorage", "S3Storage"]));
                    }
                };
                let driver = driver.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(driver)
            }
        }
        d.deserialize_seq(Entry)
    }
}

impl Serialize for StorageDriver {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        match self {
            StorageDriver::Local(p) => {
                t.serialize_element("LocalStorage")?;
                t.serialize_element(p)?;
            }
            StorageDriver::S3(p) => {
                t.serialize_element("S3Storage")?;
                t.serialize_element(p)?;
            }
        }
        t.end()
    }
}
