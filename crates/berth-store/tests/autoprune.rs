//! Auto-prune bookkeeping in the database, on SQLite and (with
//! `TEST_DB=postgres` and `TEST_PG_URI`) on PostgreSQL: one instance at a
//! time holds a namespace's claim, a finished run spaces the next, and a
//! pruned row is ended and logged once however many try.
#![allow(clippy::unwrap_used)]

mod common;

use berth_store::metadata::{EndTag, NewAccount, NewAuditEntry, NewManifest, PolicyCheck};
use berth_store::now_ms;
use common::databases;

const NO_POLICY: PolicyCheck<'static> = &|_| false;

#[tokio::test]
async fn one_claim_at_a_time_and_runs_are_spaced() {
    for (db, _dir) in databases().await {
        let ns = db
            .create_account(&NewAccount {
                name: "acme",
                kind: "org",
                email: None,
                secret_hash: None,
                super_user: false,
                owner_id: None,
                description: "",
            })
            .await
            .unwrap();
        let until = now_ms() + 60_000;
        assert!(db.claim_prune_namespace(ns, "a", until, 0).await.unwrap());
        assert!(
            !db.claim_prune_namespace(ns, "b", until, 0).await.unwrap(),
            "a holds it"
        );
        // Releasing with another token changes nothing.
        db.release_prune_namespace(ns, "b").await.unwrap();
        assert!(!db.claim_prune_namespace(ns, "b", until, 0).await.unwrap());
        db.release_prune_namespace(ns, "a").await.unwrap();
        // Just pruned: a scheduled pass (a gap of a minute) waits, an
        // immediate one does not.
        assert!(!db.claim_prune_namespace(ns, "b", until, 60_000).await.unwrap());
        assert!(db.claim_prune_namespace(ns, "b", until, 0).await.unwrap());
        // A lapsed claim is taken over.
        db.release_prune_namespace(ns, "b").await.unwrap();
        assert!(db.claim_prune_namespace(ns, "c", now_ms() - 1, 0).await.unwrap());
        assert!(db.claim_prune_namespace(ns, "d", until, 0).await.unwrap());
    }
}

#[tokio::test]
async fn a_pruned_row_is_ended_and_logged_once() {
    for (db, _dir) in databases().await {
        let repo = db.ensure_repository("acme/app").await.unwrap();
        let m = NewManifest {
            digest: format!("sha256:{}", "ab".repeat(32)),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: None,
            subject: None,
            annotations: None,
            content: b"{}".to_vec(),
            blobs: vec![],
            children: vec![],
            optional_children: vec![],
            tag_expires_after_ms: None,
            tag_immutable: false,
        };
        db.put_manifest(repo, &m, Some("v1"), NO_POLICY, &[])
            .await
            .unwrap();
        let tags = db.prunable_tags(repo).await.unwrap();
        assert_eq!(tags.len(), 1);
        let entry = NewAuditEntry {
            kind: "autoprune_tag_delete".into(),
            performer: None,
            performer_kind: None,
            namespace: Some("acme".into()),
            repository: Some("app".into()),
            ip: None,
            metadata: "{}".into(),
            created_ms: now_ms(),
        };
        let held: PolicyCheck<'_> = &|t| t == "v1";
        assert_eq!(
            db.end_pruned_tag(repo, tags[0].id, held, &entry).await.unwrap(),
            EndTag::Immutable
        );
        assert_eq!(
            db.end_pruned_tag(repo, tags[0].id, NO_POLICY, &entry)
                .await
                .unwrap(),
            EndTag::Ended
        );
        assert_eq!(
            db.end_pruned_tag(repo, tags[0].id, NO_POLICY, &entry)
                .await
                .unwrap(),
            EndTag::Missing
        );
        assert!(db.prunable_tags(repo).await.unwrap().is_empty());
        let q = berth_store::metadata::AuditQuery {
            namespace: Some("acme".into()),
            start_ms: 0,
            end_ms: i64::MAX,
            ..Default::default()
        };
        assert_eq!(db.audit_entries(&q, None, 10).await.unwrap().len(), 1);
    }
}
