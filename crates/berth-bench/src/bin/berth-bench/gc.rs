//! Workload 9: garbage collection at scale. Each registry gets the same
//! store through its own API (`gc_scale::populate`), half of it garbage.
//! Berth collects with `berth gc` (its own process, so its memory is its
//! own) while clients push and pull, after a `--dry-run` that must name
//! exactly the garbage; Distribution collects offline (stopped, as its
//! `garbage-collect` requires), with the same flags it needs to remove
//! untagged images.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_bench::workloads::Figure;
use berth_bench::workloads::gc_scale::{self, GcPlan, Load};

use crate::report::Report;
use crate::servers::{Kind, Login, Server, Storage, data_dir};

const WORKLOAD: &str = "9. garbage collection";

/// Berth's push grace period here: the untagged half becomes garbage this
/// long after it was pushed.
const GRACE_S: u64 = 10;

/// What the workload needs from the run.
pub struct GcRun<'a> {
    pub plan: GcPlan,
    pub berth: &'a Path,
    pub berth_args: Vec<String>,
    pub distribution: &'a Path,
    pub storage: &'a Storage,
    pub work: &'a Path,
    pub login: &'a Login,
}

/// A finished child process: its standard output, how long it ran and its
/// peak resident memory (MiB, sampled every 10 ms from `/proc`).
struct Measured {
    stdout: String,
    elapsed: Duration,
    peak_mib: f64,
}

fn measured(cmd: &mut Command) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {cmd:?}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut out = child.stdout.take().context("stdout")?;
    let mut err = child.stderr.take().context("stderr")?;
    let stdout = std::thread::spawn(move || std::io::read_to_string(&mut out));
    let stderr = std::thread::spawn(move || std::io::read_to_string(&mut err));
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let stdout = stdout.join().map_err(|_| anyhow::anyhow!("stdout reader"))??;
    let stderr = stderr.join().map_err(|_| anyhow::anyhow!("stderr reader"))??;
    if !status.success() {
        bail!("{cmd:?} failed: {status}\n{stdout}\n{stderr}");
    }
    // What it logged (`BENCH_GC_LOG`), for the record.
    eprint!("{stderr}");
    Ok(Measured {
        stdout,
        elapsed,
        peak_mib: peak_kib as f64 / 1024.0,
    })
}

/// The number on the line `name: N` of `berth gc`'s output.
fn line_value(out: &str, name: &str) -> anyhow::Result<u64> {
    out.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .with_context(|| format!("no {name:?} in {out}"))?
        .trim()
        .parse()
        .with_context(|| format!("{name:?} in {out}"))
}

/// Files named `data` under Distribution's blob directory: one per blob,
/// manifests included (it stores them as blobs).
fn distribution_blob_files(dir: &Path) -> anyhow::Result<u64> {
    let mut n = 0;
    let mut stack: Vec<PathBuf> = vec![dir.join("data/docker/registry/v2/blobs")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else if entry.file_name() == "data" {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The pass's figures: its time, the garbage blobs freed per second and
/// its peak memory.
fn pass_figures(plan: &GcPlan, pass: &Measured) -> Vec<Figure> {
    let secs = pass.elapsed.as_secs_f64();
    vec![
        Figure::lower("full pass", "s", secs),
        Figure::higher(
            "garbage blobs freed",
            "blobs/s",
            plan.garbage_blobs() as f64 / secs,
        ),
        Figure::lower("peak RSS of the pass", "MiB", pass.peak_mib),
    ]
}

/// Run the workload on both registries.
pub async fn run(r: GcRun<'_>, report: &mut Report) -> anyhow::Result<()> {
    let plan = r.plan;
    eprintln!(
        "9. garbage collection: {} images of {} blobs ({} blobs), half of them garbage",
        plan.manifests,
        plan.blobs_per_manifest,
        plan.blobs()
    );
    let grace = GRACE_S.to_string();
    let env = [
        ("BERTH_FEATURE_GARBAGE_COLLECTION", "false"),
        ("BERTH_PUSH_TEMP_TAG_EXPIRATION_SEC", grace.as_str()),
    ];
    let s = Server::start(
        Kind::Berth,
        r.berth,
        &r.berth_args,
        &env,
        r.storage,
        false,
        &data_dir(r.work, Kind::Berth, "gc"),
        r.login,
    )
    .await?;
    let (sample, rate) = gc_scale::populate(&s.client, &plan).await?;
    report.add(
        WORKLOAD,
        Kind::Berth,
        vec![Figure::higher("push of the store", "images/s", rate)],
    );
    eprintln!("   Berth: pushed at {rate:.0} images/s");
    tokio::time::sleep(Duration::from_secs(GRACE_S + 2)).await;
    let gc = |extra: &[&str]| {
        let mut cmd = Command::new(r.berth);
        cmd.arg("gc")
            .args(extra)
            .arg("--data-dir")
            .arg(&s.dir)
            .args(&s.berth_args)
            .envs(s.berth_env.iter().map(|(k, v)| (k, v)))
            // E.g. `berth_core=debug` shows the time of each step.
            .env(
                "RUST_LOG",
                std::env::var("BENCH_GC_LOG").unwrap_or_else(|_| "error".to_owned()),
            );
        cmd
    };
    let dry = tokio::task::block_in_place(|| measured(&mut gc(&["--dry-run"])))?;
    let reclaimable = line_value(&dry.stdout, "blobs")?;
    if reclaimable != plan.garbage_blobs() as u64 {
        bail!(
            "the dry run names {reclaimable} garbage blobs, not {}",
            plan.garbage_blobs()
        );
    }
    report.add(
        WORKLOAD,
        Kind::Berth,
        vec![Figure::lower("dry run", "s", dry.elapsed.as_secs_f64())],
    );
    let load = Load::start(&s.client, &plan, &sample, 4, 4);
    let pass = tokio::task::block_in_place(|| measured(&mut gc(&[])));
    let done = load.finish().await?;
    let pass = pass?;
    let deleted = line_value(&pass.stdout, "objects deleted")?;
    if deleted != plan.garbage_blobs() as u64 {
        bail!("berth gc deleted {deleted} objects, not {}", plan.garbage_blobs());
    }
    report.add(WORKLOAD, Kind::Berth, pass_figures(&plan, &pass));
    let secs = done.elapsed.as_secs_f64();
    report.add(
        WORKLOAD,
        Kind::Berth,
        vec![
            Figure::higher(
                "images pushed during the pass",
                "images/s",
                done.pushes as f64 / secs,
            ),
            Figure::higher(
                "images pulled during the pass",
                "images/s",
                done.pulls as f64 / secs,
            ),
        ],
    );
    eprintln!(
        "   Berth: pass {:.1} s, peak {:.0} MiB; meanwhile {} pushes and {} pulls",
        pass.elapsed.as_secs_f64(),
        pass.peak_mib,
        done.pushes,
        done.pulls
    );
    gc_scale::check_after(&s.client, &sample).await?;
    drop(s);

    let dir = data_dir(r.work, Kind::Distribution, "gc");
    // On its directory, where its freed blob files are counted.
    let d = Server::start(
        Kind::Distribution,
        r.distribution,
        &[],
        &[],
        &Storage::Dir,
        false,
        &dir,
        r.login,
    )
    .await?;
    let (_, rate) = gc_scale::populate(&d.client, &plan).await?;
    report.add(
        WORKLOAD,
        Kind::Distribution,
        vec![Figure::higher("push of the store", "images/s", rate)],
    );
    eprintln!("   Distribution: pushed at {rate:.0} images/s");
    // Its garbage collection runs only on a stopped registry.
    drop(d);
    let before = distribution_blob_files(&dir)?;
    let collect = |extra: &[&str]| {
        let mut cmd = Command::new(r.distribution);
        cmd.arg("garbage-collect")
            .arg("--delete-untagged")
            .args(extra)
            .arg(dir.join("config.yml"));
        cmd
    };
    let dry = tokio::task::block_in_place(|| measured(&mut collect(&["--dry-run"])))?;
    report.add(
        WORKLOAD,
        Kind::Distribution,
        vec![Figure::lower("dry run", "s", dry.elapsed.as_secs_f64())],
    );
    let pass = tokio::task::block_in_place(|| measured(&mut collect(&[])))?;
    let freed = before - distribution_blob_files(&dir)?;
    // The garbage blobs, and the untagged manifests it keeps as blobs.
    let expected = (plan.garbage_blobs() + plan.manifests / 2) as u64;
    if freed != expected {
        bail!("Distribution's pass freed {freed} blob files, not {expected}");
    }
    report.add(WORKLOAD, Kind::Distribution, pass_figures(&plan, &pass));
    eprintln!(
        "   Distribution: pass {:.1} s, peak {:.0} MiB",
        pass.elapsed.as_secs_f64(),
        pass.peak_mib
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
