//! Parts of a multipart upload sent while the next ones are received.
//!
//! Sending a part waits on the S3 server; receiving (and hashing) the next
//! one waits on the client. Each part is sent by its own task, so the two
//! overlap: a big upload runs near the slower of the two rates, not at the
//! rate of doing both in turn. At most [`IN_FLIGHT`] parts are being sent
//! at once, which bounds an upload's memory.

use std::collections::VecDeque;
use std::sync::Arc;

use object_store::PutPayload;
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use tokio::task::JoinHandle;

use crate::StoreError;

/// Parts of one upload being sent at once; with the part being received,
/// an upload holds at most `IN_FLIGHT + 1` parts in memory.
pub(super) const IN_FLIGHT: usize = 2;

/// Parts sent and not yet acknowledged, in part-number order.
pub(super) struct PartsInFlight {
    s3: Arc<AmazonS3>,
    path: ObjectPath,
    upload: String,
    sending: VecDeque<JoinHandle<Result<PartId, object_store::Error>>>,
}

impl PartsInFlight {
    /// Parts of multipart upload `upload` of the object at `path`.
    pub(super) fn new(s3: Arc<AmazonS3>, path: ObjectPath, upload: String) -> PartsInFlight {
        PartsInFlight {
            s3,
            path,
            upload,
            sending: VecDeque::new(),
        }
    }

    /// How many parts are being sent.
    pub(super) fn len(&self) -> usize {
        self.sending.len()
    }

    /// Start sending part number `index`.
    pub(super) fn send(&mut self, index: usize, payload: PutPayload) {
        let (s3, path, upload) = (self.s3.clone(), self.path.clone(), self.upload.clone());
        self.sending.push_back(tokio::spawn(async move {
            s3.put_part(&path, &upload, index, payload).await
        }));
    }

    /// The ETag of the oldest part being sent, once the server has it.
    pub(super) async fn next(&mut self) -> Result<Option<String>, StoreError> {
        let Some(handle) = self.sending.pop_front() else {
            return Ok(None);
        };
        match handle.await {
            Ok(part) => Ok(Some(part?.content_id)),
            Err(e) => Err(StoreError::Io(std::io::Error::other(format!(
                "sending a part: {e}"
            )))),
        }
    }
}

impl Drop for PartsInFlight {
    // A failed or abandoned append stops its parts: the session's state
    // does not list them, and the multipart upload is aborted with it.
    fn drop(&mut self) {
        for handle in &self.sending {
            handle.abort();
        }
    }
}
