//! The core used as a library, without HTTP: operations take a caller,
//! authorize it and write their own usage-log entries, so any front end
//! (the REST API, the console, a CLI command) gets the same log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;

use berth_core::registry::BlobRange;
use berth_core::{Caller, Identity, IdentityConfig, IdentityError, Registry, RegistryConfig, RepositoryName};
use berth_oci::{Algorithm, Digest, Reference};
use berth_store::metadata::{AuditQuery, AuditRow};
use berth_store::{Db, LocalBlobStore, PoolSettings};
use bytes::Bytes;
use futures_util::StreamExt;

/// The services on a fresh SQLite database and directory.
struct Core {
    db: Db,
    identity: Identity,
    registry: Registry,
    dir: std::path::PathBuf,
}

impl Drop for Core {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn core() -> Core {
    let dir = std::env::temp_dir().join(format!("berth-core-boundary-{}", uuid::Uuid::new_v4()));
    let db = Db::open_sqlite(&dir, PoolSettings::default()).await.unwrap();
    let identity = Identity::start(db.clone(), IdentityConfig::default())
        .await
        .unwrap();
    let blobs = Arc::new(LocalBlobStore::open(&dir.join("blobs")).unwrap());
    let registry = Registry::new(db.clone(), blobs, RegistryConfig::default(), identity.clone());
    Core {
        db,
        identity,
        registry,
        dir,
    }
}

/// Every usage-log entry of `namespace`, after the queue was written out.
async fn log_of(core: &Core, namespace: &str) -> Vec<AuditRow> {
    core.identity.audit().flush().await;
    let q = AuditQuery {
        namespace: Some(namespace.to_owned()),
        start_ms: 0,
        end_ms: i64::MAX,
        ..AuditQuery::default()
    };
    core.db.audit_entries(&q, None, 1000).await.unwrap()
}

async fn upload(registry: &Registry, repo: &RepositoryName, content: &[u8]) -> Digest {
    let digest = Digest::of(Algorithm::Sha256, content);
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(content))]).boxed();
    registry
        .upload_monolithic(repo, &digest, BlobRange::default(), body)
        .await
        .unwrap();
    digest
}

#[tokio::test]
async fn operations_log_themselves_without_http() {
    let core = core().await;
    core.identity
        .create_user("alice", Some("alice@example.com"), "alice-password", false)
        .await
        .unwrap();
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let alice = core
        .identity
        .login("alice", "alice-password", Some(ip))
        .await
        .unwrap();
    let caller = Caller::new(alice, Some(ip));

    // An identity operation.
    core.identity
        .create_organization(&caller, "acme", None)
        .await
        .unwrap();

    // Registry operations: push, pull and delete a tag.
    let app = RepositoryName::new("acme/app").unwrap();
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = upload(&core.registry, &app, config).await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let tag = Reference::parse("v1").unwrap();
    let pushed = core
        .registry
        .push_manifest(
            &caller,
            &app,
            &tag,
            Some("application/vnd.oci.image.manifest.v1+json"),
            manifest.into_bytes(),
        )
        .await
        .unwrap();
    // Looking at the manifest is authorized as a pull and not logged.
    let details = core
        .registry
        .manifest_details(&caller, &app, &pushed.digest)
        .await
        .unwrap();
    assert_eq!(details.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(details.config.unwrap().digest, config_digest.to_string());
    assert!(
        core.registry
            .manifest_details(&Caller::anonymous(Some(ip)), &app, &pushed.digest)
            .await
            .is_err(),
        "a private repository's manifest is refused to others"
    );
    core.registry
        .pull_manifest(&caller, &app, &tag, |_| true)
        .await
        .unwrap();
    core.registry.remove_manifest(&caller, &app, &tag).await.unwrap();

    let log = log_of(&core, "acme").await;
    let kinds: Vec<&str> = log.iter().rev().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["org_create", "push_repo", "pull_repo", "delete_tag"]);
    for entry in &log {
        assert_eq!(entry.performer.as_deref(), Some("alice"), "{}", entry.kind);
        assert_eq!(entry.ip.as_deref(), Some("192.0.2.7"), "{}", entry.kind);
    }
    let push = log.iter().find(|e| e.kind == "push_repo").unwrap();
    assert_eq!(push.repository.as_deref(), Some("app"));
    let metadata: serde_json::Value = serde_json::from_str(&push.metadata).unwrap();
    assert_eq!(metadata["tag"], "v1");
    assert_eq!(metadata["manifest_digest"], pushed.digest.to_string());
}

#[tokio::test]
async fn a_refused_caller_changes_nothing_and_logs_nothing() {
    let core = core().await;
    let err = core
        .identity
        .create_organization(&Caller::anonymous(None), "acme", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::Denied(_) | IdentityError::Unauthenticated(_)),
        "{err:?}"
    );
    assert!(core.identity.account("acme").await.unwrap().is_none());
    assert!(log_of(&core, "acme").await.is_empty());
}
