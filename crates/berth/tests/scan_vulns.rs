//! `berth scan vulns` on OCI layouts: the findings `tests/vulns.rs`
//! expects from the security API, here matched against a bundle written by
//! `berth vulndb export` and against a running registry's records; as a
//! table, JSON and SARIF 2.1.0; `--fail-on` gates on severity.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Server;
use common::feeds::FeedServer;
use common::vulnimages::{
    alpine_expected, debian_expected, feed_config, write_alpine_image, write_debian_image,
};
use common::vulnreport::{data, json_findings, vulndb};
use serde_json::Value;

async fn scan(args: &[String]) -> Output {
    let mut cmd = Command::new(common::berth_bin());
    cmd.args(["scan", "vulns", "--no-cache"]).args(args);
    tokio::task::spawn_blocking(move || cmd.env("RUST_LOG", "error").output().unwrap())
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn image(layout: &Path) -> String {
    format!("oci:{}:v1", layout.display())
}

#[tokio::test]
async fn scan_vulns_reports_the_expected_findings_from_a_bundle_and_a_registry() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let s = Server::start_with_config(&feed_config(&feeds)).await;
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("vulndb.zst");
    let out = vulndb(&s, &["export", bundle.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    let debian = work.path().join("debian");
    write_debian_image(&debian);
    let alpine = work.path().join("alpine");
    write_alpine_image(&alpine);
    let from_bundle = ["--vulndb".to_owned(), bundle.display().to_string()];
    let from_registry = ["--registry".to_owned(), format!("http://{}", s.host())];

    for source in [&from_bundle, &from_registry] {
        for (layout, want) in [(&debian, debian_expected()), (&alpine, alpine_expected())] {
            let mut args = vec![image(layout), "--format".into(), "json".into()];
            args.extend_from_slice(source);
            let out = scan(&args).await;
            assert!(out.status.success(), "{}", text(&out));
            assert_eq!(json_findings(&out.stdout), want, "{source:?}");
        }
    }

    // SARIF 2.1.0: one result per finding, one rule per vulnerability.
    let mut args = vec![image(&debian), "--format".into(), "sarif".into()];
    args.extend_from_slice(&from_bundle);
    let out = scan(&args).await;
    assert!(out.status.success(), "{}", text(&out));
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "berth");
    let total: usize = debian_expected().values().map(Vec::len).sum();
    assert_eq!(run["results"].as_array().unwrap().len(), total);
    let result = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "CVE-2024-2961")
        .unwrap();
    assert_eq!(result["level"], "note");
    assert_eq!(result["properties"]["package"], "libc6");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["id"] == "CVE-2024-2961"));
    let unique: std::collections::BTreeSet<&str> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(rules.len(), unique.len());

    // The table names every finding.
    let mut args = vec![image(&debian)];
    args.extend_from_slice(&from_bundle);
    let out = scan(&args).await;
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("PACKAGE"), "{table}");
    assert!(table.contains(&format!("{total} vulnerabilities")), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("libc6") && l.contains("CVE-2024-2961") && l.contains("2.36-9+deb12u6")),
        "{table}"
    );

    // --fail-on: the Debian image has Negligible findings, none High.
    for (min, code) in [("High", Some(0)), ("negligible", Some(3))] {
        let mut args = vec![image(&debian), "--fail-on".into(), min.into()];
        args.extend_from_slice(&from_bundle);
        let out = scan(&args).await;
        assert_eq!(out.status.code(), code, "{min}: {}", text(&out));
    }
    let mut args = vec![image(&debian), "--fail-on".into(), "severe".into()];
    args.extend_from_slice(&from_bundle);
    let out = scan(&args).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // A bad bundle is named as such before any layer is read.
    let bad = work.path().join("bad.zst");
    std::fs::write(&bad, b"not a bundle").unwrap();
    let out = scan(&[image(&debian), "--vulndb".into(), bad.display().to_string()]).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not a usable vulnerability bundle"),
        "{}",
        text(&out)
    );
}
