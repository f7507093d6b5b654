//! Prometheus metrics: `/metrics` (also on `METRICS_LISTEN`) read with
//! Prometheus' own Python parser, counters checked to move by exactly what
//! the test did, and every metric the shipped Grafana dashboard and alert
//! rules query checked to be exposed (expressions read with a PromQL
//! parser); the alert rules are loaded and unit-tested by `promtool`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::cli::skopeo;
use common::gc::{execute, open_db};
use common::layout::{write_image, write_layout_index};
use common::{OCI_MANIFEST, Server, basic_auth, eventually, run, unique_seed};
use serde_json::Value;

/// The parsers' script (prometheus_client, promql-parser).
fn prom_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/metrics/prom.py")
}

/// Run `prom.py <mode>` on `input`; its JSON answer.
fn prom(mode: &str, input: &[u8]) -> Value {
    let mut child = Command::new("python3")
        .arg(prom_py())
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prom.py {mode} failed (pip install prometheus-client promql-parser): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One scrape, as Prometheus' parser read it.
struct Scrape {
    families: BTreeMap<String, Value>,
}

impl Scrape {
    /// Parse a `/metrics` body.
    fn parse(text: &str) -> Scrape {
        let Value::Object(families) = prom("exposition", text.as_bytes()) else {
            panic!("families are an object");
        };
        Scrape {
            families: families.into_iter().collect(),
        }
    }

    /// Every sample: (sample name, labels, value).
    fn samples(&self) -> impl Iterator<Item = (&str, &serde_json::Map<String, Value>, f64)> {
        self.families.values().flat_map(|f| {
            f["samples"].as_array().unwrap().iter().map(|s| {
                (
                    s[0].as_str().unwrap(),
                    s[1].as_object().unwrap(),
                    s[2].as_f64().unwrap(),
                )
            })
        })
    }

    /// The sum of the samples named `name` whose labels include `labels`
    /// (0 when there are none: a series not yet created).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples()
            .filter(|(n, l, _)| {
                *n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).and_then(Value::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    /// Whether any sample is named `name`.
    fn has(&self, name: &str) -> bool {
        self.samples().any(|(n, _, _)| n == name)
    }

    /// A family's type (`counter`, `gauge`, `histogram`, ...).
    fn kind(&self, family: &str) -> Option<&str> {
        self.families.get(family).and_then(|f| f["type"].as_str())
    }
}

/// Fetch and parse `http://{addr}/metrics`, without credentials.
async fn scrape(addr: &str) -> Scrape {
    let r = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    Scrape::parse(&r.text().await.unwrap())
}

/// How much `name{labels}` moved between two scrapes.
fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

const MANIFESTS: &str = "/v2/{name}/manifests/{reference}";
const REQUESTS: &str = "quay_request_duration_seconds_count";

/// Requests counted for `route`, `method`, `status`.
fn requests(route: &str, method: &str, status: &str) -> [(&'static str, String); 3] {
    [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status.to_owned()),
    ]
}

fn moved(before: &Scrape, after: &Scrape, labels: &[(&'static str, String); 3]) -> f64 {
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    delta(before, after, REQUESTS, &labels)
}

/// Sizes of an image manifest's config and layers.
fn blob_sizes(manifest: &[u8]) -> Vec<u64> {
    let m: Value = serde_json::from_slice(manifest).unwrap();
    std::iter::once(&m["config"])
        .chain(m["layers"].as_array().unwrap())
        .map(|d| d["size"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn counters_move_by_what_clients_did() {
    let s = Server::start_with_config("METRICS_LISTEN: 127.0.0.1:0\n").await;
    let metrics_addr = s.metrics_addr.clone().expect("the metrics listener is announced");

    // Served without credentials on the main listener too; the metrics
    // listener serves nothing else.
    let main = s.anon.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status(), 200);
    assert!(Scrape::parse(&main.text().await.unwrap()).has("quay_gc_iterations_total"));
    let other = reqwest::get(format!("http://{metrics_addr}/v2/")).await.unwrap();
    assert_eq!(other.status(), 404);

    // A real client's push: exactly one manifest push.
    let start = scrape(&metrics_addr).await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image(&layout, "amd64", &[3000], unique_seed());
    write_layout_index(&layout, &[("v1", &image)]);
    run(skopeo(s.host())
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{}/admin/skopeo:v1", s.host())));
    let before = scrape(&metrics_addr).await;
    let push = [
        ("protocol", "v2"),
        ("status", "201"),
        ("media_type", OCI_MANIFEST),
    ];
    assert_eq!(
        delta(&start, &before, "quay_registry_image_pushes_total", &push),
        1.0
    );

    // Then requests whose every effect is known.
    let repo = "admin/app";
    let (manifest, digest) = s.push_image(repo, "v1", 2).await;
    let sizes = blob_sizes(&manifest);
    for reference in ["v1", digest.as_str()] {
        let r = s.get(&format!("/v2/{repo}/manifests/{reference}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap(), manifest);
    }
    assert_eq!(s.head(&format!("/v2/{repo}/manifests/v1")).await.status(), 200);
    assert_eq!(s.get(&format!("/v2/{repo}/manifests/nope")).await.status(), 404);
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let r = s.get(&format!("/v2/{repo}/blobs/{layer}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len() as u64, sizes[1]);
    let token = |password: &str| {
        s.anon
            .get(s.url(&format!(
                "/v2/auth?service={}&scope=repository:{repo}:pull",
                s.host()
            )))
            .header("authorization", basic_auth(common::ADMIN, password))
            .send()
    };
    assert_eq!(token("not-the-password").await.unwrap().status(), 401);
    assert_eq!(token(common::ADMIN_PASSWORD).await.unwrap().status(), 200);
    let oauth = s
        .anon
        .get(s.url("/api/v1/user/apptoken"))
        .bearer_auth("not-an-oauth-token")
        .send()
        .await
        .unwrap();
    assert_eq!(oauth.status(), 401);
    // The indexer scans the pushed image in the background; the gauges are
    // read once it is done (scrapes on METRICS_LISTEN count no request).
    let mut after = scrape(&metrics_addr).await;
    for _ in 0..600 {
        if after.value("berth_queue_depth", &[("queue", "indexing")]) == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = scrape(&metrics_addr).await;
    }

    let pulls = "quay_registry_image_pulls_total";
    assert_eq!(
        delta(&before, &after, pulls, &[("ref", "tag"), ("status", "200")]),
        1.0
    );
    assert_eq!(
        delta(&before, &after, pulls, &[("ref", "manifest"), ("status", "200")]),
        1.0
    );
    assert_eq!(
        delta(&before, &after, pulls, &[("ref", "tag"), ("status", "404")]),
        1.0
    );
    assert_eq!(
        delta(&before, &after, pulls, &[("protocol", "v2")]),
        3.0,
        "HEAD is no pull"
    );
    assert_eq!(
        delta(&before, &after, "quay_registry_image_pushes_total", &push),
        1.0
    );
    let pushed: u64 = sizes.iter().sum();
    assert_eq!(
        delta(&before, &after, "quay_registry_image_pushed_bytes_total", &[]),
        pushed as f64
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "quay_registry_image_pulled_estimated_bytes_total",
            &[("protocol", "v2")]
        ),
        sizes[1] as f64
    );

    // Every request of the helper client carries Basic credentials: each
    // is a login (4 for the push, 5 reads), plus the token request.
    let auth = "quay_authentication_attempts_total";
    let basic = |ok| [("auth_kind", "basic"), ("success", ok)];
    assert_eq!(delta(&before, &after, auth, &basic("False")), 1.0);
    assert_eq!(delta(&before, &after, auth, &basic("True")), 10.0);
    let bearer = [("auth_kind", "oauth"), ("success", "False")];
    assert_eq!(delta(&before, &after, auth, &bearer), 1.0);
    let api = "/api/v1/user/apptoken";
    assert_eq!(moved(&before, &after, &requests(api, "GET", "401")), 1.0);

    assert_eq!(moved(&before, &after, &requests(MANIFESTS, "GET", "200")), 2.0);
    assert_eq!(moved(&before, &after, &requests(MANIFESTS, "HEAD", "200")), 1.0);
    assert_eq!(moved(&before, &after, &requests(MANIFESTS, "GET", "404")), 1.0);
    assert_eq!(moved(&before, &after, &requests(MANIFESTS, "PUT", "201")), 1.0);
    let uploads = "/v2/{name}/blobs/uploads/";
    assert_eq!(moved(&before, &after, &requests(uploads, "POST", "201")), 3.0);
    let blobs = "/v2/{name}/blobs/{digest}";
    assert_eq!(moved(&before, &after, &requests(blobs, "GET", "200")), 1.0);
    assert_eq!(moved(&before, &after, &requests("/v2/auth", "GET", "401")), 1.0);
    assert_eq!(moved(&before, &after, &requests("/v2/auth", "GET", "200")), 1.0);
    // Scrapes on the metrics listener are not requests of the registry.
    assert_eq!(moved(&before, &after, &requests("/metrics", "GET", "200")), 0.0);
    // Labels stay bounded: no raw path, no repository name, anywhere.
    for (name, labels, _) in after.samples() {
        for v in labels.values() {
            let v = v.as_str().unwrap();
            assert!(!v.contains("admin/"), "{name} carries a request's text: {v}");
        }
    }

    // The duration is a histogram whose +Inf bucket holds every request.
    assert_eq!(after.kind("quay_request_duration_seconds"), Some("histogram"));
    let get200 = [("route", MANIFESTS), ("method", "GET"), ("status", "200")];
    let inf: Vec<(&str, &str)> = get200.iter().copied().chain([("le", "+Inf")]).collect();
    assert_eq!(
        after.value("quay_request_duration_seconds_bucket", &inf),
        after.value(REQUESTS, &get200)
    );

    // Bodies received: the three blobs and the manifest, nothing else.
    let received = pushed + manifest.len() as u64;
    assert_eq!(
        delta(&before, &after, "berth_http_received_bytes_total", &[]),
        received as f64
    );
    assert!(
        delta(&before, &after, "berth_http_sent_bytes_total", &[])
            >= (2 * manifest.len() as u64 + sizes[1]) as f64
    );

    // Gauges read at scrape time.
    assert_eq!(after.value("berth_upload_sessions_open", &[]), 0.0);
    assert!(after.has("berth_queue_depth"));
    assert_eq!(after.value("berth_queue_depth", &[("queue", "indexing")]), 0.0);
    assert!(after.value("berth_db_pooled_connections_max", &[]) >= 1.0);
    assert!(after.has("quay_db_pooled_connections_in_use"));
    assert!(after.has("quay_db_pooled_connections_available"));
    assert!(after.value("process_resident_memory_bytes", &[]) > 0.0);
    assert!(after.has("process_cpu_seconds_total"));
}

#[tokio::test]
async fn open_uploads_and_the_indexing_queue_are_gauges() {
    let s = Server::start_with_config("METRICS_LISTEN: 127.0.0.1:0\nFEATURE_SECURITY_SCANNER: false\n").await;
    let metrics_addr = s.metrics_addr.clone().unwrap();
    let first = s.start_upload("admin/gauges").await;
    let _second = s.start_upload("admin/gauges").await;
    let now = scrape(&metrics_addr).await;
    assert_eq!(now.value("berth_upload_sessions_open", &[]), 2.0);
    assert_eq!(s.delete(&first).await.status(), 204);
    let later = scrape(&metrics_addr).await;
    assert_eq!(later.value("berth_upload_sessions_open", &[]), 1.0);
    // With the scanner off, nothing is queued, and nothing works the queue
    // off: a job queued here a minute ago stays.
    let indexing = [("queue", "indexing")];
    assert_eq!(later.value("berth_queue_depth", &indexing), 0.0);
    assert_eq!(later.value("berth_queue_oldest_age_seconds", &indexing), 0.0);
    let (_, digest) = s.push_image("admin/gauges", "v1", 1).await;
    let db = open_db(&s).await;
    let repo_id = db.repository_id("admin/gauges").await.unwrap().unwrap();
    db.enqueue_scan(repo_id, &digest).await.unwrap();
    let minute_ago = berth_store::now_ms() - 60_000;
    let set_queued = "UPDATE scan_queue SET queued_ms = $1 WHERE manifest_digest = $2";
    assert_eq!(execute(&db, set_queued, minute_ago, &digest).await, 1);
    let queued = scrape(&metrics_addr).await;
    assert_eq!(queued.value("berth_queue_depth", &indexing), 1.0);
    let age = queued.value("berth_queue_oldest_age_seconds", &indexing);
    assert!((60.0..600.0).contains(&age), "{age}");
    // A job that failed every attempt is no backlog.
    let exhaust = "UPDATE scan_queue SET attempts = $1 WHERE manifest_digest = $2";
    assert_eq!(execute(&db, exhaust, 3, &digest).await, 1);
    let given_up = scrape(&metrics_addr).await;
    assert_eq!(given_up.value("berth_queue_depth", &indexing), 0.0);
    assert_eq!(given_up.value("berth_queue_oldest_age_seconds", &indexing), 0.0);
}

#[tokio::test]
async fn garbage_collection_passes_and_what_they_free_are_counted() {
    let s = Server::start_with_config(
        "METRICS_LISTEN: 127.0.0.1:0\nGARBAGE_COLLECTION_FREQUENCY: 1\nDEFAULT_TAG_EXPIRATION: 0s\nPUSH_TEMP_TAG_EXPIRATION_SEC: 1\n",
    )
    .await;
    let metrics_addr = s.metrics_addr.clone().unwrap();
    let before = scrape(&metrics_addr).await;
    let (manifest, _) = s.push_image("admin/gc", "v1", 2).await;
    let sizes = blob_sizes(&manifest);
    assert_eq!(s.delete("/v2/admin/gc/manifests/v1").await.status(), 202);
    eventually("garbage collection deletes the image's three blobs", || async {
        let now = scrape(&metrics_addr).await;
        delta(&before, &now, "quay_gc_storage_blobs_deleted_total", &[]) >= 3.0
    })
    .await;
    // Nothing else is left to collect, so the counters stay put now.
    let after = scrape(&metrics_addr).await;
    assert_eq!(
        delta(&before, &after, "quay_gc_storage_blobs_deleted_total", &[]),
        3.0
    );
    assert_eq!(
        delta(&before, &after, "berth_gc_storage_bytes_freed_total", &[]),
        sizes.iter().sum::<u64>() as f64
    );
    let rows = "quay_gc_table_rows_deleted_total";
    assert_eq!(delta(&before, &after, rows, &[("table", "manifests")]), 1.0);
    assert_eq!(delta(&before, &after, rows, &[("table", "blobs")]), 3.0);
    assert!(delta(&before, &after, "quay_gc_iterations_total", &[]) >= 1.0);
}

/// `promtool` (Prometheus' own) on the alert rules: they load, and its
/// unit tests (`tests/metrics/alerts-test.yaml`) fire each alert on the
/// series that should trip it, with the expected labels and text.
#[test]
fn alert_rules_load_and_fire_in_prometheus() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = manifest_dir.join("../../deploy/prometheus/berth-alerts.yaml");
    let out = run(Command::new("promtool").args(["check", "rules"]).arg(&rules));
    assert!(out.contains("SUCCESS: 7 rules found"), "{out}");
    let cases = manifest_dir.join("tests/metrics/alerts-test.yaml");
    let out = run(Command::new("promtool").args(["test", "rules"]).arg(&cases));
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Grafana's own variables, given values so the expressions parse as
/// Prometheus would receive them.
fn expand_grafana(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
}

/// Every PromQL expression of the dashboard: panel targets and the
/// variables' `label_values(<selector>, <label>)` queries.
fn dashboard_queries(dashboard: &Value, out: &mut Vec<String>) {
    match dashboard {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(expand_grafana(e)),
                    ("query", Value::String(q)) if q.starts_with("label_values(") => {
                        let inner = &q["label_values(".len()..q.rfind(',').unwrap()];
                        out.push(expand_grafana(inner));
                    }
                    _ => dashboard_queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// Series Prometheus makes itself for every target, not scraped.
const SYNTHETIC: [&str; 1] = ["up"];

#[tokio::test]
async fn dashboard_and_alert_rules_query_only_exposed_metrics() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let dashboard: Value =
        serde_json::from_slice(&std::fs::read(deploy.join("grafana/berth-dashboard.json")).unwrap()).unwrap();
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    let from_dashboard = queries.len();
    let rules: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(deploy.join("prometheus/berth-alerts.yaml")).unwrap(),
    )
    .unwrap();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            queries.push(rule["expr"].as_str().unwrap().to_owned());
        }
    }
    assert!(
        from_dashboard >= 15 && queries.len() >= from_dashboard + 7,
        "{queries:?}"
    );

    // A registry that has seen a push, pulls and a failed login, so every
    // labelled series exists.
    let s = Server::start().await;
    let (_, digest) = s.push_image("admin/dash", "v1", 1).await;
    assert_eq!(
        s.get(&format!("/v2/admin/dash/manifests/{digest}"))
            .await
            .status(),
        200
    );
    let refused = s
        .anon
        .get(s.url("/v2/auth"))
        .header("authorization", basic_auth("admin", "wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let exposed = scrape(&s.addr).await;

    let names = prom("promql", serde_json::to_string(&queries).unwrap().as_bytes());
    let mut checked = BTreeSet::new();
    for (query, names) in queries.iter().zip(names.as_array().unwrap()) {
        let names = names.as_array().unwrap();
        assert!(!names.is_empty(), "no metric in {query}");
        for name in names {
            let name = name.as_str().unwrap();
            if SYNTHETIC.contains(&name) {
                continue;
            }
            // A classic histogram is queried through its series; its own
            // name selects nothing.
            let histogram_part = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| exposed.kind(base) == Some("histogram"));
            match histogram_part {
                Some(_) => assert!(exposed.has(name), "{name} (in {query}) is not exposed"),
                None => {
                    assert!(
                        exposed.kind(name) != Some("histogram"),
                        "{name} (in {query}) is a histogram: query _bucket, _count or _sum"
                    );
                    assert!(
                        exposed.has(name),
                        "{name} (in {query}) is not exposed by /metrics"
                    );
                }
            }
            checked.insert(name.to_owned());
        }
    }
    // The dashboard covers what the operations guide promises.
    for name in [
        "quay_request_duration_seconds_bucket",
        "quay_request_duration_seconds_count",
        "quay_registry_image_pushes_total",
        "quay_registry_image_pulls_total",
        "quay_authentication_attempts_total",
        "quay_gc_iterations_total",
        "berth_queue_depth",
        "berth_queue_oldest_age_seconds",
        "quay_db_pooled_connections_in_use",
        "berth_db_pooled_connections_max",
    ] {
        assert!(checked.contains(name), "nothing queries {name}");
    }
}

#[tokio::test]
async fn the_metrics_address_can_come_from_the_environment() {
    use std::io::BufRead;
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::berth_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("BERTH_METRICS_LISTEN", "127.0.0.1:0")
        // Loopback only: no feed updates from the real servers.
        .env("BERTH_SECURITY_SCANNER_DISABLE_UPDATERS", "true")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let metrics_addr = tokio::task::spawn_blocking(move || {
        let mut metrics_addr = None;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(url) = line.strip_prefix("metrics on http://") {
                metrics_addr = url.strip_suffix("/metrics").map(str::to_owned);
            }
            if line.starts_with("listening on ") {
                break;
            }
        }
        metrics_addr
    })
    .await
    .unwrap();
    let result = match metrics_addr {
        Some(addr) => Ok(scrape(&addr).await),
        None => Err("no metrics listener announced"),
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(result.unwrap().has("quay_gc_iterations_total"));
}
