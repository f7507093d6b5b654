//! npm packages installed by a real `npm install` (express 4.18.2 with the
//! versions it pins, jsonwebtoken 8.5.1, braces 3.0.2), pushed with skopeo
//! as an application layer, against GitHub's OSV records of the npm
//! ecosystem (`tests/data/vulndata/osv/npm`, served as `npm/all.zip`).
//! The security API and `berth scan vulns` must report exactly the
//! findings worked out by hand from those records, by SemVer order.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;
use common::feeds::FeedServer;
use common::layout::{gzip_layer, write_image_layers, write_layout_index};
use common::vulnreport::{
    Findings, create_org, data, expect, feature, findings, json_findings, push, scan_against, scanned, vulndb,
};

/// `npm install` of the application into `app`.
fn npm_install(app: &Path) {
    std::fs::create_dir_all(app).unwrap();
    std::fs::write(
        app.join("package.json"),
        r#"{"name":"app","version":"1.0.0","private":true,"dependencies":{"express":"4.18.2","jsonwebtoken":"8.5.1","braces":"3.0.2"}}"#,
    )
    .unwrap();
    common::run(
        Command::new("npm")
            .current_dir(app)
            .env("npm_config_cache", app.join(".npm-cache"))
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--loglevel=error",
            ]),
    );
}

/// The installed tree as an OCI layout's `v1`: `srv/app/node_modules`.
fn write_app_image(app: &Path, layout: &Path) {
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_dir_all("srv/app/node_modules", app.join("node_modules"))
        .unwrap();
    let layer = tar.into_inner().unwrap();
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&layer)]);
    write_layout_index(layout, &[("v1", &image)]);
}

/// Worked out from the records: jsonwebtoken 8.5.1 is below 9.0.0, the
/// fix of four records (GHSA-27h2-hvpr-p74q, still as before its
/// withdrawal, among them) and above 4.2.2, GHSA-c7hr-j4mj-j2w6's fix;
/// cookie 0.5.0 < 0.7.0; body-parser 1.20.1 < 1.20.3; path-to-regexp
/// 0.1.7 falls in the first of GHSA-9wv6-86v2-598j's five ranges
/// (`0` to `0.1.10`); braces 3.0.2 is below GHSA-grv7-fg5c-xmjg's 3.0.3
/// but above GHSA-g95f-p29q-9xw4's 2.3.1. Severities are GitHub's
/// (`MODERATE` is Medium).
fn npm_expected() -> Findings {
    expect(&[
        (
            "jsonwebtoken",
            &[
                ("GHSA-27h2-hvpr-p74q", "9.0.0", "High"),
                ("GHSA-8cf7-32gw-wr33", "9.0.0", "Medium"),
                ("GHSA-hjrf-2m68-5959", "9.0.0", "Medium"),
                ("GHSA-qwph-4952-7xr6", "9.0.0", "Medium"),
            ],
        ),
        ("cookie", &[("GHSA-pxg6-pf52-xh8x", "0.7.0", "Low")]),
        ("body-parser", &[("GHSA-qwcr-r2fm-qrc7", "1.20.3", "High")]),
        ("path-to-regexp", &[("GHSA-9wv6-86v2-598j", "0.1.10", "High")]),
        ("braces", &[("GHSA-grv7-fg5c-xmjg", "3.0.3", "High")]),
    ])
}

#[tokio::test]
async fn npm_install_tree_gets_the_advisories_it_falls_under() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    npm_install(&app);
    let layout = work.path().join("layout");
    write_app_image(&app, &layout);

    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let s = Server::start_with_config(&format!(
        "SECURITY_SCANNER_DISABLE_UPDATERS: true\n\
         SECURITY_SCANNER_UPDATERS:\n  \
           osv:\n    url: {}/osv/\n    ecosystems: [npm]\n",
        feeds.base
    ))
    .await;
    create_org(&s, "node").await;
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let digest = push(&s, &layout, "node/app").await;
    let report = scanned(&s, "node/app", &digest).await;
    // The versions npm installed are the ones the expectations are for.
    for (name, version) in [
        ("jsonwebtoken", "8.5.1"),
        ("cookie", "0.5.0"),
        ("body-parser", "1.20.1"),
        ("path-to-regexp", "0.1.7"),
        ("braces", "3.0.2"),
        ("express", "4.18.2"),
    ] {
        let f = feature(&report, name);
        assert_eq!(f["Version"], version, "{name}");
        assert_eq!(f["VersionFormat"], "npm", "{name}");
    }
    assert_eq!(findings(&report), npm_expected());
    let vuln = &feature(&report, "body-parser")["Vulnerabilities"][0];
    assert_eq!(vuln["Metadata"]["RepoName"], "npm");
    assert!(
        feature(&report, "body-parser")["CVEIds"]
            .as_array()
            .unwrap()
            .contains(&"CVE-2024-45590".into())
    );

    let out = scan_against(s.host(), &format!("oci:{}:v1", layout.display())).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_findings(&out.stdout), npm_expected());
}
