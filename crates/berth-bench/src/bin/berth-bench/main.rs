//! `berth-bench`: runs every workload against Berth and the CNCF
//! Distribution registry, interleaved (A B A B, order alternating per round)
//! so machine drift cancels out, and reports medians and ratios.

mod gc;
mod limits;
mod report;
mod servers;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use berth_bench::data::{blob_set, random_bytes};
use berth_bench::workloads::gc_scale::GcPlan;
use berth_bench::workloads::{
    Figure, blob_throughput, copy_image, manifest_get, many_blobs, small_blob, tag_list,
};
use bytes::Bytes;
use clap::Parser;

use report::Report;
use servers::{Kind, Login, Metadata, S3Bucket, Server, Storage, data_dir};

/// Benchmark Berth against the CNCF Distribution registry.
#[derive(Parser)]
struct Args {
    /// The berth binary (release build).
    #[arg(long)]
    berth: PathBuf,
    /// Extra arguments for `berth serve` (repeat), e.g.
    /// `--berth-arg=--config --berth-arg=s3.yaml` to measure another backend.
    #[arg(long, allow_hyphen_values = true)]
    berth_arg: Vec<String>,
    /// Run Berth on this PostgreSQL server (`postgresql://USER@HOST:PORT`),
    /// a fresh database per start, instead of SQLite.
    #[arg(long)]
    pg_uri: Option<String>,
    /// Berth's blobs in an S3 bucket, named by the environment
    /// (`BENCH_S3_ENDPOINT`, `BENCH_S3_BUCKET`, `BENCH_S3_ACCESS_KEY`,
    /// `BENCH_S3_SECRET_KEY`; bench/s3.sh starts a server and sets them).
    #[arg(long)]
    s3: bool,
    /// Berth with its scanner on (its default: every pushed image is
    /// indexed in the background), to show what the scanner costs.
    #[arg(long)]
    scanner: bool,
    /// The Distribution registry binary.
    #[arg(long, default_value = "/usr/bin/docker-registry")]
    distribution: PathBuf,
    /// Scratch directory for both servers' data (same disk for both).
    #[arg(long)]
    work: PathBuf,
    /// Where to write the JSON results.
    #[arg(long)]
    out: PathBuf,
    /// Reduced sizes and durations (a few minutes in all).
    #[arg(long)]
    quick: bool,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Run only these workloads (numbers as in the report; 1 covers 1-2),
    /// e.g. `--only 3,4` when profiling one of them. Workload 9 (garbage
    /// collection at scale) runs only when named here.
    #[arg(long, value_delimiter = ',')]
    only: Vec<u8>,
    /// Images in workload 9's store, ten blobs each (default 100,000; with
    /// `--quick`, 2,000).
    #[arg(long)]
    gc_images: Option<usize>,
}

/// Sizes and durations of one benchmark run.
struct Plan {
    big_blob: usize,
    chunk: usize,
    many_blobs: usize,
    /// Clients pushing at once, one sweep step each.
    push_clients: [usize; 3],
    /// Clients reading at once, one sweep step each.
    read_clients: [usize; 2],
    manifest_duration: Duration,
    head_duration: Duration,
    tags: usize,
    image_bytes: usize,
    image_layers: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        let full = Plan {
            big_blob: 1 << 30,
            chunk: 16 << 20,
            many_blobs: 2000,
            push_clients: [8, 32, 128],
            read_clients: [64, 256],
            manifest_duration: Duration::from_secs(20),
            head_duration: Duration::from_secs(10),
            tags: 10_000,
            image_bytes: 100 << 20,
            image_layers: 5,
        };
        if quick {
            Plan {
                big_blob: 256 << 20,
                many_blobs: 300,
                manifest_duration: Duration::from_secs(4),
                head_duration: Duration::from_secs(3),
                tags: 1000,
                image_bytes: 20 << 20,
                ..full
            }
        } else {
            full
        }
    }
}

/// Both targets, in the order of round `r` (alternating).
fn order(r: usize) -> [Kind; 2] {
    if r.is_multiple_of(2) {
        [Kind::Berth, Kind::Distribution]
    } else {
        [Kind::Distribution, Kind::Berth]
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let plan = Plan::new(args.quick);
    let rounds = args.rounds.max(1);
    let work = args.work.clone();
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let binary = |k: Kind| match k {
        Kind::Berth => args.berth.clone(),
        Kind::Distribution => args.distribution.clone(),
    };
    let metadata = match &args.pg_uri {
        Some(uri) => Metadata::Postgres(uri.trim_end_matches('/').to_owned()),
        None => Metadata::Sqlite,
    };
    // Berth's arguments for a start on empty data named `what`.
    let berth_args = |kind: Kind, what: &str| -> anyhow::Result<Vec<String>> {
        if kind != Kind::Berth {
            return Ok(Vec::new());
        }
        let mut a = args.berth_arg.clone();
        a.extend(metadata.fresh(what)?);
        Ok(a)
    };
    let storage = if args.s3 {
        Storage::S3(S3Bucket::from_env()?)
    } else {
        Storage::Dir
    };
    let mut report = Report::new(&storage, metadata.name(), args.scanner, args.quick);
    let wants = |n: u8| args.only.is_empty() || args.only.contains(&n);
    let only_gc = args.only == [9];
    // Every run pushes content no server has seen: a fresh variant each time.
    let mut variant = 0u64;
    let login = Login::generate();

    eprintln!("measuring the machine's limits");
    let base = Bytes::from(random_bytes(plan.big_blob, 42));
    let limits = limits::measure(&work, &base, rounds, &storage).await?;

    if wants(8) {
        eprintln!("start-up time");
        for r in 0..rounds {
            for kind in order(r) {
                let s = Server::start(
                    kind,
                    &binary(kind),
                    &berth_args(kind, "startup")?,
                    &[],
                    &storage,
                    args.scanner,
                    &data_dir(&work, kind, "startup"),
                    &login,
                )
                .await?;
                report.add(
                    "8. start-up",
                    kind,
                    vec![Figure::lower(
                        "time to first GET /v2/ answer",
                        "ms",
                        s.startup.as_secs_f64() * 1000.0,
                    )],
                );
            }
        }
    }

    let mut servers = Vec::new();
    for kind in [Kind::Berth, Kind::Distribution] {
        if only_gc {
            break;
        }
        servers.push(
            Server::start(
                kind,
                &binary(kind),
                &berth_args(kind, "data")?,
                &[],
                &storage,
                args.scanner,
                &data_dir(&work, kind, "data"),
                &login,
            )
            .await?,
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle: Vec<f64> = servers.iter().map(Server::rss_mib).collect::<Result<_, _>>()?;
    let wants = |n: u8| !only_gc && wants(n);
    let server = |k: Kind| servers.iter().find(|s| s.kind == k).context("server missing");

    if wants(1) {
        eprintln!("1-2. one {} MiB blob", plan.big_blob >> 20);
        for r in 0..rounds {
            for kind in order(r) {
                let c = &server(kind)?.client;
                variant += 1;
                let blob = blob_throughput::BigBlob::new(&base, plan.chunk, variant);
                let up = blob_throughput::upload_monolithic(c, "bench/big", &blob).await?;
                report.add_with_limit("1. big blob", kind, up, Some(limits.upload_limit()));
                let down = blob_throughput::download(c, "bench/big", &blob).await?;
                report.add_with_limit("1. big blob", kind, down, limits.download_limit());
                variant += 1;
                let blob = blob_throughput::BigBlob::new(&base, plan.chunk, variant);
                let chunked = blob_throughput::upload_chunked(c, "bench/big", &blob).await?;
                report.add_with_limit("2. big blob chunked", kind, chunked, Some(limits.upload_limit()));
            }
        }
    }

    if wants(3) {
        for clients in plan.push_clients {
            eprintln!("3. {} blobs of 4 KiB-1 MiB, {clients} clients", plan.many_blobs);
            for r in 0..rounds {
                for kind in order(r) {
                    let blobs = blob_set(plan.many_blobs, 4096, 1 << 20, 1000 + variant);
                    variant += 1;
                    let figures = many_blobs::push_then_pull(
                        &server(kind)?.client,
                        &format!("bench/many{clients}-{r}"),
                        &blobs,
                        clients,
                    )
                    .await?;
                    report.add(&format!("3. many blobs, {clients} clients"), kind, figures);
                }
            }
        }
    }

    if wants(4) {
        for kind in [Kind::Berth, Kind::Distribution] {
            manifest_get::setup(&server(kind)?.client, "bench/manifest", "latest", 7).await?;
        }
        for clients in plan.read_clients {
            eprintln!("4. manifest GET by tag, {clients} clients");
            for r in 0..rounds {
                for kind in order(r) {
                    let figures = manifest_get::run(
                        &server(kind)?.client,
                        "bench/manifest",
                        "latest",
                        clients,
                        plan.manifest_duration,
                    )
                    .await?;
                    report.add(&format!("4. manifest GET, {clients} clients"), kind, figures);
                }
            }
        }
    }

    if wants(5) {
        let clients = plan.read_clients[0];
        eprintln!("5. a 10 kB blob: HEAD from {clients} clients, GET from one");
        let small_blob = Bytes::from(random_bytes(10_000, 99));
        let mut small_digest = String::new();
        for kind in [Kind::Berth, Kind::Distribution] {
            small_digest = server(kind)?
                .client
                .push_bytes("bench/small", small_blob.clone())
                .await?;
        }
        for r in 0..rounds {
            for kind in order(r) {
                let figures = small_blob::run(
                    &server(kind)?.client,
                    "bench/small",
                    &small_digest,
                    clients,
                    plan.head_duration,
                )
                .await?;
                report.add("5. small blob", kind, figures);
            }
        }
    }

    if wants(6) {
        eprintln!("6. {} tags listed without n and with n=100", plan.tags);
        for kind in [Kind::Berth, Kind::Distribution] {
            tag_list::setup(&server(kind)?.client, "bench/tags", plan.tags, 11).await?;
        }
        for r in 0..rounds {
            for kind in order(r) {
                let figures = tag_list::run(&server(kind)?.client, "bench/tags", plan.tags).await?;
                report.add(&format!("6. {} tags", plan.tags), kind, figures);
            }
        }
    }

    if wants(7) {
        eprintln!("7. skopeo copy of a {} MiB image", plan.image_bytes >> 20);
        for r in 0..rounds {
            let layout = work.join(format!("layout-{r}"));
            copy_image::write_layout(&layout, plan.image_bytes, plan.image_layers, 500 + r as u64)?;
            for kind in order(r) {
                let out = work.join(format!("copy-out-{r}-{}", kind.name()));
                let s = server(kind)?;
                let repo = format!("bench/copy{r}");
                let figures =
                    copy_image::copy_in_out(&layout, &s.host, &repo, &out, Some(&s.auth_file)).await?;
                report.add("7. skopeo copy", kind, figures);
                std::fs::remove_dir_all(&out)?;
            }
            std::fs::remove_dir_all(&layout)?;
        }
    }

    if wants(8) {
        for (s, idle) in servers.iter().zip(idle) {
            report.add("8. memory", s.kind, vec![Figure::lower("idle RSS", "MiB", idle)]);
            // Over every workload only: a peak over some says little.
            if (1..=7).all(wants) {
                report.add(
                    "8. memory",
                    s.kind,
                    vec![Figure::lower("peak RSS over the run", "MiB", s.peak_rss_mib()?)],
                );
            }
        }
    }
    drop(servers);

    if args.only.contains(&9) {
        let images = args.gc_images.unwrap_or(if args.quick { 2000 } else { 100_000 });
        let plan = GcPlan {
            manifests: images,
            blobs_per_manifest: 10,
            layer_bytes: 1024,
            repositories: (images / 100).max(1),
            concurrency: 64,
            sample: (images / 400).max(1),
            seed: 9000 + variant,
        };
        let run = gc::GcRun {
            plan,
            berth: &args.berth,
            berth_args: berth_args(Kind::Berth, "gc")?,
            distribution: &args.distribution,
            storage: &storage,
            work: &work,
            login: &login,
        };
        gc::run(run, &mut report).await?;
    }
    metadata.drop_all(&["startup", "data", "gc"])?;

    let header = format!(
        "Berth vs CNCF Distribution {} (median of {rounds} runs, interleaved; same disk, same client).\n\
         Machine limits: sha256sum {:.0} MB/s, disk write with fsync {:.0} MB/s{}.\n\
         Durability: Berth fsyncs each blob file and its directory before the blob becomes visible and commits \
         metadata with SQLite WAL synchronous=FULL; Distribution (filesystem driver) fsyncs every file it writes \
         (blob data and link files, seen with strace) and does not fsync directories.\n\
         Scanner: {}\n\
         Authentication: Berth requires it, so the client does what podman does (one Bearer token per repository \
         from Berth's token endpoint, sent on every request, which Berth verifies); Distribution runs without \
         authentication.\n\
         Distribution 2.8 ignores `n` and `last` on tags/list and answers every tag in one unsorted page, so \
         workload 6 compares both of Berth's walks (without `n`, one page; with `n=100`) with that one response.\n\
         Workload 9 (garbage collection) pushes the same store of small images to each (ten blobs of about 1 KiB \
         each, half the images untagged) and times one full pass over it: Berth's `berth gc` while 4 clients push \
         and 4 pull, Distribution's `garbage-collect --delete-untagged` offline, as it must run.",
        if args.quick { "(quick)" } else { "(full)" },
        limits.sha256_mb_s,
        limits.disk_write_mb_s,
        match (&limits.s3, &storage) {
            (Some(s3), Storage::S3(bucket)) => format!(
                "; S3 server ({} on loopback), one object: PUT {:.0} MB/s and GET {:.0} MB/s (curl), \
                 multipart upload in 8 MiB parts, 3 in flight {:.0} MB/s (object_store; the server joins the parts \
                 when the upload completes), the upload limit here.\n\
                 Storage: {}",
                bucket.server,
                s3.put,
                s3.get,
                s3.multipart,
                if bucket.holds_distribution() {
                    "both keep blobs in one bucket of that server, each under its own prefix, and serve them \
                     themselves (no redirect)"
                } else {
                    "Berth keeps blobs in a bucket of that server and serves them itself (no redirect). \
                     Distribution keeps them in a local directory: its S3 driver resumes every upload with \
                     ListMultipartUploads, which s3s-fs answers 501 Not Implemented, so it cannot store a blob there"
                }
            ),
            _ => String::new(),
        },
        if args.scanner {
            "on (Berth's default): every pushed image is indexed in the background, its packages matched."
        } else {
            "off, so Berth is measured doing what Distribution does (bench/scan-index.sh measures indexing)."
        }
    );
    report.print(&header);
    report.write_json(&args.out)?;
    eprintln!("\nwrote {}", args.out.display());
    std::fs::remove_dir_all(&work)?;
    Ok(())
}
