//! Collecting figures across runs and reporting medians as a table and as
//! `bench/results/latest.json`.

use std::path::Path;

use berth_bench::stats::median;
use berth_bench::workloads::{Better, Figure};
use serde::Serialize;

use crate::servers::{Kind, Storage};

/// All runs of one (workload, metric).
struct Series {
    workload: String,
    metric: &'static str,
    unit: &'static str,
    better: Better,
    berth: Vec<f64>,
    distribution: Vec<f64>,
    /// Physical limit (MB/s) for throughput figures, if one applies.
    limit: Option<f64>,
}

/// One line of `latest.json`.
#[derive(Serialize)]
struct Row<'a> {
    /// Berth's blob storage: `dir` or `s3`.
    storage: &'a str,
    /// Berth's metadata database: `sqlite` or `postgres`.
    db: &'a str,
    /// Distribution's blob storage: `dir`, or `s3` (the same server).
    distribution_storage: &'a str,
    /// The S3 server, in an `s3` run.
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_server: Option<&'a str>,
    /// Whether Berth's scanner ran (indexing every pushed image).
    scanner: bool,
    /// A `--quick` run's figure.
    quick: bool,
    workload: &'a str,
    metric: &'a str,
    unit: &'a str,
    better: Better,
    berth: f64,
    distribution: f64,
    ratio: f64,
    runs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_mb_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    berth_fraction_of_limit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    distribution_fraction_of_limit: Option<f64>,
}

/// Every figure of the benchmark, in the order first seen.
pub struct Report {
    storage: &'static str,
    distribution_storage: &'static str,
    s3_server: Option<String>,
    db: &'static str,
    scanner: bool,
    quick: bool,
    series: Vec<Series>,
}

impl Report {
    /// An empty report of Berth on `storage` and `db` (Distribution on
    /// `distribution_storage`), its scanner on or off.
    pub fn new(storage: &Storage, db: &'static str, scanner: bool, quick: bool) -> Report {
        Report {
            storage: storage.name(),
            distribution_storage: storage.distribution_name(),
            s3_server: match storage {
                Storage::S3(s3) => Some(s3.server.clone()),
                Storage::Dir => None,
            },
            db,
            scanner,
            quick,
            series: Vec::new(),
        }
    }

    /// Record figures of one run of `workload` on `kind`.
    pub fn add(&mut self, workload: &str, kind: Kind, figures: Vec<Figure>) {
        for f in figures {
            self.add_with_limit(workload, kind, f, None);
        }
    }

    /// Record one figure that has a physical limit (MB/s).
    pub fn add_with_limit(&mut self, workload: &str, kind: Kind, f: Figure, limit: Option<f64>) {
        let pos = self
            .series
            .iter()
            .position(|s| s.workload == workload && s.metric == f.metric);
        let idx = match pos {
            Some(i) => i,
            None => {
                self.series.push(Series {
                    workload: workload.to_owned(),
                    metric: f.metric,
                    unit: f.unit,
                    better: f.better,
                    berth: Vec::new(),
                    distribution: Vec::new(),
                    limit,
                });
                self.series.len() - 1
            }
        };
        let s = &mut self.series[idx];
        match kind {
            Kind::Berth => s.berth.push(f.value),
            Kind::Distribution => s.distribution.push(f.value),
        }
    }

    fn rows(&self) -> Vec<Row<'_>> {
        self.series
            .iter()
            .map(|s| {
                let (b, d) = (median(&s.berth), median(&s.distribution));
                Row {
                    storage: self.storage,
                    db: self.db,
                    distribution_storage: self.distribution_storage,
                    s3_server: self.s3_server.as_deref(),
                    scanner: self.scanner,
                    quick: self.quick,
                    workload: &s.workload,
                    metric: s.metric,
                    unit: s.unit,
                    better: s.better,
                    berth: b,
                    distribution: d,
                    ratio: b / d,
                    runs: s.berth.len().min(s.distribution.len()),
                    limit_mb_s: s.limit,
                    berth_fraction_of_limit: s.limit.map(|l| b / l),
                    distribution_fraction_of_limit: s.limit.map(|l| d / l),
                }
            })
            .collect()
    }

    /// Print the table to stdout.
    pub fn print(&self, header: &str) {
        println!("\n{header}\n");
        println!(
            "| workload | metric | unit | better | berth | distribution | ratio (berth/distribution) | runs | fraction of limit (berth / distribution) |"
        );
        println!("|---|---|---|---|---:|---:|---:|---:|---|");
        for r in self.rows() {
            let better = match r.better {
                Better::Higher => "higher",
                Better::Lower => "lower",
            };
            let fraction = match (r.berth_fraction_of_limit, r.distribution_fraction_of_limit) {
                (Some(b), Some(d)) => format!("{b:.2} / {d:.2}"),
                _ => String::new(),
            };
            println!(
                "| {} | {} | {} | {better} | {:.2} | {:.2} | {:.2} | {} | {fraction} |",
                r.workload, r.metric, r.unit, r.berth, r.distribution, r.ratio, r.runs
            );
        }
    }

    /// Write the JSON array: these rows in place of the file's rows of the
    /// same storage (both registries'), database and scanner setting and of
    /// the figures this run measured, keeping the others (rows without
    /// those fields are of the default: `dir`, `sqlite`, off).
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut rows: Vec<serde_json::Value> = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let field = |row: &serde_json::Value, name: &str, default: &str| {
            row.get(name)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_owned()
        };
        let scanner = |row: &serde_json::Value| row.get("scanner").and_then(|v| v.as_bool()).unwrap_or(false);
        // A run of a few workloads (`--only`) keeps the others' rows.
        let measured: std::collections::HashSet<(&str, &str)> = self
            .series
            .iter()
            .map(|s| (s.workload.as_str(), s.metric))
            .collect();
        rows.retain(|r| {
            let setting = (
                field(r, "storage", "dir"),
                field(r, "distribution_storage", "dir"),
                field(r, "db", "sqlite"),
                scanner(r),
            );
            setting
                != (
                    self.storage.into(),
                    self.distribution_storage.into(),
                    self.db.into(),
                    self.scanner,
                )
                || !measured.contains(&(field(r, "workload", "").as_str(), field(r, "metric", "").as_str()))
        });
        for row in self.rows() {
            rows.push(serde_json::to_value(row)?);
        }
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
        Ok(())
    }
}
