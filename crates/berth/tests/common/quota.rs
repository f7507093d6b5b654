//! Helpers of the quota tests: `/api/v1` calls as one caller, quotas set
//! up through the API, images pushed from given blobs, refusals and the
//! usage log read back.
#![allow(clippy::unwrap_used)]

use reqwest::Method;
use serde_json::{Value, json};

use super::{OCI_MANIFEST, Server, image_manifest, random_bytes, sha256, unique_seed};

/// Superusers may change organization quotas only with full access; the
/// scanner is not needed.
pub const FULL_ACCESS: &str = "FEATURE_SUPERUSERS_FULL_ACCESS: true\nFEATURE_SECURITY_SCANNER: false\n";

/// `/api/v1` as one caller; each call returns the status and the JSON body
/// (`null` if there is none).
pub struct Caller<'a> {
    s: &'a Server,
    client: reqwest::Client,
}

impl<'a> Caller<'a> {
    /// As the superuser.
    pub fn admin(s: &'a Server) -> Caller<'a> {
        Caller {
            s,
            client: s.client.clone(),
        }
    }

    /// Without credentials.
    pub fn anonymous(s: &'a Server) -> Caller<'a> {
        Caller {
            s,
            client: s.anon.clone(),
        }
    }

    /// As `user` (password `<user>-password`), creating the user.
    pub fn user(s: &'a Server, user: &str) -> Caller<'a> {
        let password = format!("{user}-password");
        s.create_user(user, &password, false);
        Caller {
            s,
            client: s.client_as(user, &password),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, self.s.url(&format!("/api/v1{path}")));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

/// Create organization `name` as the superuser.
pub async fn create_org(s: &Server, name: &str) {
    let (status, body) = Caller::admin(s)
        .post("/organization/", json!({ "name": name }))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Give organization `ns` a quota of `bytes` with `limits` (type,
/// percent); returns the quota's id.
pub async fn set_quota(s: &Server, ns: &str, bytes: u64, limits: &[(&str, u64)]) -> i64 {
    let admin = Caller::admin(s);
    let path = format!("/organization/{ns}/quota");
    let (status, body) = admin.post(&path, json!({ "limit_bytes": bytes })).await;
    assert_eq!(status, 201, "{body}");
    let id = admin.get(&path).await.1[0]["id"].as_i64().unwrap();
    for (kind, percent) in limits {
        let limit = json!({ "type": kind, "threshold_percent": percent });
        let (status, body) = admin.post(&format!("{path}/{id}/limit"), limit).await;
        assert_eq!(status, 201, "{body}");
    }
    id
}

/// The usage the quota view of `ns` reports (it must have a quota).
pub async fn usage(s: &Server, ns: &str) -> u64 {
    let (status, list) = Caller::admin(s)
        .get(&format!("/superuser/organization/{ns}/quota"))
        .await;
    assert_eq!(status, 200, "{list}");
    list[0]["quota_report"]["quota_bytes"].as_u64().unwrap()
}

/// A small JSON image config, unique per call.
pub fn config() -> Vec<u8> {
    format!(
        r#"{{"architecture":"amd64","os":"linux","seed":{}}}"#,
        unique_seed()
    )
    .into_bytes()
}

/// Random layer bytes of `len`.
pub fn layer(len: usize) -> Vec<u8> {
    random_bytes(len, unique_seed())
}

/// Upload `blobs` to `repo` and put a manifest with the first as config and
/// the rest as layers under `tag`; returns the manifest response and digest.
pub async fn push(s: &Server, repo: &str, tag: &str, blobs: &[&[u8]]) -> (reqwest::Response, String) {
    let mut digests = Vec::new();
    for b in blobs {
        digests.push(s.push_blob(repo, b).await);
    }
    let layers: Vec<(String, usize)> = digests[1..]
        .iter()
        .zip(&blobs[1..])
        .map(|(d, b)| (d.clone(), b.len()))
        .collect();
    let manifest = image_manifest(&digests[0], blobs[0].len(), &layers, None);
    let r = s.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
    (r, sha256(&manifest))
}

/// [`push`] that must succeed; returns the manifest digest.
pub async fn pushed(s: &Server, repo: &str, tag: &str, blobs: &[&[u8]]) -> String {
    let (r, digest) = push(s, repo, tag, blobs).await;
    assert_eq!(r.status(), 201, "push {repo}:{tag}: {}", r.text().await.unwrap());
    digest
}

/// The message of a `/v2` request refused for quota, checking it is
/// Quay's 403 `DENIED`.
pub async fn denied(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED", "{body}");
    body["errors"][0]["message"].as_str().unwrap().to_owned()
}

/// Usage-log entries of namespace `ns`, oldest first: (kind, metadata).
pub async fn audit(s: &Server, ns: &str) -> Vec<(String, Value)> {
    let db = match s.db_uri() {
        Some(uri) => berth_store::Db::open(uri, Default::default()).await.unwrap(),
        None => berth_store::Db::open_sqlite(s.data_dir.path(), Default::default())
            .await
            .unwrap(),
    };
    let query = berth_store::metadata::AuditQuery {
        namespace: Some(ns.into()),
        end_ms: i64::MAX,
        ..Default::default()
    };
    let rows = db.audit_entries(&query, None, 1000).await.unwrap();
    db.close().await;
    rows.into_iter()
        .rev()
        .map(|r| (r.kind, serde_json::from_str(&r.metadata).unwrap()))
        .collect()
}

/// Wait until `ns`'s usage log holds `count` entries of `kind` (pushes
/// are logged in batches); returns the metadata of the first.
pub async fn logged(s: &Server, ns: &str, kind: &str, count: usize) -> Value {
    for _ in 0..100 {
        let entries: Vec<Value> = audit(s, ns)
            .await
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, m)| m)
            .collect();
        if entries.len() >= count {
            assert_eq!(entries.len(), count, "{kind} entries: {entries:?}");
            return entries[0].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never logged: {count} {kind} in {ns}");
}
