//! `berth scan`: index an image's packages with `berth-scan`, and match
//! them against a vulnerability bundle or a running registry's database.

mod archive;
mod output;
mod registry;
mod sarif;
mod sbom;
mod source;
mod vulns;

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use berth_oci::{Digest, Hasher};
use berth_scan::{DirCache, LayerError, Limits};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use source::{ImageRef, LayerReader, Source};

/// `berth scan ...`
#[derive(Args)]
pub struct ScanArgs {
    #[command(subcommand)]
    command: ScanCommand,
}

#[derive(Subcommand)]
enum ScanCommand {
    /// List every package in an image: `oci:DIR[:TAG]`,
    /// `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF]` or
    /// `docker://HOST/REPO[:TAG|@DIGEST]`.
    Index(IndexArgs),
    /// List an image's vulnerabilities (the images `index` takes), matched
    /// against a bundle (`--vulndb`) or a running registry (`--registry`).
    Vulns(vulns::VulnsArgs),
}

#[derive(Args)]
struct IndexArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// The image to read and how.
#[derive(Args)]
struct ImageArgs {
    /// The image, named with a transport as skopeo does.
    image: String,
    /// `USER:PASS` for the registry.
    #[arg(long, env = "BERTH_SCAN_CREDS", hide_env_values = true)]
    creds: Option<String>,
    /// Require HTTPS and a valid certificate (`false` also allows plain HTTP).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// Where per-layer results are cached (default: the user cache
    /// directory, `$XDG_CACHE_HOME/berth/scan`).
    #[arg(long, env = "BERTH_SCAN_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Index every layer, neither reading nor writing the cache.
    #[arg(long)]
    no_cache: bool,
}

/// How the inventory is printed.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Aligned columns for people.
    Table,
    /// The full inventory as JSON.
    Json,
    /// An SPDX 2.3 JSON document.
    SpdxJson,
    /// A CycloneDX 1.5 JSON document.
    CyclonedxJson,
}

/// Run a `berth scan` subcommand.
pub async fn run(args: ScanArgs) -> anyhow::Result<()> {
    match args.command {
        ScanCommand::Index(a) => index(a).await,
        ScanCommand::Vulns(a) => vulns::run(a).await,
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("berth").join("scan"))
}

/// An image read and indexed.
struct Indexed {
    /// Its name as given.
    name: String,
    /// Its manifest's digest.
    manifest: Digest,
    /// Its packages.
    inventory: berth_scan::Inventory,
}

/// Read every layer of the image (from the cache where it can) and
/// assemble its inventory.
async fn read_image(args: ImageArgs) -> anyhow::Result<Indexed> {
    let image: ImageRef = args.image.parse()?;
    let cache = match (args.no_cache, args.cache_dir.or_else(default_cache_dir)) {
        (false, Some(dir)) => {
            Some(DirCache::open(&dir).with_context(|| format!("opening the cache {}", dir.display()))?)
        }
        _ => None,
    };
    let source = Source::open(&image, args.creds.as_deref(), args.tls_verify).await?;
    let manifest = source.manifest().await?;
    let limits = Limits::default();
    let progress = progress_bar(manifest.layers.iter().map(|(_, size)| size).sum());
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (n, (digest, size)) in manifest.layers.iter().enumerate() {
        progress.set_message(format!("layer {}/{}", n + 1, manifest.layers.len()));
        if let Some(hit) = cache.as_ref().and_then(|c| c.get(digest)) {
            progress.inc(*size);
            layers.push((digest.clone(), Ok(hit)));
            continue;
        }
        let reader = source
            .layer(digest)
            .await
            .with_context(|| format!("fetching layer {digest}"))?;
        let expected = digest.clone();
        let bar = progress.clone();
        let result = tokio::task::spawn_blocking(move || index_verified(reader, &expected, &limits, &bar))
            .await
            .context("layer indexing task")?;
        if let (Some(c), Ok(index)) = (&cache, &result)
            && let Err(e) = c.put(digest, index)
        {
            tracing::warn!("could not cache layer {digest}: {e}");
        }
        layers.push((digest.clone(), result));
    }
    progress.finish_and_clear();
    Ok(Indexed {
        name: image.to_string(),
        manifest: manifest.digest,
        inventory: berth_scan::assemble(&layers),
    })
}

/// Name the layers that could not be indexed, and fail if any.
fn check_layers(inventory: &berth_scan::Inventory) -> anyhow::Result<()> {
    let failed = inventory.layers.iter().filter(|l| l.error.is_some()).count();
    if failed > 0 {
        for l in inventory.layers.iter().filter(|l| l.error.is_some()) {
            eprintln!("layer {}: {}", l.digest, l.error.as_deref().unwrap_or_default());
        }
        anyhow::bail!("{failed} layer(s) could not be indexed");
    }
    Ok(())
}

async fn index(args: IndexArgs) -> anyhow::Result<()> {
    let Indexed {
        name,
        manifest,
        inventory,
    } = read_image(args.image).await?;
    let subject = sbom::Subject {
        image: &name,
        manifest: &manifest,
    };
    let mut stdout = std::io::stdout().lock();
    let printed = match args.format {
        Format::Table => output::table(&mut stdout, &inventory),
        Format::Json => output::json(&mut stdout, &name, &manifest, &inventory),
        Format::SpdxJson => sbom::spdx(&mut stdout, &subject, &inventory),
        Format::CyclonedxJson => sbom::cyclonedx(&mut stdout, &subject, &inventory),
    };
    match printed {
        // The reader went away (`| head`): not an error of the scan.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        other => other?,
    }
    check_layers(&inventory)
}

/// Bytes of layers done, drawn only when stderr is a terminal.
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Index a layer while hashing its bytes, and fail it if they do not match
/// the digest the manifest promised.
fn index_verified(
    reader: LayerReader,
    expected: &Digest,
    limits: &Limits,
    progress: &ProgressBar,
) -> Result<berth_scan::LayerIndex, LayerError> {
    let mut hashing = HashingReader {
        inner: reader,
        hasher: Hasher::new(expected.algorithm()),
        progress,
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

struct HashingReader<'a, R> {
    inner: R,
    hasher: Hasher,
    progress: &'a ProgressBar,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.progress.inc(n as u64);
        Ok(n)
    }
}
