//! `berth scan vulns IMAGE`: index the image as `berth scan index` does,
//! match its packages against a vulnerability bundle (`--vulndb`, as
//! `berth vulndb export` writes) or a running registry's records
//! (`--registry`, which stores nothing), and print the findings as a table,
//! JSON or SARIF 2.1.0. `--fail-on` makes findings at or above a severity
//! an error, for CI gates.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use berth_core::vulns::{Bundle, Report, Severity};
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{ImageArgs, Indexed, check_layers, read_image};

/// `berth scan vulns` flags.
#[derive(Args)]
pub struct VulnsArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = VulnsFormat::Table)]
    format: VulnsFormat,
    /// Fail (exit status 3) when a finding is at or above this severity
    /// (`Critical`, `High`, `Medium`, `Low`, `Negligible`, `Unknown`).
    #[arg(long, value_parser = parse_severity)]
    fail_on: Option<Severity>,
    /// A bundle written by `berth vulndb export`.
    #[arg(long, conflicts_with = "registry", required_unless_present = "registry")]
    vulndb: Option<PathBuf>,
    /// A running registry's URL (`https://registry.example`), whose records
    /// are matched against.
    #[arg(long)]
    registry: Option<String>,
    /// `USER:PASS` for `--registry` (default: anonymous).
    #[arg(long, env = "BERTH_SCAN_REGISTRY_CREDS", hide_env_values = true)]
    registry_creds: Option<String>,
}

/// How findings are printed.
#[derive(Clone, Copy, ValueEnum)]
enum VulnsFormat {
    /// Aligned columns for people.
    Table,
    /// Every finding as JSON.
    Json,
    /// A SARIF 2.1.0 log (code-scanning tools).
    Sarif,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s).ok_or_else(|| {
        format!("unknown severity {s:?}: one of Critical, High, Medium, Low, Negligible, Unknown")
    })
}

/// One finding: a vulnerability of a package.
#[derive(Serialize)]
pub(super) struct Finding<'a> {
    /// The package's name.
    pub package: &'a str,
    /// Its installed version.
    pub version: &'a str,
    /// Its packaging system (purl type).
    pub ecosystem: &'static str,
    /// The layer that introduced it.
    pub layer: &'a str,
    /// The vulnerability.
    #[serde(flatten)]
    pub vulnerability: &'a berth_core::vulns::Vulnerability,
}

/// Every finding of a report, most severe first, then by package and name.
pub(super) fn findings(report: &Report) -> Vec<Finding<'_>> {
    let mut out: Vec<Finding<'_>> = report
        .features
        .iter()
        .flat_map(|f| {
            f.vulnerabilities.iter().map(move |v| Finding {
                package: &f.package.name,
                version: &f.package.version,
                ecosystem: f.package.ecosystem.purl_type(),
                layer: &f.added_by,
                vulnerability: v,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.vulnerability
            .severity
            .cmp(&a.vulnerability.severity)
            .then_with(|| a.package.cmp(b.package))
            .then_with(|| a.vulnerability.name.cmp(&b.vulnerability.name))
    });
    out
}

/// Run `berth scan vulns`.
pub async fn run(args: VulnsArgs) -> anyhow::Result<()> {
    // The bundle is checked before any layer is read.
    let bundle = match &args.vulndb {
        Some(path) => Some(Bundle::read(path).await?),
        None => None,
    };
    let Indexed {
        name,
        manifest,
        inventory,
    } = read_image(args.image).await?;
    check_layers(&inventory)?;
    let report = match (&bundle, &args.registry) {
        (Some(b), _) => b.match_inventory(&inventory),
        (None, Some(url)) => remote(url, args.registry_creds.as_deref(), &inventory).await?,
        (None, None) => anyhow::bail!("name a bundle (--vulndb) or a registry (--registry)"),
    };
    let found = findings(&report);
    let mut stdout = std::io::stdout().lock();
    let printed = match args.format {
        VulnsFormat::Table => table(&mut stdout, &found),
        VulnsFormat::Json => json(&mut stdout, &name, &manifest.to_string(), &report, &found),
        VulnsFormat::Sarif => super::sarif::write(&mut stdout, &name, &found),
    };
    match printed {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        other => other?,
    }
    drop(stdout);
    if let Some(min) = args.fail_on {
        let over = found.iter().filter(|f| f.vulnerability.severity >= min).count();
        if over > 0 {
            eprintln!("{over} finding(s) at or above {min}");
            std::process::exit(3);
        }
    }
    Ok(())
}

/// The registry's report of `inventory` (`POST /api/v1/vulnerability/match`).
async fn remote(
    url: &str,
    creds: Option<&str>,
    inventory: &berth_core::vulns::Inventory,
) -> anyhow::Result<Report> {
    let endpoint = format!("{}/api/v1/vulnerability/match", url.trim_end_matches('/'));
    let mut request = reqwest::Client::builder()
        .build()?
        .post(&endpoint)
        .json(&serde_json::json!({
            "distribution": inventory.distribution,
            "packages": inventory.packages,
        }));
    if let Some(creds) = creds {
        let (user, password) = creds
            .split_once(':')
            .context("--registry-creds must be USER:PASS")?;
        request = request.basic_auth(user, Some(password));
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("asking {endpoint}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!(
            "{endpoint} answered {status}: {}",
            body.chars().take(500).collect::<String>()
        );
    }
    response
        .json::<Report>()
        .await
        .with_context(|| format!("reading the report from {endpoint}"))
}

fn table(out: &mut impl Write, found: &[Finding<'_>]) -> std::io::Result<()> {
    let rows: Vec<[String; 5]> = found
        .iter()
        .map(|f| {
            [
                f.package.to_owned(),
                f.version.to_owned(),
                f.vulnerability.name.clone(),
                f.vulnerability.severity.as_str().to_owned(),
                f.vulnerability.fixed_by.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["PACKAGE", "VERSION", "VULNERABILITY", "SEVERITY", "FIXED BY"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    writeln!(out, "{} vulnerabilities", rows.len())
}

#[derive(Serialize)]
struct JsonOut<'a> {
    image: &'a str,
    manifest: &'a str,
    distribution: &'a Option<berth_core::vulns::Distribution>,
    summary: berth_core::vulns::Summary,
    vulnerabilities: &'a [Finding<'a>],
}

fn json(
    out: &mut impl Write,
    image: &str,
    manifest: &str,
    report: &Report,
    found: &[Finding<'_>],
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(
        &mut *out,
        &JsonOut {
            image,
            manifest,
            distribution: &report.distribution,
            summary: report.summary(),
            vulnerabilities: found,
        },
    )?;
    writeln!(out)
}
