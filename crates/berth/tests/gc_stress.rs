//! Garbage collection under load: for 60 seconds, several clients push
//! overlapping images (shared layers, some as indexes), move tags to other
//! images and delete tags, while others upload and unlink the same few
//! blobs over and over (so blob rows and objects are deleted and written
//! again all the time), and garbage collection runs with a zero
//! time-machine window in the server's worker and in a loop of `berth gc`
//! processes beside it. Afterwards every live tag pulls completely (each
//! manifest and blob checked against its digest), and stored objects and
//! blob rows agree: no object without a row (other than one queued for
//! deletion) and no row without its object.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::gc::{GcCounts, gc_command, open_db, parse_report, queued_keys, recorded_keys, stored_keys};
use common::{OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, Server, random_bytes, sha256, unique_seed};

/// How long the load runs.
const LOAD: Duration = Duration::from_secs(60);
/// Repositories in two namespaces.
const REPOS: [&str; 4] = ["stress-a/app", "stress-a/web", "stress-b/app", "stress-b/db"];
/// Tag names, few so that pushes move tags often.
const TAGS: [&str; 5] = ["t0", "t1", "t2", "t3", "t4"];
/// Layers every image draws from.
const SHARED_LAYERS: usize = 8;
/// Blobs the unlinking clients upload over and over.
const CHURN_BLOBS: usize = 4;
/// A churn blob large enough for an S3 multipart upload (stored under a
/// key of its own), uploaded every this many rounds.
const BIG_EVERY: u64 = 20;

/// A tiny deterministic random source (xorshift).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        Rng(unique_seed() | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A manifest some client pushed: enough to push it again and to check a
/// pull of it.
#[derive(Clone)]
struct Pushed {
    repo: &'static str,
    media_type: &'static str,
    manifest: Vec<u8>,
    digest: String,
    blobs: Vec<String>,
    children: Vec<Pushed>,
}

#[derive(Default)]
struct Counters {
    images: AtomicU64,
    indexes: AtomicU64,
    moves: AtomicU64,
    deletes: AtomicU64,
    churn_uploads: AtomicU64,
    gc_passes: AtomicU64,
}

struct Load {
    s: Server,
    /// Every blob's bytes by digest.
    contents: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    /// Every manifest pushed, by digest.
    pushed: Mutex<HashMap<String, Pushed>>,
    shared: Vec<String>,
    counters: Counters,
    removed: Mutex<GcCounts>,
    deadline: Instant,
}

impl Load {
    fn running(&self) -> bool {
        Instant::now() < self.deadline
    }

    fn remember(&self, bytes: Vec<u8>) -> String {
        let digest = sha256(&bytes);
        self.contents
            .lock()
            .unwrap()
            .entry(digest.clone())
            .or_insert_with(|| Arc::new(bytes));
        digest
    }

    fn content(&self, digest: &str) -> Arc<Vec<u8>> {
        self.contents.lock().unwrap()[digest].clone()
    }

    /// Upload a blob unless the repository has it, as clients do.
    async fn ensure_blob(&self, repo: &str, digest: &str) {
        let head = self
            .s
            .client
            .head(self.s.url(&format!("/v2/{repo}/blobs/{digest}")))
            .send()
            .await
            .unwrap();
        match head.status().as_u16() {
            200 => {}
            404 => {
                let bytes = self.content(digest);
                let r = self
                    .s
                    .client
                    .post(self.s.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
                    .body(bytes.to_vec())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "upload {digest}: {}", r.text().await.unwrap());
            }
            other => panic!("HEAD {repo} {digest}: {other}"),
        }
    }

    /// Push a manifest with everything it needs, under `tag` or by digest.
    async fn push(&self, m: &Pushed, tag: Option<&str>) {
        for child in &m.children {
            Box::pin(self.push(child, None)).await;
        }
        for blob in &m.blobs {
            self.ensure_blob(m.repo, blob).await;
        }
        let r = self
            .s
            .put_manifest(m.repo, tag.unwrap_or(&m.digest), m.media_type, &m.manifest)
            .await;
        assert_eq!(
            r.status(),
            201,
            "push {} {tag:?}: {}",
            m.repo,
            r.text().await.unwrap()
        );
    }

    /// A new image in `repo`: a config of its own, two or three shared
    /// layers and sometimes one of its own.
    fn new_image(&self, repo: &'static str, rng: &mut Rng) -> Pushed {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","seed":{}}}"#,
            unique_seed()
        )
        .into_bytes();
        let config_len = config.len();
        let config = self.remember(config);
        let mut layers: Vec<String> = Vec::new();
        for _ in 0..2 + rng.below(2) {
            let layer = self.shared[rng.below(SHARED_LAYERS)].clone();
            if !layers.contains(&layer) {
                layers.push(layer);
            }
        }
        if rng.below(2) == 0 {
            layers.push(self.remember(random_bytes(1024 + rng.below(4096), unique_seed())));
        }
        let descs: Vec<String> = layers
            .iter()
            .map(|d| {
                format!(
                    r#"{{"mediaType":"{OCI_LAYER}","digest":"{d}","size":{}}}"#,
                    self.content(d).len()
                )
            })
            .collect();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config}","size":{config_len}}},"layers":[{}]}}"#,
            descs.join(",")
        )
        .into_bytes();
        let mut blobs = vec![config];
        blobs.extend(layers);
        Pushed {
            repo,
            media_type: OCI_MANIFEST,
            digest: sha256(&manifest),
            manifest,
            blobs,
            children: Vec::new(),
        }
    }

    fn new_index(&self, repo: &'static str, rng: &mut Rng) -> Pushed {
        let children = vec![self.new_image(repo, rng), self.new_image(repo, rng)];
        let entries: Vec<String> = children
            .iter()
            .zip(["amd64", "arm64"])
            .map(|(c, arch)| {
                format!(
                    r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
                    c.digest,
                    c.manifest.len()
                )
            })
            .collect();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes();
        Pushed {
            repo,
            media_type: OCI_INDEX,
            digest: sha256(&manifest),
            manifest,
            blobs: Vec::new(),
            children,
        }
    }

    fn record(&self, m: &Pushed) {
        let mut pushed = self.pushed.lock().unwrap();
        for child in &m.children {
            pushed.insert(child.digest.clone(), child.clone());
        }
        pushed.insert(m.digest.clone(), m.clone());
    }

    /// Push new images (one in five an index) under random tags.
    async fn pusher(self: Arc<Self>) {
        let mut rng = Rng::new();
        while self.running() {
            let repo = REPOS[rng.below(REPOS.len())];
            let index = rng.below(5) == 0;
            let m = if index {
                self.new_index(repo, &mut rng)
            } else {
                self.new_image(repo, &mut rng)
            };
            self.push(&m, Some(TAGS[rng.below(TAGS.len())])).await;
            self.record(&m);
            let counter = if index {
                &self.counters.indexes
            } else {
                &self.counters.images
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Point random tags at images pushed earlier (perhaps collected since:
    /// the client pushes whatever the registry lacks again).
    async fn mover(self: Arc<Self>) {
        let mut rng = Rng::new();
        while self.running() {
            let picked = {
                let pushed = self.pushed.lock().unwrap();
                let tops: Vec<&Pushed> = pushed.values().collect();
                (!tops.is_empty()).then(|| tops[rng.below(tops.len())].clone())
            };
            match picked {
                Some(m) => {
                    self.push(&m, Some(TAGS[rng.below(TAGS.len())])).await;
                    self.counters.moves.fetch_add(1, Ordering::Relaxed);
                }
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Delete random live tags.
    async fn deleter(self: Arc<Self>) {
        let mut rng = Rng::new();
        while self.running() {
            let repo = REPOS[rng.below(REPOS.len())];
            let tag = TAGS[rng.below(TAGS.len())];
            let r = self.s.delete(&format!("/v2/{repo}/manifests/{tag}")).await;
            match r.status().as_u16() {
                202 => {
                    self.counters.deletes.fetch_add(1, Ordering::Relaxed);
                }
                404 => {}
                other => panic!("DELETE {repo}:{tag}: {other}"),
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Upload one of a few blobs into a repository of its own, read it
    /// back whole, unlink it: the blob row and its object become garbage at
    /// once, while the other churn clients upload the same content.
    async fn churn(self: Arc<Self>, me: usize, small: Vec<String>, big: String) {
        let mut rng = Rng::new();
        let repo = format!("churn/c{me}");
        let mut round = 0u64;
        while self.running() {
            round += 1;
            let digest = if round.is_multiple_of(BIG_EVERY) {
                &big
            } else {
                &small[rng.below(small.len())]
            };
            let bytes = self.content(digest);
            let r = self
                .s
                .client
                .post(self.s.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
                .body(bytes.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "churn upload: {}", r.text().await.unwrap());
            let r = self.s.get(&format!("/v2/{repo}/blobs/{digest}")).await;
            assert_eq!(r.status(), 200, "churn read {digest}");
            let body = r.bytes().await.unwrap();
            assert_eq!(body.len(), bytes.len(), "churn read {digest}: short");
            assert_eq!(&sha256(&body), digest, "churn read {digest}: wrong bytes");
            let r = self.s.delete(&format!("/v2/{repo}/blobs/{digest}")).await;
            assert_eq!(r.status(), 202);
            self.counters.churn_uploads.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `berth gc` in a loop, a second collecting instance.
    fn gc_loop(self: Arc<Self>) {
        while self.running() {
            let out = gc_command(&self.s).output().unwrap();
            assert!(
                out.status.success(),
                "berth gc failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report = parse_report(&String::from_utf8_lossy(&out.stdout));
            self.removed.lock().unwrap().add(&report);
            self.counters.gc_passes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// GET a path with the manifest media types accepted; returns the body.
async fn get_checked(s: &Server, path: &str) -> Vec<u8> {
    let r = s
        .client
        .get(s.url(path))
        .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.bytes().await.unwrap().to_vec()
}

/// Pull every live tag of every repository completely, checking every
/// manifest and blob against its digest. Returns how many tags.
async fn pull_every_live_tag(s: &Server, pushed: &HashMap<String, Pushed>) -> usize {
    let mut tags = 0;
    for repo in REPOS {
        let listed: serde_json::Value = s.get_json(&format!("/v2/{repo}/tags/list?n=1000")).await;
        let names: Vec<String> = listed["tags"]
            .as_array()
            .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        for tag in names {
            let body = get_checked(s, &format!("/v2/{repo}/manifests/{tag}")).await;
            let digest = sha256(&body);
            let m = pushed
                .get(&digest)
                .unwrap_or_else(|| panic!("{repo}:{tag} is {digest}, which no client pushed"));
            let mut todo = vec![m];
            while let Some(m) = todo.pop() {
                let body = get_checked(s, &format!("/v2/{repo}/manifests/{}", m.digest)).await;
                assert_eq!(sha256(&body), m.digest);
                for blob in &m.blobs {
                    let r = s.get(&format!("/v2/{repo}/blobs/{blob}")).await;
                    assert_eq!(r.status(), 200, "{repo}:{tag} blob {blob}");
                    assert_eq!(
                        &sha256(&r.bytes().await.unwrap()),
                        blob,
                        "{repo}:{tag} blob {blob}"
                    );
                }
                todo.extend(m.children.iter());
            }
            tags += 1;
        }
    }
    tags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_moves_and_deletes_while_garbage_collection_runs() {
    // Zero time-machine window; the push grace period only has to cover
    // one push (a client's blob checks to its manifest).
    let s = Server::start_with_config(
        "DEFAULT_TAG_EXPIRATION: 0s\nPUSH_TEMP_TAG_EXPIRATION_SEC: 20\nGARBAGE_COLLECTION_FREQUENCY: 1\n",
    )
    .await;
    let seed = unique_seed();
    let mut load = Load {
        s,
        contents: Mutex::new(HashMap::new()),
        pushed: Mutex::new(HashMap::new()),
        shared: Vec::new(),
        counters: Counters::default(),
        removed: Mutex::new(GcCounts::default()),
        deadline: Instant::now() + LOAD,
    };
    load.shared = (0..SHARED_LAYERS)
        .map(|i| load.remember(random_bytes(2048 + i * 3000, seed + i as u64)))
        .collect();
    let small: Vec<String> = (0..CHURN_BLOBS)
        .map(|i| load.remember(random_bytes(1000 + i * 5000, seed + 100 + i as u64)))
        .collect();
    let big = load.remember(random_bytes(9 * 1024 * 1024, seed + 200));
    let load = Arc::new(load);

    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(tokio::spawn(load.clone().pusher()));
    }
    for _ in 0..2 {
        tasks.push(tokio::spawn(load.clone().mover()));
        tasks.push(tokio::spawn(load.clone().deleter()));
    }
    for me in 0..3 {
        tasks.push(tokio::spawn(load.clone().churn(me, small.clone(), big.clone())));
    }
    let collector = tokio::task::spawn_blocking({
        let load = load.clone();
        move || load.gc_loop()
    });
    for task in tasks {
        task.await.unwrap();
    }
    collector.await.unwrap();

    let pushed = load.pushed.lock().unwrap().clone();
    let live_tags = pull_every_live_tag(&load.s, &pushed).await;

    // With the server stopped, a last pass removes what is collectable;
    // then objects and rows must agree.
    let mut load = Arc::try_unwrap(load).unwrap_or_else(|_| panic!("tasks still hold the load"));
    load.s.stop();
    let last = parse_report(&common::run(&mut gc_command(&load.s)));
    load.removed.get_mut().unwrap().add(&last);
    let db = open_db(&load.s).await;
    let objects = stored_keys(&load.s).await;
    let rows = recorded_keys(&db).await;
    let queued = queued_keys(&db).await;
    let missing: BTreeSet<&String> = rows.difference(&objects).collect();
    assert!(missing.is_empty(), "blob rows without their object: {missing:?}");
    // A deletion the stopped server had claimed waits for its lease.
    let orphans: Vec<&String> = objects
        .difference(&rows)
        .filter(|k| !queued.contains(*k))
        .collect();
    assert!(
        orphans.is_empty(),
        "objects without a row, not queued for deletion: {orphans:?}"
    );
    db.close().await;

    // Everything still pulls after the last pass.
    load.s.restart().await;
    assert_eq!(pull_every_live_tag(&load.s, &pushed).await, live_tags);

    let c = &load.counters;
    let removed = load.removed.lock().unwrap();
    println!(
        "gc stress: {} image pushes, {} index pushes, {} tag moves, {} tag deletes, {} churn uploads; \
         {} `berth gc` passes (beside the server's worker) removed {} tag rows, {} manifests, {} blob links, \
         {} blobs ({} bytes), {} objects; at the end {} live tags, {} blob rows, {} objects, {} deletions queued",
        c.images.load(Ordering::Relaxed),
        c.indexes.load(Ordering::Relaxed),
        c.moves.load(Ordering::Relaxed),
        c.deletes.load(Ordering::Relaxed),
        c.churn_uploads.load(Ordering::Relaxed),
        c.gc_passes.load(Ordering::Relaxed),
        removed.tag_rows,
        removed.manifests,
        removed.blob_links,
        removed.blobs,
        removed.bytes,
        removed.objects,
        live_tags,
        rows.len(),
        objects.len(),
        queued.len(),
    );
    assert!(c.images.load(Ordering::Relaxed) > 0 && c.deletes.load(Ordering::Relaxed) > 0);
    assert!(c.gc_passes.load(Ordering::Relaxed) > 0);
    assert!(
        removed.objects > 0,
        "garbage collection deleted objects under load"
    );
}
