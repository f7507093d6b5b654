//! The database side of deleting blob objects safely, step by step, on
//! SQLite and (with `TEST_DB=postgres` and `TEST_PG_URI`) on PostgreSQL:
//! pins keep garbage collection off a digest, claimed deletions keep
//! uploads waiting, and recording a blob cancels the deletion of its
//! object.
#![allow(clippy::unwrap_used)]

mod common;

use berth_store::metadata::{CommitBlob, DeletionClaim};
use berth_store::{StoreError, now_ms};
use common::databases;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn commit<'a>(repo: i64, location: Option<&'a str>, pin: &'a str) -> CommitBlob<'a> {
    CommitBlob {
        repository_id: repo,
        digest: DIGEST,
        size: 10,
        location,
        upload: None,
        replace: false,
        pin,
    }
}

fn later() -> i64 {
    now_ms() + 60_000
}

#[tokio::test]
async fn pins_and_deletions_exclude_each_other() {
    for (db, _dir) in databases().await {
        let repo = db.ensure_repository("pins/test").await.unwrap();
        assert!(db.pin_blob(DIGEST, "p1", later()).await.unwrap());
        assert!(db.commit_blob(&commit(repo, None, "p1")).await.unwrap());
        assert_eq!(db.delete_garbage_blob(DIGEST).await.unwrap(), None, "linked");
        assert!(db.unlink_blob(repo, DIGEST).await.unwrap());

        // A live pin keeps the row.
        assert!(db.pin_blob(DIGEST, "p2", later()).await.unwrap());
        assert_eq!(db.delete_garbage_blob(DIGEST).await.unwrap(), None, "pinned");
        db.unpin_blob("p2").await.unwrap();
        assert_eq!(db.delete_garbage_blob(DIGEST).await.unwrap(), Some(10));
        assert_eq!(db.queued_deletion_locations().await.unwrap().len(), 1);

        // An upload pins the digest before the deletion is claimed: no
        // claim; its commit cancels the deletion of the object it records.
        assert!(db.pin_blob(DIGEST, "p3", later()).await.unwrap());
        assert_eq!(
            db.claim_blob_deletion(DIGEST, later()).await.unwrap(),
            DeletionClaim::Skipped
        );
        assert!(db.commit_blob(&commit(repo, None, "p3")).await.unwrap());
        assert!(db.queued_deletion_locations().await.unwrap().is_empty());

        // A claimed deletion keeps uploads from pinning until it is done.
        assert!(db.unlink_blob(repo, DIGEST).await.unwrap());
        assert_eq!(db.delete_garbage_blob(DIGEST).await.unwrap(), Some(10));
        let until = later();
        assert_eq!(
            db.claim_blob_deletion(DIGEST, until).await.unwrap(),
            DeletionClaim::Claimed(None)
        );
        assert!(!db.pin_blob(DIGEST, "p4", later()).await.unwrap());
        assert!(db.finish_blob_deletion(DIGEST, until).await.unwrap());
        assert!(db.pin_blob(DIGEST, "p4", later()).await.unwrap());

        // A pin that lapsed cannot commit: the object may be gone.
        assert!(db.pin_blob(DIGEST, "p5", now_ms() - 1).await.unwrap());
        assert!(matches!(
            db.commit_blob(&commit(repo, None, "p5")).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(!db.renew_blob_pin("p5", later()).await.unwrap());
        assert!(db.renew_blob_pin("p4", later()).await.unwrap());
        assert!(db.commit_blob(&commit(repo, None, "p4")).await.unwrap());
        assert_eq!(db.remove_lapsed_pins().await.unwrap(), 1);
    }
}

#[tokio::test]
async fn a_duplicate_copy_is_queued_and_a_recorded_object_is_not_deleted() {
    for (db, _dir) in databases().await {
        let repo = db.ensure_repository("pins/dup").await.unwrap();
        assert!(db.pin_blob(DIGEST, "a", later()).await.unwrap());
        assert!(db.pin_blob(DIGEST, "b", later()).await.unwrap());
        assert!(db.commit_blob(&commit(repo, None, "a")).await.unwrap());
        // The second copy, assembled at a key of its own, loses.
        assert!(
            !db.commit_blob(&commit(repo, Some("blobs/by-upload/b"), "b"))
                .await
                .unwrap()
        );
        assert_eq!(
            db.queued_deletion_locations().await.unwrap(),
            vec![(DIGEST.to_owned(), Some("blobs/by-upload/b".to_owned()))]
        );
        // Its deletion is claimable (the row records the other object)...
        let until = later();
        assert_eq!(
            db.claim_blob_deletion(DIGEST, until).await.unwrap(),
            DeletionClaim::Claimed(Some("blobs/by-upload/b".into()))
        );
        assert!(db.finish_blob_deletion(DIGEST, until).await.unwrap());
        // ...while a queued deletion of the recorded object is dropped.
        assert!(db.pin_blob(DIGEST, "c", later()).await.unwrap());
        assert!(
            !db.commit_blob(&commit(repo, Some("blobs/by-upload/c"), "c"))
                .await
                .unwrap()
        );
        assert_eq!(
            db.blob_locations().await.unwrap(),
            vec![(DIGEST.to_owned(), None)]
        );
        assert!(db.unlink_blob(repo, DIGEST).await.unwrap());
        assert_eq!(
            db.delete_garbage_blob(DIGEST).await.unwrap(),
            None,
            "another deletion is queued"
        );
    }
}
