//! Findings as a SARIF 2.1.0 log: one rule per vulnerability, one result
//! per vulnerable package, levels from Clair's severities (Critical and
//! High are errors, Medium warnings, the rest notes).

use std::collections::BTreeMap;
use std::io::Write;

use berth_core::vulns::Severity;
use serde_json::{Value, json};

use super::vulns::Finding;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Negligible | Severity::Unknown => "note",
    }
}

/// GitHub's `security-severity` property (a CVSS-like score) per severity.
fn score(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Negligible | Severity::Unknown => "0.0",
    }
}

/// Write the SARIF log of `found` in image `image`.
pub fn write(out: &mut impl Write, image: &str, found: &[Finding<'_>]) -> std::io::Result<()> {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let mut results = Vec::with_capacity(found.len());
    for f in found {
        let v = f.vulnerability;
        rules.entry(v.name.as_str()).or_insert_with(|| {
            let summary = if v.description.is_empty() {
                v.name.clone()
            } else {
                v.description.chars().take(200).collect()
            };
            let mut rule = json!({
                "id": v.name,
                "shortDescription": {"text": format!("{} ({})", v.name, v.severity)},
                "fullDescription": {"text": summary},
                "defaultConfiguration": {"level": level(v.severity)},
                "properties": {"security-severity": score(v.severity), "tags": ["vulnerability", "security"]},
            });
            if let Some(link) = v.links.first() {
                rule["helpUri"] = json!(link);
            }
            rule
        });
        let fix = v
            .fixed_by
            .as_deref()
            .map_or_else(|| "no fixed version".to_owned(), |x| format!("fixed in {x}"));
        results.push(json!({
            "ruleId": v.name,
            "level": level(v.severity),
            "message": {"text": format!("{} {} is affected by {} ({}); {fix}", f.package, f.version, v.name, v.severity)},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": image}},
                "logicalLocations": [{"name": format!("{}@{}", f.package, f.version), "kind": "package"}],
            }],
            "properties": {"package": f.package, "version": f.version, "ecosystem": f.ecosystem, "layer": f.layer},
        }));
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "berth",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}
