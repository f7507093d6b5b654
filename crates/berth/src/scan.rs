//! `berth scan`: index an image's packages with `berth-scan`.

mod output;
mod source;

use std::io::Read;

use anyhow::Context;
use berth_oci::{Digest, Hasher};
use berth_scan::{LayerError, Limits};
use clap::{Args, Subcommand, ValueEnum};

use source::{ImageRef, LayerReader, Source};

/// `berth scan ...`
#[derive(Args)]
pub struct ScanArgs {
    #[command(subcommand)]
    command: ScanCommand,
}

#[derive(Subcommand)]
enum ScanCommand {
    /// List every package in an image: `oci:DIR[:TAG]` or
    /// `docker://HOST/REPO[:TAG|@DIGEST]`.
    Index(IndexArgs),
}

#[derive(Args)]
struct IndexArgs {
    /// The image, named with a transport as skopeo does.
    image: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// `USER:PASS` for the registry.
    #[arg(long, env = "BERTH_SCAN_CREDS", hide_env_values = true)]
    creds: Option<String>,
    /// Require HTTPS and a valid certificate (`false` also allows plain HTTP).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
}

/// How the inventory is printed.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Aligned columns for people.
    Table,
    /// The full inventory as JSON.
    Json,
}

/// Run a `berth scan` subcommand.
pub async fn run(args: ScanArgs) -> anyhow::Result<()> {
    match args.command {
        ScanCommand::Index(a) => index(a).await,
    }
}

async fn index(args: IndexArgs) -> anyhow::Result<()> {
    let image: ImageRef = args.image.parse()?;
    let source = Source::open(&image, args.creds.as_deref(), args.tls_verify).await?;
    let manifest = source.manifest().await?;
    let limits = Limits::default();
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for digest in &manifest.layers {
        let reader = source
            .layer(digest)
            .await
            .with_context(|| format!("fetching layer {digest}"))?;
        let expected = digest.clone();
        let result = tokio::task::spawn_blocking(move || index_verified(reader, &expected, &limits))
            .await
            .context("layer indexing task")?;
        layers.push((digest.clone(), result));
    }
    let inventory = berth_scan::assemble(&layers);
    let mut stdout = std::io::stdout().lock();
    let printed = match args.format {
        Format::Table => output::table(&mut stdout, &inventory),
        Format::Json => output::json(&mut stdout, &image.to_string(), &manifest.digest, &inventory),
    };
    match printed {
        // The reader went away (`| head`): not an error of the scan.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        other => other?,
    }
    let failed = inventory.layers.iter().filter(|l| l.error.is_some()).count();
    if failed > 0 {
        for l in inventory.layers.iter().filter(|l| l.error.is_some()) {
            eprintln!("layer {}: {}", l.digest, l.error.as_deref().unwrap_or_default());
        }
        anyhow::bail!("{failed} layer(s) could not be indexed");
    }
    Ok(())
}

/// Index a layer while hashing its bytes, and fail it if they do not match
/// the digest the manifest promised.
fn index_verified(
    reader: LayerReader,
    expected: &Digest,
    limits: &Limits,
) -> Result<berth_scan::LayerIndex, LayerError> {
    let mut hashing = HashingReader {
        inner: reader,
        hasher: Hasher::new(expected.algorithm()),
    };
    let index = berth_scan::index_layer(&mut hashing, limits)?;
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| LayerError::Corrupt(e.to_string()))?;
    let actual = hashing.hasher.finish();
    if &actual != expected {
        return Err(LayerError::Corrupt(format!(
            "content digest is {actual}, not {expected}"
        )));
    }
    Ok(index)
}

struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
