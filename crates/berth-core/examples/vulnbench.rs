//! The vulnerability benchmark's driver: the parts of the vulnerability benchmark
//! (`bench/vulns.sh`) that run inside Berth's core rather than through its
//! CLI or API: timing the matching of one image against a loaded database,
//! and storing many indexed images (inventory and first report) through
//! the core's own functions, as the indexer does. Prints one JSON object.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_core::vulns::{self, Inventory, InventoryEntry};
use berth_scan::INDEX_FORMAT;
use berth_store::{Db, PoolSettings};
use clap::Parser;
use futures_util::StreamExt;

#[derive(Parser)]
enum Command {
    /// Time matching one image's inventory against the stored advisories.
    Match {
        /// The metadata database (`sqlite:///DIR` or `postgresql://...`).
        #[arg(long)]
        db: String,
        /// The image's inventory (`berth scan index --format json`).
        #[arg(long)]
        inventory: PathBuf,
        /// Timed rounds (after one warm-up round).
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
    /// Store `images` indexed images (inventory and matched report): each
    /// holds the `base` inventory's packages and a varying share of the
    /// `extra` inventory's others.
    Seed {
        /// The metadata database.
        #[arg(long)]
        db: String,
        /// Packages every image holds.
        #[arg(long)]
        base: PathBuf,
        /// Packages images add some of.
        #[arg(long)]
        extra: PathBuf,
        /// How many images.
        #[arg(long, default_value_t = 10_000)]
        images: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = match Command::parse() {
        Command::Match {
            db,
            inventory,
            rounds,
        } => {
            let db = open(&db).await?;
            let result = time_match(&db, &read_inventory(&inventory)?, rounds).await;
            db.close().await;
            result?
        }
        Command::Seed {
            db,
            base,
            extra,
            images,
        } => {
            let db = open(&db).await?;
            let result = seed(&db, &read_inventory(&base)?, &read_inventory(&extra)?, images).await;
            db.close().await;
            result?
        }
    };
    println!("{out}");
    Ok(())
}

async fn open(uri: &str) -> anyhow::Result<Db> {
    Db::open(uri, PoolSettings { max_connections: 8 })
        .await
        .with_context(|| format!("opening {uri}"))
}

fn read_inventory(path: &std::path::Path) -> anyhow::Result<Inventory> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, minimum and maximum of `samples`, in milliseconds.
fn stats(mut samples: Vec<Duration>) -> serde_json::Value {
    samples.sort();
    let median = samples.get(samples.len() / 2).copied().unwrap_or_default();
    serde_json::json!({
        "median": ms(median),
        "min": ms(samples.first().copied().unwrap_or_default()),
        "max": ms(samples.last().copied().unwrap_or_default()),
    })
}

/// Time `match_only` (advisories read from the database, matched,
/// enriched) and `match_inventory` (the same, then the report stored, as
/// the indexer does) on one inventory.
async fn time_match(db: &Db, inventory: &Inventory, rounds: usize) -> anyhow::Result<serde_json::Value> {
    let report = vulns::match_only(db, inventory).await?;
    let findings: usize = report.features.iter().map(|f| f.vulnerabilities.len()).sum();
    let mut only = Vec::with_capacity(rounds);
    let mut stored = Vec::with_capacity(rounds);
    let digest = format!("sha256:{}", "0".repeat(64));
    vulns::match_inventory(db, &digest, inventory).await?;
    for _ in 0..rounds {
        let start = Instant::now();
        vulns::match_only(db, inventory).await?;
        only.push(start.elapsed());
        let start = Instant::now();
        vulns::match_inventory(db, &digest, inventory).await?;
        stored.push(start.elapsed());
    }
    Ok(serde_json::json!({
        "packages": inventory.packages.len(),
        "findings": findings,
        "rounds": rounds,
        "match_ms": stats(only),
        "match_and_store_ms": stats(stored),
    }))
}

/// A small deterministic generator (xorshift), so every run stores the
/// same images.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Image `i`: the base packages and 10 to 149 of the others.
fn image(i: usize, base: &Inventory, others: &[InventoryEntry]) -> (String, Inventory) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    let extra = 10 + (rng.next() % 140) as usize;
    let mut packages = base.packages.clone();
    let mut picked = std::collections::BTreeSet::new();
    while picked.len() < extra.min(others.len()) {
        picked.insert((rng.next() % others.len() as u64) as usize);
    }
    packages.extend(picked.into_iter().map(|k| others[k].clone()));
    packages
        .sort_by(|a, b| (&a.package.name, &a.package.version).cmp(&(&b.package.name, &b.package.version)));
    let digest = format!(
        "sha256:{}",
        hex::encode(berth_core::crypto::sha256(&[
            format!("vulnbench image {i}").as_bytes()
        ]))
    );
    let inventory = Inventory {
        distribution: base.distribution.clone(),
        packages,
        layers: base.layers.clone(),
        warnings: Vec::new(),
    };
    (digest, inventory)
}

/// Store `count` images as the indexer does: the report matched and
/// stored, then the inventory.
async fn seed(
    db: &Db,
    base: &Inventory,
    extra: &Inventory,
    count: usize,
) -> anyhow::Result<serde_json::Value> {
    let names: std::collections::BTreeSet<&str> =
        base.packages.iter().map(|e| e.package.name.as_str()).collect();
    let others: Vec<InventoryEntry> = extra
        .packages
        .iter()
        .filter(|e| !names.contains(e.package.name.as_str()))
        .cloned()
        .collect();
    let start = Instant::now();
    let mut packages = 0usize;
    let mut stream = futures_util::stream::iter(0..count)
        .map(|i| {
            let (digest, inventory) = image(i, base, &others);
            async move {
                vulns::match_inventory(db, &digest, &inventory).await?;
                db.put_scan_report(&digest, INDEX_FORMAT as i32, &serde_json::to_string(&inventory)?)
                    .await?;
                anyhow::Ok(inventory.packages.len())
            }
        })
        .buffer_unordered(4);
    while let Some(n) = stream.next().await {
        packages += n?;
    }
    Ok(serde_json::json!({
        "images": count,
        "packages_per_image_mean": packages as f64 / count.max(1) as f64,
        "seconds": start.elapsed().as_secs_f64(),
    }))
}
