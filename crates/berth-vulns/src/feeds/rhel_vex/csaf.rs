//! One Red Hat CSAF VEX document (one CVE) into advisories.
//!
//! Products are `<platform>:<component>` ids (the product tree's
//! relationships): the platform carries the repository CPE, the component
//! a purl naming the binary rpm and, for fixes, its EVR. Only platforms of
//! the main RHEL stream (`cpe:/[ao]:redhat:enterprise_linux:<major>…`:
//! BaseOS, AppStream, CodeReady…) are kept, under the namespace
//! `rhel:<major>`: the repositories a RHEL or UBI image installs from
//! unless its content manifests say otherwise (EUS, AUS, SAP and layered
//! products name other CPEs). `fixed` gives the fix (the highest EVR of
//! the stream, as an image on it updates to the newest), `known_affected`
//! an unfixed finding (will not fix when the remediation says so),
//! `known_not_affected` and `under_investigation` give none. Source rpms
//! and module streams' rpms are skipped (binary rpms are matched by name;
//! module streams are not known for installed rpms).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use berth_scan::version::{Scheme, compare};
use serde::Deserialize;

use crate::feeds::{FeedError, format_error, name, text};
use crate::{Advisory, Affected, Severity};

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    document: Option<Meta>,
    #[serde(default)]
    product_tree: Option<ProductTree>,
    #[serde(default)]
    vulnerabilities: Vec<Vulnerability>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    aggregate_severity: Option<Text>,
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

#[derive(Deserialize)]
struct ProductTree {
    #[serde(default)]
    branches: Vec<Branch>,
    #[serde(default)]
    relationships: Vec<Relationship>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(default)]
    product: Option<Product>,
    #[serde(default)]
    branches: Vec<Branch>,
}

#[derive(Deserialize)]
struct Product {
    product_id: String,
    #[serde(default)]
    product_identification_helper: Option<Helper>,
}

#[derive(Deserialize)]
struct Helper {
    #[serde(default)]
    cpe: Option<String>,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct Relationship {
    full_product_name: FullName,
    product_reference: String,
    relates_to_product_reference: String,
}

#[derive(Deserialize)]
struct FullName {
    product_id: String,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(default)]
    cve: Option<String>,
    #[serde(default)]
    notes: Vec<Note>,
    #[serde(default)]
    references: Vec<Reference>,
    #[serde(default)]
    product_status: Option<ProductStatus>,
    #[serde(default)]
    remediations: Vec<Remediation>,
    #[serde(default)]
    threats: Vec<Threat>,
}

#[derive(Deserialize)]
struct Note {
    category: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(default)]
    category: Option<String>,
    url: String,
}

#[derive(Deserialize)]
struct ProductStatus {
    #[serde(default)]
    fixed: Vec<String>,
    #[serde(default)]
    known_affected: Vec<String>,
}

#[derive(Deserialize)]
struct Remediation {
    category: String,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    product_ids: Vec<String>,
}

#[derive(Deserialize)]
struct Threat {
    category: String,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    product_ids: Vec<String>,
}

/// A binary rpm named by a component's purl.
struct Rpm {
    name: String,
    /// `epoch:version-release` (epoch only when not 0), if the purl has one.
    evr: Option<String>,
}

/// Red Hat's impact on Clair's scale.
pub fn impact(s: &str) -> Severity {
    match s.trim().to_ascii_lowercase().as_str() {
        "low" => Severity::Low,
        "moderate" => Severity::Medium,
        "important" => Severity::High,
        "critical" => Severity::Critical,
        _ => Severity::Unknown,
    }
}

/// `rhel:<major>` for a main-stream RHEL CPE.
pub fn namespace(cpe: &str) -> Option<String> {
    let mut parts = cpe.split(':');
    let (Some("cpe"), Some("/o" | "/a"), Some("redhat"), Some("enterprise_linux"), Some(major)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (!major.is_empty() && major.len() <= 3 && major.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("rhel:{major}"))
}

/// A binary rpm from a purl (`pkg:rpm/redhat/curl@7.76.1-26.el9_3.2?arch=x86_64&epoch=1`);
/// `None` for source rpms, module streams' rpms and other types.
fn rpm(purl: &str) -> Option<Rpm> {
    let rest = purl.strip_prefix("pkg:rpm/")?;
    let (path, qualifiers) = rest.split_once('?').unwrap_or((rest, ""));
    let (path, version) = match path.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (path, None),
    };
    let name = path.rsplit('/').next()?.to_owned();
    let mut epoch = None;
    for q in qualifiers.split('&') {
        match q.split_once('=') {
            Some(("arch", "src")) | Some(("rpmmod", _)) => return None,
            Some(("epoch", e)) if e != "0" => epoch = Some(e),
            _ => {}
        }
    }
    let evr = version.map(|v| match epoch {
        Some(e) => format!("{e}:{v}"),
        None => v.to_owned(),
    });
    Some(Rpm { name, evr })
}

fn higher(a: &str, b: &str) -> bool {
    compare(Scheme::Rpm, a, b).is_ok_and(|o| o == Ordering::Greater)
}

/// What one (namespace, package) of the document says.
#[derive(Default)]
struct Finding {
    fixed: Option<String>,
    affected: bool,
    will_not_fix: bool,
    severity: Severity,
}

/// Parse one VEX document (`source` names it in errors).
pub fn parse(source: &str, bytes: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| format_error(source, e))?;
    let Some(tree) = doc.product_tree else {
        return Ok(Vec::new());
    };
    let mut cpes: HashMap<&str, &str> = HashMap::new();
    let mut purls: HashMap<&str, &str> = HashMap::new();
    let mut stack: Vec<&Branch> = tree.branches.iter().collect();
    while let Some(b) = stack.pop() {
        stack.extend(&b.branches);
        let Some(p) = &b.product else { continue };
        let Some(h) = &p.product_identification_helper else {
            continue;
        };
        if let Some(cpe) = &h.cpe {
            cpes.insert(&p.product_id, cpe);
        }
        if let Some(purl) = &h.purl {
            purls.insert(&p.product_id, purl);
        }
    }
    // product id → (namespace, binary rpm)
    let mut products: HashMap<&str, (String, Rpm)> = HashMap::new();
    for r in &tree.relationships {
        let Some(ns) = cpes
            .get(r.relates_to_product_reference.as_str())
            .and_then(|c| namespace(c))
        else {
            continue;
        };
        let Some(rpm) = purls.get(r.product_reference.as_str()).and_then(|p| rpm(p)) else {
            continue;
        };
        products.insert(&r.full_product_name.product_id, (ns, rpm));
    }
    let default_severity = doc
        .document
        .as_ref()
        .and_then(|d| d.aggregate_severity.as_ref())
        .map(|s| impact(&s.text))
        .unwrap_or_default();
    let mut out = Vec::new();
    for v in doc.vulnerabilities {
        let Some(cve) = v.cve.as_deref() else { continue };
        let id = name(source, "cve", cve)?;
        let Some(status) = &v.product_status else { continue };
        let mut severity: HashMap<&str, Severity> = HashMap::new();
        for t in v.threats.iter().filter(|t| t.category == "impact") {
            let s = impact(t.details.as_deref().unwrap_or(""));
            for p in &t.product_ids {
                severity.insert(p, s);
            }
        }
        let mut wont_fix: HashMap<&str, bool> = HashMap::new();
        for r in &v.remediations {
            let details = r.details.as_deref().unwrap_or("");
            let no = r.category == "no_fix_planned"
                || (r.category == "none_available"
                    && (details.contains("Will not fix") || details.contains("Out of support scope")));
            for p in &r.product_ids {
                *wont_fix.entry(p).or_default() |= no;
            }
        }
        let mut findings: BTreeMap<(String, String), Finding> = BTreeMap::new();
        let statuses = status.fixed.iter().map(|p| (p, true));
        for (product, fixed) in statuses.chain(status.known_affected.iter().map(|p| (p, false))) {
            let Some((ns, rpm)) = products.get(product.as_str()) else {
                continue;
            };
            let package = name(source, "package name", &rpm.name)?;
            let f = findings.entry((ns.clone(), package)).or_default();
            f.severity = f.severity.max(
                severity
                    .get(product.as_str())
                    .copied()
                    .unwrap_or(default_severity),
            );
            if fixed {
                let Some(evr) = &rpm.evr else { continue };
                let evr = name(source, "version", evr)?;
                if f.fixed.as_deref().is_none_or(|old| higher(&evr, old)) {
                    f.fixed = Some(evr);
                }
            } else {
                f.affected = true;
                f.will_not_fix |= wont_fix.get(product.as_str()).copied().unwrap_or(false);
            }
        }
        let description = v
            .notes
            .iter()
            .find(|n| n.category == "description")
            .or_else(|| v.notes.iter().find(|n| n.category == "summary"))
            .map(|n| text(&n.text))
            .unwrap_or_default();
        let mut links: Vec<String> = v
            .references
            .iter()
            .filter(|r| r.category.as_deref() == Some("self"))
            .map(|r| text(&r.url))
            .collect();
        if links.is_empty() {
            links.push(format!("https://access.redhat.com/security/cve/{id}"));
        }
        for ((namespace, package), f) in findings {
            // A fix on the stream outranks an unfixed entry of another
            // platform of the same stream.
            let affected = match (f.fixed, f.affected) {
                (Some(fixed), _) => Affected::Distro {
                    fixed: Some(fixed),
                    will_not_fix: false,
                },
                (None, true) => Affected::Distro {
                    fixed: None,
                    will_not_fix: f.will_not_fix,
                },
                (None, false) => continue,
            };
            out.push(Advisory {
                id: id.clone(),
                aliases: Vec::new(),
                namespace,
                package,
                affected,
                severity: f.severity,
                links: links.clone(),
                description: description.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpes_and_purls() {
        assert_eq!(
            namespace("cpe:/a:redhat:enterprise_linux:9::appstream").as_deref(),
            Some("rhel:9")
        );
        assert_eq!(
            namespace("cpe:/o:redhat:enterprise_linux:8").as_deref(),
            Some("rhel:8")
        );
        assert_eq!(namespace("cpe:/a:redhat:rhel_eus:9.0::appstream"), None);
        assert_eq!(namespace("cpe:/a:redhat:satellite:6.14::el8"), None);
        let r = rpm("pkg:rpm/redhat/foreman-installer@3.7.0.7-1.el8sat?arch=noarch&epoch=1").unwrap();
        assert_eq!(
            (r.name.as_str(), r.evr.as_deref()),
            ("foreman-installer", Some("1:3.7.0.7-1.el8sat"))
        );
        assert!(rpm("pkg:rpm/redhat/curl@7.76.1-26.el9_3.2?arch=src").is_none());
        assert!(rpm("pkg:rpm/redhat/nodejs@1?arch=x86_64&rpmmod=nodejs:18:1").is_none());
        assert_eq!(rpm("pkg:rpm/redhat/libcurl").unwrap().evr, None);
        assert!(rpm("pkg:oci/ubi9").is_none());
    }

    #[test]
    fn hostile_documents() {
        assert!(parse("s", b"{\"vulnerabilities\":5}").is_err());
        assert!(parse("s", b"{\"product_tree\":").is_err());
        assert!(parse("s", b"{}").unwrap().is_empty());
    }
}
