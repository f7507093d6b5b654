//! Printing an inventory: a table for people, JSON for programs.

use std::io::Write;

use berth_scan::Inventory;
use serde::Serialize;

/// Aligned columns: name, version, type, source package, layer.
pub fn table(out: &mut impl Write, inv: &Inventory) -> std::io::Result<()> {
    if let Some(d) = &inv.distribution {
        let name = d
            .pretty_name
            .clone()
            .unwrap_or_else(|| format!("{} {}", d.id, d.version_id.as_deref().unwrap_or_default()));
        writeln!(out, "Distribution: {name}")?;
    }
    let rows: Vec<[String; 5]> = inv
        .packages
        .iter()
        .map(|e| {
            let p = &e.package;
            let source = p
                .source
                .as_ref()
                .filter(|s| s.name != p.name || s.version != p.version)
                .map(|s| format!("{} {}", s.name, s.version))
                .unwrap_or_default();
            let layer = e.layer.split_once(':').map_or(e.layer.as_str(), |(_, h)| h);
            [
                p.name.clone(),
                p.version.clone(),
                p.ecosystem.purl_type().to_owned(),
                source,
                layer.chars().take(12).collect(),
            ]
        })
        .collect();
    let header = ["NAME", "VERSION", "TYPE", "SOURCE", "LAYER"].map(str::to_owned);
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
    writeln!(out, "{} packages", rows.len())
}

#[derive(Serialize)]
struct JsonPackage<'a> {
    #[serde(flatten)]
    entry: &'a berth_scan::InventoryEntry,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    image: &'a str,
    manifest: String,
    distribution: &'a Option<berth_scan::Distribution>,
    packages: Vec<JsonPackage<'a>>,
    layers: &'a [berth_scan::LayerOutcome],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

/// The inventory as one JSON document, each package with its purl.
pub fn json(
    out: &mut impl Write,
    image: &str,
    manifest: &berth_oci::Digest,
    inv: &Inventory,
) -> std::io::Result<()> {
    let report = JsonReport {
        image,
        manifest: manifest.to_string(),
        distribution: &inv.distribution,
        packages: inv
            .packages
            .iter()
            .map(|entry| JsonPackage {
                purl: entry.package.purl(inv.distribution.as_ref()),
                entry,
            })
            .collect(),
        layers: &inv.layers,
        warnings: &inv.warnings,
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}
