//! Upload session leases, on SQLite and (with `TEST_DB=postgres` and
//! `TEST_PG_URI`) on PostgreSQL: one holder at a time, lapsed leases taken
//! over, and expired sessions handed to exactly one of many concurrent
//! cleanup workers.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use berth_store::metadata::{Claim, Lease};
use berth_store::now_ms;
use common::databases;

fn lease(token: &str, from_now_ms: i64) -> Lease<'_> {
    Lease {
        token,
        until_ms: now_ms() + from_now_ms,
    }
}

#[tokio::test]
async fn one_holder_at_a_time_and_lapsed_leases_are_taken_over() {
    for (db, _dir) in databases().await {
        let repo = db.ensure_repository("lease/test").await.unwrap();
        db.create_upload("a1", repo, "sha256", b"h0", i64::MAX, None)
            .await
            .unwrap();
        assert!(matches!(
            db.claim_upload("a1", lease("t1", 60_000)).await.unwrap(),
            Claim::Claimed(_)
        ));
        assert!(matches!(
            db.claim_upload("a1", lease("t2", 60_000)).await.unwrap(),
            Claim::Busy
        ));
        assert!(matches!(
            db.claim_upload("nope", lease("t2", 60_000)).await.unwrap(),
            Claim::Missing
        ));
        // Only the holder may write, and only from the offset it saw.
        assert!(!db.checkpoint_upload("a1", "t2", b"s").await.unwrap());
        assert!(
            !db.advance_upload("a1", "t2", 0, 5, b"h5", b"s5", i64::MAX)
                .await
                .unwrap()
        );
        assert!(
            !db.advance_upload("a1", "t1", 3, 5, b"h5", b"s5", i64::MAX)
                .await
                .unwrap()
        );
        assert!(db.checkpoint_upload("a1", "t1", b"s0").await.unwrap());
        assert!(
            db.advance_upload("a1", "t1", 0, 5, b"h5", b"s5", i64::MAX)
                .await
                .unwrap()
        );
        // Advancing released the lease.
        let Claim::Claimed(row) = db.claim_upload("a1", lease("t2", -1)).await.unwrap() else {
            panic!("free after advance");
        };
        assert_eq!(
            (row.size, row.hash_state.as_slice(), row.store_state.as_slice()),
            (5, &b"h5"[..], &b"s5"[..])
        );
        // t2's lease has already lapsed (its holder died): t3 takes over and
        // t2 can no longer renew, checkpoint or advance.
        assert!(matches!(
            db.claim_upload("a1", lease("t3", 60_000)).await.unwrap(),
            Claim::Claimed(_)
        ));
        assert!(!db.renew_upload_lease("a1", lease("t2", 60_000)).await.unwrap());
        assert!(!db.checkpoint_upload("a1", "t2", b"x").await.unwrap());
        assert!(db.renew_upload_lease("a1", lease("t3", 60_000)).await.unwrap());
        db.release_upload("a1", "t2").await.unwrap();
        assert!(matches!(
            db.claim_upload("a1", lease("t4", 60_000)).await.unwrap(),
            Claim::Busy
        ));
        db.release_upload("a1", "t3").await.unwrap();
        assert!(matches!(
            db.claim_upload("a1", lease("t4", 60_000)).await.unwrap(),
            Claim::Claimed(_)
        ));
        assert!(!db.delete_leased_upload("a1", "t3").await.unwrap());
        assert!(db.delete_leased_upload("a1", "t4").await.unwrap());
    }
}

#[tokio::test]
async fn each_expired_session_goes_to_exactly_one_worker() {
    for (db, _dir) in databases().await {
        let repo = db.ensure_repository("lease/expired").await.unwrap();
        let mut expired = BTreeSet::new();
        for i in 0..60 {
            let id = format!("e{i}");
            db.create_upload(&id, repo, "sha256", b"h", 0, None)
                .await
                .unwrap();
            expired.insert(id);
        }
        // Not yet expired, or expired but held by a live request.
        db.create_upload("fresh", repo, "sha256", b"h", i64::MAX, None)
            .await
            .unwrap();
        db.create_upload("busy", repo, "sha256", b"h", 0, Some(lease("live", 60_000)))
            .await
            .unwrap();
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let db = db.clone();
                tokio::spawn(async move {
                    let token = format!("worker{w}");
                    let mut mine = Vec::new();
                    loop {
                        let batch = db.claim_expired_uploads(lease(&token, 60_000), 7).await.unwrap();
                        if batch.is_empty() {
                            return mine;
                        }
                        mine.extend(batch.into_iter().map(|(id, _)| id));
                    }
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for w in workers {
            claimed.extend(w.await.unwrap());
        }
        let unique: BTreeSet<String> = claimed.iter().cloned().collect();
        assert_eq!(unique.len(), claimed.len(), "no session claimed twice");
        assert_eq!(unique, expired);
    }
}
