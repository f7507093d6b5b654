//! The source of `repo_image_expiry` notices, driven through the core on
//! SQLite: the tags of a repository that a planned expiry ends or a policy
//! prunes within N days, with when; immutable tags are never listed.
//! Times are moved in the database, never waited for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use berth_core::registry::{
    AutopruneSettings, BlobRange, ExpiryReason, PruneScope, PruneSpec, PruneValue, TagChange,
};
use berth_core::{Caller, Identity, IdentityConfig, Registry, RegistryConfig, RepositoryName, TagName};
use berth_oci::{Algorithm, Digest, Reference};
use berth_store::{Db, LocalBlobStore, PoolSettings, now_ms};
use bytes::Bytes;
use futures_util::StreamExt;

const DAY: i64 = 86_400_000;

async fn push(registry: &Registry, caller: &Caller, repo: &RepositoryName, tag: &str) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","tag":"{tag}"}}"#);
    let digest = Digest::of(Algorithm::Sha256, config.as_bytes());
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(config.clone()))]).boxed();
    registry
        .upload_monolithic(repo, &digest, BlobRange::default(), body)
        .await
        .unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    registry
        .push_manifest(
            caller,
            repo,
            &Reference::parse(tag).unwrap(),
            Some("application/vnd.oci.image.manifest.v1+json"),
            manifest.into_bytes(),
        )
        .await
        .unwrap();
}

/// Set when live tag `tag` started (moves time for it).
async fn started(db: &Db, tag: &str, ms: i64) {
    let Db::Sqlite { write, .. } = db else {
        unreachable!("SQLite")
    };
    sqlx::query("UPDATE tags SET start_ms = $1 WHERE name = $2 AND end_ms IS NULL")
        .bind(ms)
        .bind(tag)
        .execute(write)
        .await
        .unwrap();
}

#[tokio::test]
async fn expiring_and_pruned_tags_are_listed_with_their_dates() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_sqlite(dir.path(), PoolSettings::default())
        .await
        .unwrap();
    let identity = Identity::start(db.clone(), IdentityConfig::default())
        .await
        .unwrap();
    let blobs = Arc::new(LocalBlobStore::open(&dir.path().join("blobs")).unwrap());
    // The registry-wide default: tags go two weeks after they were set.
    let config = RegistryConfig {
        autoprune: AutopruneSettings {
            default_policy: Some(
                PruneSpec::parse("creation_date", &PruneValue::Text("2w".into()), None, None).unwrap(),
            ),
            ..AutopruneSettings::default()
        },
        ..RegistryConfig::default()
    };
    let registry = Registry::new(db.clone(), blobs, config, identity.clone());
    identity
        .create_user("alice", None, "alice-password", false)
        .await
        .unwrap();
    let alice = identity.login("alice", "alice-password", None).await.unwrap();
    let caller = Caller::new(alice, None);
    let repo = RepositoryName::new("alice/app").unwrap();
    for tag in ["fresh", "aging", "planned", "kept", "held"] {
        push(&registry, &caller, &repo, tag).await;
    }
    let now = now_ms();
    started(&db, "aging", now - 12 * DAY).await;
    started(&db, "held", now - 13 * DAY).await;
    // `planned` expires in a day by its planned expiry (well before the
    // default policy would prune it).
    let change = TagChange {
        expiration_ms: Some(Some(now + DAY)),
        ..TagChange::default()
    };
    registry
        .change_tag(&caller, &repo, &TagName::new("planned").unwrap(), &change)
        .await
        .unwrap();
    let immutable = TagChange {
        immutable: Some(true),
        ..TagChange::default()
    };
    registry
        .change_tag(&caller, &repo, &TagName::new("held").unwrap(), &immutable)
        .await
        .unwrap();

    let soon = registry.tags_expiring_within(&repo, 3).await.unwrap();
    assert_eq!(
        (
            soon.repository.as_str(),
            soon.namespace.as_str(),
            soon.name.as_str()
        ),
        ("alice/app", "alice", "app")
    );
    let names: Vec<&str> = soon.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["planned", "aging"], "{soon:?}");
    assert_eq!(soon.tags[0].reason, ExpiryReason::Expiration);
    assert_eq!(soon.tags[1].reason, ExpiryReason::Prune(None));
    // `aging` was set 12 days ago: the default prunes it in 2 days.
    let in_two_days = soon.tags[1].expires_ms - now;
    assert!(
        (2 * DAY - 60_000..=2 * DAY).contains(&in_two_days),
        "{in_two_days}"
    );

    // A namespace policy replaces the default: keep the 2 newest tags.
    let spec = PruneSpec::parse(
        "number_of_tags",
        &PruneValue::Count(2),
        Some("kept|fresh|aging"),
        None,
    )
    .unwrap();
    let scope = PruneScope::Namespace(berth_core::Namespace::new("alice").unwrap());
    let uuid = registry
        .create_prune_policy(&caller, &scope, &spec)
        .await
        .unwrap();
    let soon = registry.tags_expiring_within(&repo, 3).await.unwrap();
    let listed: Vec<(&str, &ExpiryReason)> = soon.tags.iter().map(|t| (t.name.as_str(), &t.reason)).collect();
    assert_eq!(
        listed,
        [
            ("aging", &ExpiryReason::Prune(Some(uuid))),
            ("planned", &ExpiryReason::Expiration)
        ],
        "{soon:?}"
    );
    // Nothing within zero days but what is due now.
    let now_due = registry.tags_expiring_within(&repo, 0).await.unwrap();
    assert_eq!(now_due.tags.len(), 1);
}
