//! Re-matching on a SQLite database: a report stored split has only the
//! features under the changed key matched again, with its summary, ids
//! and enrichment keys patched; one stored whole (as before features moved
//! to the key rows) or without id counts is matched whole and stored in
//! the current form.

use std::collections::BTreeSet;

use berth_scan::INDEX_FORMAT;
use berth_store::metadata::{KeyRow, ReportRows, ReportWrite};
use berth_store::{Db, PoolSettings};
use berth_vulns::matching::{self, Feature};

use super::super::findings::vuln;
use super::super::{Inventory, Report, Severity, stored, stored_summary};
use super::rematch;

fn package(ecosystem: &str, name: &str, version: &str) -> berth_scan::Package {
    serde_json::from_value(serde_json::json!({"ecosystem": ecosystem, "name": name, "version": version}))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Django (a finding with a CVE alias), redis (a finding), and a Debian
/// package no key finds (the image names no distribution).
fn image() -> (Inventory, Report) {
    let packages = [
        ("deb", "zlib1g", "1.2.13"),
        ("pypi", "Django", "3.2.0"),
        ("pypi", "redis", "4.5.1"),
    ];
    let inventory: Inventory = serde_json::from_value(serde_json::json!({
        "distribution": null,
        "packages": packages.iter().map(|(e, n, v)| serde_json::json!({
            "ecosystem": e, "name": n, "version": v, "path": "/", "layer": "sha256:1"
        })).collect::<Vec<_>>(),
        "layers": [],
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let findings = [
        vec![],
        vec![vuln("PYSEC-1", &["CVE-2020-1"], Severity::High)],
        // Shares an alias with Django's, which must outlive Django's.
        vec![vuln("CVE-2020-2", &["CVE-2020-1"], Severity::Medium)],
    ];
    let features = packages
        .iter()
        .zip(findings)
        .map(|((e, n, v), vulnerabilities)| Feature {
            package: package(e, n, v),
            added_by: "sha256:1".into(),
            vulnerabilities,
        })
        .collect();
    let report = Report {
        distribution: None,
        features,
    };
    (inventory, report)
}

#[tokio::test]
async fn only_the_changed_key_is_matched_again() {
    let dir = std::env::temp_dir().join(format!("berth-rematch-{}", uuid::Uuid::new_v4()));
    let db = Db::open_sqlite(&dir, PoolSettings::default()).await.unwrap();
    let (inventory, report) = image();
    let inventory_json = serde_json::to_string(&inventory).unwrap();
    let (split, whole, uncounted) = ("sha256:split", "sha256:whole", "sha256:uncounted");
    for digest in [split, whole, uncounted] {
        db.put_scan_report(digest, INDEX_FORMAT as i32, &inventory_json)
            .await
            .unwrap();
    }
    db.put_vuln_reports(&[stored::whole_write(split, &inventory, &report).unwrap()])
        .await
        .unwrap();
    // As stored before ids were counted.
    let mut write = stored::whole_write(uncounted, &inventory, &report).unwrap();
    write.report = write.report.map(|own| own.replace(r#","ids_counted":true"#, ""));
    db.put_vuln_reports(&[write]).await.unwrap();
    // As stored before features moved to the key rows.
    let keys: Vec<KeyRow> = matching::keys(&inventory)
        .iter()
        .chain(&matching::enrichment_keys(&report))
        .map(|k| stored::key_row(k, None))
        .collect();
    db.put_vuln_reports(&[ReportWrite {
        manifest_digest: whole.into(),
        report: Some(serde_json::to_string(&report).unwrap()),
        summary: serde_json::to_string(&report.summary()).unwrap(),
        rows: ReportRows::Replace {
            keys,
            ids: ["PYSEC-1", "CVE-2020-1", "CVE-2020-2"]
                .map(|id| (id.to_owned(), 1))
                .into(),
        },
    }])
    .await
    .unwrap();
    assert_eq!(
        stored::read_form(&db, split).await.unwrap(),
        Some((report.clone(), true))
    );
    for digest in [whole, uncounted] {
        assert_eq!(
            stored::read_form(&db, digest).await.unwrap(),
            Some((report.clone(), false))
        );
    }

    // Django's records are gone (no advisory is stored at all).
    let (django, _) = matching::key(&report.features[1].package, None).unwrap();
    let changed = BTreeSet::from([(django.namespace.clone(), django.package.clone())]);
    assert_eq!(rematch(&db, &changed, None).await.unwrap(), 3);

    // Split: only Django matched again; redis keeps its stored finding.
    let mut want = report.clone();
    want.features[1].vulnerabilities.clear();
    assert_eq!(stored::read_form(&db, split).await.unwrap(), Some((want, true)));
    let summary = stored_summary(&db, split).await.unwrap().unwrap();
    assert_eq!(summary.into_iter().collect::<Vec<_>>(), [(Severity::Medium, 1)]);
    // Whole or uncounted: every package matched again, and stored in the
    // current form.
    let mut want = report.clone();
    for f in &mut want.features {
        f.vulnerabilities.clear();
    }
    for digest in [whole, uncounted] {
        assert_eq!(
            stored::read_form(&db, digest).await.unwrap(),
            Some((want.clone(), true))
        );
        assert!(stored_summary(&db, digest).await.unwrap().unwrap().is_empty());
    }

    // Ids and enrichment keys follow; those redis still carries stay.
    assert!(db.manifests_with_vuln_id("PYSEC-1", 10).await.unwrap().is_empty());
    let nvd = |cve: &str| BTreeSet::from([(berth_vulns::feeds::nvd::NAMESPACE.to_owned(), cve.to_owned())]);
    for cve in ["CVE-2020-1", "CVE-2020-2"] {
        assert_eq!(
            db.manifests_with_vuln_id(cve, 10).await.unwrap(),
            [split],
            "{cve}"
        );
        let on = db.manifests_matched_on(&nvd(cve)).await.unwrap();
        assert_eq!(on, BTreeSet::from([split.to_owned()]), "{cve}");
    }
    // Nothing changes again: nothing to write.
    assert_eq!(rematch(&db, &changed, None).await.unwrap(), 3);
    assert_eq!(
        stored::read(&db, split).await.unwrap().unwrap().features[2],
        report.features[2]
    );

    // A changed score matches the image whole; only the rows that differ
    // are written (redis's, its id, its enrichment key).
    assert_eq!(rematch(&db, &nvd("CVE-2020-2"), None).await.unwrap(), 1);
    let mut want = report.clone();
    for f in &mut want.features {
        f.vulnerabilities.clear();
    }
    assert_eq!(stored::read_form(&db, split).await.unwrap(), Some((want, true)));
    for cve in ["CVE-2020-1", "CVE-2020-2"] {
        assert!(
            db.manifests_with_vuln_id(cve, 10).await.unwrap().is_empty(),
            "{cve}"
        );
        assert!(
            db.manifests_matched_on(&nvd(cve)).await.unwrap().is_empty(),
            "{cve}"
        );
    }
    assert!(stored_summary(&db, split).await.unwrap().unwrap().is_empty());
    std::fs::remove_dir_all(&dir).ok();
}
