//! One in-process lock per upload session, so two requests on the same
//! session cannot interleave their appends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Locks keyed by upload id; entries die with their last holder.
#[derive(Default)]
pub(crate) struct UploadLocks {
    map: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

impl UploadLocks {
    /// Wait for and take the lock of upload `id`.
    pub(crate) async fn lock(&self, id: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() > 1024 {
                map.retain(|_, w| w.strong_count() > 0);
            }
            match map.get(id).and_then(Weak::upgrade) {
                Some(l) => l,
                None => {
                    let l = Arc::new(AsyncMutex::new(()));
                    map.insert(id.to_owned(), Arc::downgrade(&l));
                    l
                }
            }
        };
        lock.lock_owned().await
    }
}
