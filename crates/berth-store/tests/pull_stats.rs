//! Pull statistics in the database, on SQLite and (with `TEST_DB=postgres`
//! and `TEST_PG_URI`) on PostgreSQL: increments from several writers add
//! up, pulls of things that are gone are dropped, the tags not pulled since
//! a time are found, and statistics go with their tags and manifests.
#![allow(clippy::unwrap_used)]

mod common;

use berth_store::metadata::{
    DeleteManifest, EndTag, ManifestPulls, NewManifest, PolicyCheck, RepositorySweep, TagPulls,
};
use berth_store::{Db, now_ms};
use common::databases;

/// No immutability policy holds any tag here.
const NO_POLICY: PolicyCheck<'static> = &|_| false;

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

async fn manifest(db: &Db, repo: i64, n: u8, tags: &[&str]) {
    let m = NewManifest {
        digest: digest(n),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: None,
        subject: None,
        annotations: None,
        content: format!("{{\"n\":{n}}}").into_bytes(),
        blobs: vec![],
        children: vec![],
        optional_children: vec![],
        tag_expires_after_ms: None,
        tag_immutable: false,
    };
    db.put_manifest(repo, &m, None, NO_POLICY, &[]).await.unwrap();
    for tag in tags {
        db.put_manifest(repo, &m, Some(tag), NO_POLICY, &[])
            .await
            .unwrap();
    }
}

fn tag(repo: &str, tag: &str, count: i64, last_ms: i64, manifest: u8) -> TagPulls {
    TagPulls {
        repository: repo.into(),
        tag: tag.into(),
        count,
        last_ms,
        manifest_digest: digest(manifest),
    }
}

fn man(repo: &str, n: u8, count: i64, last_ms: i64) -> ManifestPulls {
    ManifestPulls {
        repository: repo.into(),
        digest: digest(n),
        count,
        last_ms,
    }
}

#[tokio::test]
async fn increments_add_up_and_idle_tags_are_found() {
    for (db, _dir) in databases().await {
        let repo = db.ensure_repository("stats/app").await.unwrap();
        manifest(&db, repo, 1, &["old", "pulled"]).await;
        manifest(&db, repo, 2, &["recent", "gone"]).await;
        assert_eq!(db.end_tag(repo, "gone", NO_POLICY).await.unwrap(), EndTag::Ended);
        // Later than every tag's start.
        let t = now_ms() + 10_000;

        // Two writers (instances) add their increments.
        let first = [
            tag("stats/app", "pulled", 2, t + 5000, 1),
            tag("stats/app", "old", 1, t - 1000, 1),
            tag("stats/app", "gone", 1, t - 1000, 2),
            tag("stats/app", "never-existed", 7, t, 1),
            tag("stats/missing", "old", 7, t, 1),
        ];
        let first_m = [
            man("stats/app", 1, 3, t - 1000),
            man("stats/app", 9, 7, t),
            man("stats/missing", 1, 7, t),
        ];
        db.add_pulls(&first, &first_m).await.unwrap();
        db.add_pulls(
            &[tag("stats/app", "pulled", 3, t + 1000, 2)],
            &[man("stats/app", 1, 1, t + 2000)],
        )
        .await
        .unwrap();

        let pulled = db.tag_pulls(repo, "pulled").await.unwrap().unwrap();
        assert_eq!(pulled.pull_count, 5);
        assert_eq!(pulled.last_pull_ms, t + 5000, "the latest pull stays");
        assert_eq!(
            pulled.manifest_digest,
            digest(1),
            "the manifest of the latest pull"
        );
        assert_eq!(
            db.manifest_pulls(repo, &digest(1)).await.unwrap(),
            Some((4, t + 2000))
        );
        assert_eq!(db.tag_pulls(repo, "never-existed").await.unwrap(), None);
        assert_eq!(db.manifest_pulls(repo, &digest(9)).await.unwrap(), None);
        let listed = db.tags_pulls(repo, &["old", "recent", "pulled"]).await.unwrap();
        let mut names: Vec<_> = listed
            .iter()
            .map(|r| (r.tag_name.as_str(), r.pull_count))
            .collect();
        names.sort();
        assert_eq!(names, [("old", 1), ("pulled", 5)]);

        // Live tags set before t and not pulled since: `old` (pulled
        // before) and `recent` (never); not `gone` (ended).
        let idle = db.tags_not_pulled_since(repo, t).await.unwrap();
        let idle: Vec<_> = idle.iter().map(|i| (i.name.as_str(), i.last_pull_ms)).collect();
        assert_eq!(idle, [("old", Some(t - 1000)), ("recent", None)]);
        assert!(
            db.tags_not_pulled_since(repo, 0).await.unwrap().is_empty(),
            "all set later"
        );

        // Garbage collection removes the ended row of `gone` (window 0),
        // and its statistics with it.
        let sweep = RepositorySweep {
            now_ms: now_ms() + 1000,
            default_window_s: 0,
            grace_cutoff_ms: 0,
            max_manifests: 100,
        };
        let done = db
            .collect_repository(repo, &sweep, &|_| Vec::new())
            .await
            .unwrap();
        assert_eq!(done.tag_rows, 1);
        assert_eq!(db.tag_pulls(repo, "gone").await.unwrap(), None);
        assert!(db.tag_pulls(repo, "old").await.unwrap().is_some());

        // Deleting a manifest deletes its tags and every statistic of them.
        assert!(matches!(
            db.delete_manifest(repo, &digest(1), NO_POLICY).await.unwrap(),
            DeleteManifest::Deleted
        ));
        assert_eq!(db.tag_pulls(repo, "old").await.unwrap(), None);
        assert_eq!(db.tag_pulls(repo, "pulled").await.unwrap(), None);
        assert_eq!(db.manifest_pulls(repo, &digest(1)).await.unwrap(), None);
    }
}
