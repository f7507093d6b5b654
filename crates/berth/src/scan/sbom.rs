//! SBOM documents of an inventory: SPDX 2.3 JSON and CycloneDX 1.5 JSON.

use std::io::Write;

use berth_scan::{Distribution, Inventory, InventoryEntry};
use serde_json::{Value, json};

/// What the documents say about the scanned image.
pub struct Subject<'a> {
    /// The image as named on the command line.
    pub image: &'a str,
    /// Digest of its manifest.
    pub manifest: &'a berth_oci::Digest,
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn tool_version() -> String {
    format!("berth-{}", env!("CARGO_PKG_VERSION"))
}

fn source_info(e: &InventoryEntry) -> String {
    let mut s = format!("found in {} of layer {}", e.path, e.layer);
    if let Some(src) = &e.package.source {
        s.push_str(&format!(
            "; built from source package {} {}",
            src.name, src.version
        ));
    }
    s
}

/// SPDX 2.3: one package per inventory entry, described by the document
/// and contained in the image package.
pub fn spdx(out: &mut impl Write, subject: &Subject<'_>, inv: &Inventory) -> std::io::Result<()> {
    let distro = inv.distribution.as_ref();
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": subject.image,
        "versionInfo": subject.manifest.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{
            // SPDX spells the algorithms SHA256, SHA512.
            "algorithm": subject.manifest.algorithm().as_str().to_uppercase(),
            "checksumValue": subject.manifest.hex(),
        }],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    if let Some(d) = distro {
        packages.push(json!({
            "SPDXID": "SPDXRef-OperatingSystem",
            "name": d.id,
            "versionInfo": d.version_id.clone().unwrap_or_default(),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        }));
        relationships.push(contains("SPDXRef-OperatingSystem"));
    }
    for (i, e) in inv.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        let mut p = json!({
            "SPDXID": id,
            "name": e.package.name,
            "versionInfo": e.package.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": if matches!(e.package.ecosystem, berth_scan::Ecosystem::Deb | berth_scan::Ecosystem::Apk | berth_scan::Ecosystem::Rpm) { "INSTALL" } else { "LIBRARY" },
            "sourceInfo": source_info(e),
        });
        if let Some(purl) = e.package.purl(distro) {
            p["externalRefs"] = json!([{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl,
            }]);
        }
        packages.push(p);
        relationships.push(contains(&id));
    }
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.image,
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/berth/{}-{}",
            subject.manifest.hex(),
            uuid::Uuid::new_v4()
        ),
        "creationInfo": {
            "created": now(),
            "creators": [format!("Tool: {}", tool_version())],
        },
        "packages": packages,
        "relationships": relationships,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn contains(id: &str) -> Value {
    json!({
        "spdxElementId": "SPDXRef-Image",
        "relationshipType": "CONTAINS",
        "relatedSpdxElement": id,
    })
}

fn os_component(d: &Distribution) -> Value {
    let mut c = json!({
        "type": "operating-system",
        "bom-ref": "os",
        "name": d.id,
    });
    if let Some(v) = &d.version_id {
        c["version"] = json!(v);
    }
    if let Some(p) = &d.pretty_name {
        c["description"] = json!(p);
    }
    c
}

/// CycloneDX 1.5: the image as the metadata component, the operating
/// system and each package as components, layer and path as properties.
pub fn cyclonedx(out: &mut impl Write, subject: &Subject<'_>, inv: &Inventory) -> std::io::Result<()> {
    let distro = inv.distribution.as_ref();
    let mut components: Vec<Value> = distro.map(os_component).into_iter().collect();
    for (i, e) in inv.packages.iter().enumerate() {
        let mut c = json!({
            "type": "library",
            "bom-ref": format!("pkg-{i}"),
            "name": e.package.name,
            "version": e.package.version,
            "properties": [
                {"name": "berth:ecosystem", "value": e.package.ecosystem.purl_type()},
                {"name": "berth:layer", "value": e.layer},
                {"name": "berth:path", "value": e.path},
            ],
        });
        if let Some(purl) = e.package.purl(distro) {
            c["purl"] = json!(purl);
        }
        if let Some(src) = &e.package.source
            && let Some(props) = c["properties"].as_array_mut()
        {
            props.push(json!({"name": "berth:source-name", "value": src.name}));
            props.push(json!({"name": "berth:source-version", "value": src.version}));
        }
        components.push(c);
    }
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "version": 1,
        "metadata": {
            "timestamp": now(),
            "tools": {"components": [{
                "type": "application",
                "name": "berth",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": subject.image,
                "version": subject.manifest.to_string(),
            },
        },
        "components": components,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
