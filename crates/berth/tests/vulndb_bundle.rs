//! Air-gapped vulnerability databases: a bundle exported from an instance
//! that fetched the feeds, imported into one with updaters disabled, gives
//! identical security reports; online updates then continue from the
//! imported fingerprints (conditional requests, no body); a corrupt
//! bundle or one of another format version is refused with a clear error
//! and the existing data stays.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;

use common::Server;
use common::feeds::FeedServer;
use common::vulnimages::{
    alpine_expected, debian_expected, feed_config, write_alpine_image, write_debian_image,
};
use common::vulnreport::{create_org, data, findings, push, scanned, vulndb};
use serde_json::Value;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `vulndb status` without its dates: (feed, records, error).
async fn status(s: &Server) -> Vec<(String, u64, String)> {
    let out = vulndb(s, &["status"]).await;
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[0].to_owned(), cols[1].parse().unwrap(), cols[4..].join(" "))
        })
        .collect()
}

/// Push both images to `s`; their reports once scanned.
async fn reports(s: &Server, work: &Path) -> (Value, Value) {
    create_org(s, "vulns").await;
    let debian = work.join("debian");
    if !debian.exists() {
        write_debian_image(&debian);
        write_alpine_image(&work.join("alpine"));
    }
    let d = push(s, &debian, "vulns/debian").await;
    let a = push(s, &work.join("alpine"), "vulns/alpine").await;
    (
        scanned(s, "vulns/debian", &d).await,
        scanned(s, "vulns/alpine", &a).await,
    )
}

fn zstd_lines(path: &Path, lines: &[&str]) {
    let file = std::fs::File::create(path).unwrap();
    let mut out = zstd::Encoder::new(file, 3).unwrap();
    for l in lines {
        writeln!(out, "{l}").unwrap();
    }
    out.finish().unwrap();
}

#[tokio::test]
async fn a_bundle_carries_the_database_to_an_air_gapped_instance() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let online = Server::start_with_config(&feed_config(&feeds)).await;
    let out = vulndb(&online, &["update"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let files = tempfile::tempdir().unwrap();
    let bundle = files.path().join("vulndb.zst");
    let out = vulndb(&online, &["export", bundle.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    let exported = status(&online).await;
    assert!(
        exported.iter().all(|(_, n, e)| *n > 0 && e.is_empty()),
        "{exported:?}"
    );

    // The air-gapped instance names the same feeds (for later) but never
    // fetches them itself.
    let offline = Server::start_with_config(&feed_config(&feeds)).await;
    feeds.take_log();

    // Bad bundles first: refused, and nothing is written.
    let missing = files.path().join("missing.zst");
    let out = vulndb(&offline, &["import", missing.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("missing.zst"), "{}", text(&out));
    let newer = files.path().join("newer.zst");
    zstd_lines(
        &newer,
        &[r#"{"format":"berth-vulndb","version":2,"created_ms":0,"extra":true}"#],
    );
    let out = vulndb(&offline, &["import", newer.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("format version 2, this build reads version 1"),
        "{}",
        text(&out)
    );
    assert!(status(&offline).await.is_empty());

    let out = vulndb(&offline, &["import", bundle.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(feeds.take_log().is_empty(), "the import fetched nothing");
    let imported = status(&offline).await;
    assert_eq!(
        imported.iter().map(|(f, n, _)| (f, n)).collect::<Vec<_>>(),
        exported.iter().map(|(f, n, _)| (f, n)).collect::<Vec<_>>()
    );

    // Identical reports.
    let work = tempfile::tempdir().unwrap();
    let (debian_online, alpine_online) = reports(&online, work.path()).await;
    let (debian_offline, alpine_offline) = reports(&offline, work.path()).await;
    assert_eq!(findings(&debian_online), debian_expected());
    assert_eq!(findings(&alpine_online), alpine_expected());
    assert_eq!(debian_offline, debian_online);
    assert_eq!(alpine_offline, alpine_online);

    // A truncated bundle and one with a record of an undeclared source:
    // refused with the reason; the imported data and reports stand.
    let bytes = std::fs::read(&bundle).unwrap();
    let truncated = files.path().join("truncated.zst");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = vulndb(&offline, &["import", truncated.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not a usable vulnerability bundle"),
        "{}",
        text(&out)
    );
    let stray = files.path().join("stray.zst");
    zstd_lines(
        &stray,
        &[
            r#"{"format":"berth-vulndb","version":1,"created_ms":0}"#,
            r#"{"feed":{"name":"debian","checked_ms":null,"changed_ms":null,"sources":[]}}"#,
            r#"{"advisory":{"feed":"debian","source":"elsewhere","advisory":{"id":"CVE-1","aliases":[],"namespace":"debian:bookworm","package":"zlib","affected":{"distro":{"fixed":null}},"severity":"High","links":[],"description":""}}}"#,
            r#"{"end":{"feeds":1,"advisories":1}}"#,
        ],
    );
    let out = vulndb(&offline, &["import", stray.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("line 3"), "{}", text(&out));
    assert_eq!(status(&offline).await, imported);
    let d = debian_online["data"]["Layer"]["Name"].as_str().unwrap();
    assert_eq!(scanned(&offline, "vulns/debian", d).await, debian_online);

    // Importing the same bundle again changes nothing.
    let out = vulndb(&offline, &["import", bundle.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("(0 images matched again)"), "{}", text(&out));

    // Back online: updates continue from the imported fingerprints, so the
    // unchanged feeds answer 304 with no body.
    let out = vulndb(&offline, &["update"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let log = feeds.take_log();
    let existing: Vec<_> = log.iter().filter(|r| r.status != 404).collect();
    assert!(!existing.is_empty());
    assert!(
        existing
            .iter()
            .all(|r| r.conditional && r.status == 304 && r.body_bytes == 0),
        "{log:?}"
    );
}
