//! The distribution feeds beyond Debian and Alpine, end to end: each
//! updater fetches real records from a loopback server at the real
//! servers' paths, images built from real package lists are pushed with
//! skopeo, and Quay's security API must report exactly the findings worked
//! out by hand from those records (see `tests/data/PROVENANCE.md`).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::Server;
use common::feeds::FeedServer;
use common::layout::{gzip_layer, write_image_layers, write_layout_index};
use common::vulnreport::{
    Findings, create_org, data, expect, feature, findings, push, scanned, security, tar_layer, vulndb,
};

/// An image of one layer holding a dpkg database and an os-release.
fn write_dpkg_image(layout: &Path, release: &str) {
    let dir = data().join("images").join(release);
    let status = std::fs::read(dir.join("status")).unwrap();
    let os_release = std::fs::read(dir.join("os-release")).unwrap();
    let base = tar_layer(&[("var/lib/dpkg/status", &status), ("etc/os-release", &os_release)]);
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&base)]);
    write_layout_index(layout, &[("v1", &image)]);
}

/// Worked out from `vulndata/osv/Ubuntu/` for the Ubuntu 22.04 image:
/// * libc6 (source glibc 2.35-0ubuntu3.1): UBUNTU-CVE-2023-4911's
///   `Ubuntu:22.04:LTS` glibc entry is fixed in 2.35-0ubuntu3.4 with
///   `ubuntu_priority: high`; UBUNTU-CVE-2016-20013's 22.04 glibc entry is
///   open (`introduced: 0` alone) and its Ubuntu priority negligible.
/// * libwayland-client0 (source wayland 1.20.0-1): UBUNTU-CVE-2021-3782
///   (priority medium) and USN-5614-1 (which names it in `upstream`) both
///   fix 22.04's wayland in 1.20.0-1ubuntu0.1: one finding, named by the CVE.
/// * libnetty-java (source netty 1:4.1.48-4+deb11u1build0.22.04.1):
///   UBUNTU-CVE-2022-24823 lists netty only under `Ubuntu:Pro:22.04:LTS`,
///   fixed in the ESM version 1:4.1.48-4+deb11u2ubuntu0.1~esm1, priority low.
/// * unzip: UBUNTU-CVE-2014-9913 names 16.04 and Pro 14.04 only.
fn jammy_expected() -> Findings {
    expect(&[
        (
            "libc6",
            &[
                ("CVE-2016-20013", "", "Negligible"),
                ("CVE-2023-4911", "2.35-0ubuntu3.4", "High"),
            ],
        ),
        (
            "libwayland-client0",
            &[("CVE-2021-3782", "1.20.0-1ubuntu0.1", "Medium")],
        ),
        (
            "libnetty-java",
            &[("CVE-2022-24823", "1:4.1.48-4+deb11u2ubuntu0.1~esm1", "Low")],
        ),
    ])
}

/// Worked out from `vulndata/osv/Ubuntu/` for the Ubuntu 16.04 image:
/// * libc6 (source glibc 2.23-0ubuntu11.3): 16.04's glibc appears in
///   UBUNTU-CVE-2016-20013 only as `Ubuntu:Pro:16.04:LTS`, open, negligible.
/// * unzip 6.0-20ubuntu1: UBUNTU-CVE-2014-9913's `Ubuntu:16.04:LTS` entry
///   is fixed in 6.0-20ubuntu1.1, priority negligible.
/// * libwolfssl3 (source wolfssl): UBUNTU-CVE-2014-2901 is `withdrawn`.
/// * UBUNTU-CVE-2023-4911 names no 16.04 package.
fn xenial_expected() -> Findings {
    expect(&[
        ("libc6", &[("CVE-2016-20013", "", "Negligible")]),
        ("unzip", &[("CVE-2014-9913", "6.0-20ubuntu1.1", "Negligible")]),
    ])
}

/// The feed status line of `feed`.
async fn status_line(s: &Server, feed: &str) -> String {
    let out = vulndb(s, &["status"]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with(&format!("{feed} ")))
        .unwrap_or_else(|| panic!("no {feed} line in {text}"))
        .to_owned()
}

#[tokio::test]
async fn ubuntu_osv_records_match_by_release_and_source_package() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let config = format!(
        "SECURITY_SCANNER_DISABLE_UPDATERS: true\n\
         SECURITY_SCANNER_UPDATERS:\n  ubuntu:\n    url: {}/osv/\n",
        feeds.base
    );
    let s = Server::start_with_config(&config).await;
    create_org(&s, "ubuntu").await;

    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let first = feeds.take_log();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].path, "/osv/Ubuntu/all.zip");
    assert_eq!((first[0].status, first[0].conditional), (200, false));

    let work = tempfile::tempdir().unwrap();
    let jammy = work.path().join("jammy");
    write_dpkg_image(&jammy, "ubuntu-22.04");
    let xenial = work.path().join("xenial");
    write_dpkg_image(&xenial, "ubuntu-16.04");
    let jammy_digest = push(&s, &jammy, "ubuntu/jammy").await;
    let xenial_digest = push(&s, &xenial, "ubuntu/xenial").await;

    let report = scanned(&s, "ubuntu/jammy", &jammy_digest).await;
    assert_eq!(findings(&report), jammy_expected());
    let libc = feature(&report, "libc6");
    assert_eq!(libc["VersionFormat"], "dpkg");
    assert_eq!(libc["NamespaceName"], "ubuntu:22.04");
    let cve = libc["Vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "CVE-2023-4911")
        .unwrap();
    assert_eq!(cve["NamespaceName"], "ubuntu:22.04");
    assert_eq!(cve["Metadata"]["UpdatedBy"], "ubuntu");
    assert_eq!(cve["Metadata"]["DistroVersion"], "22.04");
    assert!(
        cve["Link"]
            .as_str()
            .unwrap()
            .starts_with("https://ubuntu.com/security/CVE-2023-4911"),
        "{cve}"
    );
    assert!(cve["Description"].as_str().unwrap().contains("GLIBC_TUNABLES"));
    // The USN merged into the CVE's finding keeps the CVE id for Quay.
    let wayland = feature(&report, "libwayland-client0");
    assert_eq!(wayland["CVEIds"], serde_json::json!(["CVE-2021-3782"]));
    let report = scanned(&s, "ubuntu/xenial", &xenial_digest).await;
    assert_eq!(findings(&report), xenial_expected());

    // Unchanged feed: asked conditionally, answered 304, no body.
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let second = feeds.take_log();
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(second[0].conditional && second[0].status == 304 && second[0].body_bytes == 0);

    // Hostile input, each in turn: a field of the wrong type, then a
    // 5 MB id. The update fails, says why in the status, and the
    // previous records stand.
    let folder = feeds.root.join("osv/Ubuntu");
    let wrong_type = br#"{"id":"UBUNTU-CVE-2099-1","upstream":"CVE-2099-1","affected":[]}"#.to_vec();
    let huge = format!(r#"{{"id":"{}","affected":[]}}"#, "U".repeat(5 << 20)).into_bytes();
    for (file, body, says) in [
        ("UBUNTU-CVE-2099-1.json", wrong_type, "UBUNTU-CVE-2099-1.json"),
        ("UBUNTU-CVE-2099-2.json", huge, "longer than"),
    ] {
        std::fs::write(folder.join(file), body).unwrap();
        let out = vulndb(&s, &["update"]).await;
        assert!(!out.status.success());
        let line = status_line(&s, "ubuntu").await;
        assert!(line.contains(says), "{line}");
        std::fs::remove_file(folder.join(file)).unwrap();
        assert_eq!(
            findings(&security(&s, "ubuntu/jammy", &jammy_digest).await),
            jammy_expected()
        );
    }
}

/// An image whose rpm database is written by rpm itself: for each source
/// rpm of the UBI 9 rpm list, a spec building its binary rpms at their
/// recorded versions, installed with `rpm --root`.
fn write_ubi_image(layout: &Path, work: &Path) {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data().join("images/ubi9/rpm-manifest.json")).unwrap())
            .unwrap();
    let mut by_source: std::collections::BTreeMap<String, Vec<&serde_json::Value>> = Default::default();
    for rpm in manifest["rpms"].as_array().unwrap() {
        by_source
            .entry(rpm["srpm_nevra"].as_str().unwrap().to_owned())
            .or_default()
            .push(rpm);
    }
    let top = work.join("rpmbuild");
    for (i, (nevra, rpms)) in by_source.iter().enumerate() {
        // `openssl-1:3.0.1-23.el9_0.src`: the epoch sits before the colon.
        let name = rpms[0]["srpm_name"].as_str().unwrap();
        let epoch = nevra[name.len() + 1..].split_once(':').unwrap().0;
        // Red Hat's rpms of epoch 0 carry no epoch tag.
        let epoch = if epoch == "0" {
            String::new()
        } else {
            format!("Epoch: {epoch}\n")
        };
        let mut spec = format!(
            "Name: {name}\n{epoch}Version: {}\nRelease: {}\nSummary: s\nLicense: MIT\nBuildArch: noarch\n%description\nd\n",
            rpms[0]["version"].as_str().unwrap(),
            rpms[0]["release"].as_str().unwrap()
        );
        for rpm in rpms {
            let n = rpm["name"].as_str().unwrap();
            // A binary named as its source is the spec's main package.
            if n == name {
                spec.push_str("%files\n");
            } else {
                spec.push_str(&format!(
                    "%package -n {n}\nSummary: s\n%description -n {n}\nd\n%files -n {n}\n"
                ));
            }
        }
        let path = work.join(format!("{i}.spec"));
        std::fs::write(&path, spec).unwrap();
        common::run(
            std::process::Command::new("rpmbuild")
                .args(["-bb", "--quiet", "--define"])
                .arg(format!("_topdir {}", top.display()))
                .arg(&path),
        );
    }
    let root = work.join("root");
    let rpms: Vec<_> = std::fs::read_dir(top.join("RPMS/noarch"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    common::run(
        std::process::Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args([
                "--define",
                "_dbpath /var/lib/rpm",
                "--nodeps",
                "--noscripts",
                "-i",
            ])
            .args(&rpms),
    );
    let db = std::fs::read(root.join("var/lib/rpm/rpmdb.sqlite")).unwrap();
    let os_release = std::fs::read(data().join("images/ubi9/os-release")).unwrap();
    let base = tar_layer(&[("var/lib/rpm/rpmdb.sqlite", &db), ("etc/os-release", &os_release)]);
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&base)]);
    write_layout_index(layout, &[("v1", &image)]);
}

/// The VEX layout the real server has: an archive of the documents dated
/// 2024-01-01 (all but CVE-2023-38545), named by `archive_latest.txt`, and
/// `changes.csv` naming CVE-2023-38545 as changed after it (and
/// CVE-2023-4154 before it, so not fetched again).
fn write_vex_layout(vex: &Path) {
    let archive = "csaf_vex_2024-01-01.tar.zst";
    common::run(
        std::process::Command::new("tar")
            .arg("--zstd")
            .arg("-cf")
            .arg(vex.join(archive))
            .arg("-C")
            .arg(vex)
            .args([
                "2021/cve-2021-0084.json",
                "2023/cve-2023-4154.json",
                "2024/cve-2024-22047.json",
            ]),
    );
    std::fs::write(vex.join("archive_latest.txt"), format!("{archive}\n")).unwrap();
    std::fs::write(
        vex.join("changes.csv"),
        "\"2023/cve-2023-38545.json\",\"2024-02-06T17:11:43+00:00\"\n\
         \"2023/cve-2023-4154.json\",\"2023-12-01T09:00:00+00:00\"\n",
    )
    .unwrap();
    std::fs::write(
        vex.join("deletions.csv"),
        "\"2022/cve-2022-0001.json\",\"2023-06-01T00:00:00+00:00\"\n",
    )
    .unwrap();
}

/// Worked out from `vulndata/redhat/csaf/v2/vex/2023/cve-2023-38545.json`
/// for the UBI 9.0 rpms (curl 7.76.1-14.el9, glibc 2.34-28.el9_0, openssl
/// 1:3.0.1-23.el9_0): its `fixed` products on the RHEL 9 stream's CPEs
/// (`cpe:/o:redhat:enterprise_linux:9::baseos`, `…:9::appstream`) give
/// curl-minimal and libcurl-minimal fixed in 7.76.1-26.el9_3.2 (the 9.3
/// fix; the 9.2 one, 7.76.1-23.el9_2.4, is lower, and 9.0 EUS's is under
/// the `rhel_eus` CPE), impact Important (High). The other documents name
/// no RHEL 9 rpm as affected (RHEL 6-8 curl and samba are
/// `known_not_affected`).
fn ubi_expected() -> Findings {
    let curl: common::vulnreport::Written<'_> = &[("CVE-2023-38545", "7.76.1-26.el9_3.2", "High")];
    expect(&[("curl-minimal", curl), ("libcurl-minimal", curl)])
}

#[tokio::test]
async fn red_hat_vex_archive_then_deltas() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let vex = feeds.root.join("redhat/csaf/v2/vex");
    write_vex_layout(&vex);
    let config = format!(
        "SECURITY_SCANNER_DISABLE_UPDATERS: true\n\
         SECURITY_SCANNER_UPDATERS:\n  rhel-vex:\n    url: {}/redhat/csaf/v2/vex/\n",
        feeds.base
    );
    let s = Server::start_with_config(&config).await;
    create_org(&s, "redhat").await;

    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let first: Vec<(String, u16)> = feeds.take_log().into_iter().map(|r| (r.path, r.status)).collect();
    let p = |f: &str| format!("/redhat/csaf/v2/vex/{f}");
    assert_eq!(
        first,
        [
            (p("archive_latest.txt"), 200),
            (p("csaf_vex_2024-01-01.tar.zst"), 200),
            (p("changes.csv"), 200),
            (p("2023/cve-2023-38545.json"), 200),
            (p("deletions.csv"), 200),
        ]
    );

    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("ubi9");
    let build = work.path().to_owned();
    let l = layout.clone();
    tokio::task::spawn_blocking(move || write_ubi_image(&l, &build))
        .await
        .unwrap();
    let digest = push(&s, &layout, "redhat/ubi9").await;
    let report = scanned(&s, "redhat/ubi9", &digest).await;
    assert_eq!(findings(&report), ubi_expected());
    let curl = feature(&report, "curl-minimal");
    assert_eq!(curl["VersionFormat"], "rpm");
    assert_eq!(curl["Version"], "7.76.1-14.el9");
    let v = &curl["Vulnerabilities"][0];
    assert_eq!(v["NamespaceName"], "rhel:9");
    assert_eq!(v["Metadata"]["UpdatedBy"], "rhel-vex");
    assert_eq!(v["Metadata"]["DistroVersion"], "9.0");
    assert_eq!(v["Link"], "https://access.redhat.com/security/cve/CVE-2023-38545");
    assert!(v["Description"].as_str().unwrap().contains("SOCKS5"));
    assert_eq!(feature(&report, "openssl-libs")["Version"], "1:3.0.1-23.el9_0");

    // Unchanged lists: asked conditionally, 304, nothing else fetched.
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let second = feeds.take_log();
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(
        second.iter().all(|r| r.conditional && r.status == 304),
        "{second:?}"
    );

    // Hostile: a changed document of the wrong shape fails the update and
    // the previous records stand.
    std::fs::write(vex.join("2024/cve-2024-9999.json"), br#"{"vulnerabilities":5}"#).unwrap();
    let mut changes = std::fs::read_to_string(vex.join("changes.csv")).unwrap();
    changes.insert_str(0, "\"2024/cve-2024-9999.json\",\"2024-03-01T00:00:00+00:00\"\n");
    std::fs::write(vex.join("changes.csv"), &changes).unwrap();
    let out = vulndb(&s, &["update"]).await;
    assert!(!out.status.success());
    let line = status_line(&s, "rhel-vex").await;
    assert!(line.contains("2024/cve-2024-9999.json"), "{line}");
    assert_eq!(
        findings(&security(&s, "redhat/ubi9", &digest).await),
        ubi_expected()
    );

    // A deletion after the time reached removes the document's records and
    // the stored report follows without the image being indexed again.
    std::fs::remove_file(vex.join("2024/cve-2024-9999.json")).unwrap();
    std::fs::write(
        vex.join("changes.csv"),
        changes.lines().skip(1).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    std::fs::write(
        vex.join("deletions.csv"),
        "\"2023/cve-2023-38545.json\",\"2024-04-01T00:00:00+00:00\"\n",
    )
    .unwrap();
    feeds.take_log();
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        findings(&security(&s, "redhat/ubi9", &digest).await),
        Findings::new()
    );
}

/// NVD's layout for one year, built from the sample feed: the gzip
/// archive and a `.meta` (the real one's fields, with the sample's sha256).
fn write_nvd_year(nvd: &Path, json: &[u8]) {
    use sha2::Digest as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, json).unwrap();
    std::fs::write(nvd.join("nvdcve-2.0-2016.json.gz"), gz.finish().unwrap()).unwrap();
    let real = std::fs::read_to_string(nvd.join("nvdcve-2.0-sample.meta")).unwrap();
    let sha = hex::encode_upper(sha2::Sha256::digest(json));
    let meta: String = real
        .lines()
        .map(|l| {
            if l.starts_with("sha256:") {
                format!("sha256:{sha}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(nvd.join("nvdcve-2.0-2016.meta"), meta).unwrap();
}

/// Worked out from the bookworm tracker and NVD's sample: coreutils
/// 9.1-1's CVE-2016-2781 is open and ignored (no-dsa) with urgency low in
/// `vulndata/debian/tracker/data/json`; `vulndata/nvd/nvdcve-2.0-sample.json`
/// scores it 4.6 (v3.1, Secondary) and 6.5 (v3.0, Primary: NVD's own, the
/// one kept). EPSS's sample has no row for it.
#[tokio::test]
async fn nvd_and_epss_enrich_findings() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let nvd = feeds.root.join("nvd");
    let sample = std::fs::read(nvd.join("nvdcve-2.0-sample.json")).unwrap();
    write_nvd_year(&nvd, &sample);
    let config = format!(
        "SECURITY_SCANNER_DISABLE_UPDATERS: true\n\
         SECURITY_SCANNER_UPDATERS:\n  \
           debian:\n    url: {base}/debian/tracker/data/json\n  \
           nvd:\n    url: {base}/nvd/\n    years: [2016]\n  \
           epss:\n    url: {base}/epss/epss_scores-2024-10-25.csv.gz\n",
        base = feeds.base
    );
    let s = Server::start_with_config(&config).await;
    create_org(&s, "enrich").await;
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // 29 EPSS rows, 2 of NVD's 3 CVEs with a v3 score (CVE-2016-3197 was rejected).
    assert!(status_line(&s, "epss").await.contains(" 29 "));
    assert!(status_line(&s, "nvd").await.contains(" 2 "));

    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("coreutils");
    write_dpkg_image(&layout, "debian-12-coreutils");
    let digest = push(&s, &layout, "enrich/coreutils").await;
    let report = scanned(&s, "enrich/coreutils", &digest).await;
    assert_eq!(
        findings(&report),
        expect(&[("coreutils", &[("CVE-2016-2781", "", "Low")])])
    );
    let coreutils = feature(&report, "coreutils");
    assert_eq!(coreutils["BaseScores"], serde_json::json!([6.5]));
    let meta = &coreutils["Vulnerabilities"][0]["Metadata"];
    assert_eq!(
        meta["NVD"]["CVSSv3"],
        serde_json::json!({"Vectors": "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:C/C:N/I:H/A:N", "Score": 6.5})
    );
    assert!(meta.get("EPSS").is_none(), "{meta}");

    // Unchanged: the .meta and the CSV are asked conditionally (304); the
    // archive is not fetched.
    feeds.take_log();
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let log = feeds.take_log();
    let enrichment: Vec<_> = log.iter().filter(|r| !r.path.starts_with("/debian/")).collect();
    assert_eq!(enrichment.len(), 2, "{log:?}");
    assert!(
        enrichment.iter().all(|r| r.conditional && r.status == 304),
        "{log:?}"
    );

    // A new score (new sha256 in the .meta) is fetched and matched into the
    // stored report without indexing the image again.
    let rescored = String::from_utf8(sample)
        .unwrap()
        .replacen("\"baseScore\": 6.5", "\"baseScore\": 7.8", 1);
    assert!(rescored.contains("7.8"));
    write_nvd_year(&nvd, rescored.as_bytes());
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let report = security(&s, "enrich/coreutils", &digest).await;
    assert_eq!(
        feature(&report, "coreutils")["BaseScores"],
        serde_json::json!([7.8])
    );

    // Hostile, each in turn: a truncated archive behind a new sha256, then
    // a `.meta` without its sha256. Each fails the update; the scores stand.
    write_nvd_year(&nvd, b"{}");
    let gz = std::fs::read(nvd.join("nvdcve-2.0-2016.json.gz")).unwrap();
    std::fs::write(nvd.join("nvdcve-2.0-2016.json.gz"), &gz[..gz.len() / 2]).unwrap();
    let out = vulndb(&s, &["update"]).await;
    assert!(!out.status.success());
    let line = status_line(&s, "nvd").await;
    assert!(line.contains("nvdcve-2.0-2016.json.gz"), "{line}");
    let report = security(&s, "enrich/coreutils", &digest).await;
    assert_eq!(
        feature(&report, "coreutils")["BaseScores"],
        serde_json::json!([7.8])
    );
    std::fs::write(
        nvd.join("nvdcve-2.0-2016.meta"),
        "lastModifiedDate:2025-08-07T03:01:41-04:00\n",
    )
    .unwrap();
    let out = vulndb(&s, &["update"]).await;
    assert!(!out.status.success());
    assert!(status_line(&s, "nvd").await.contains("sha256"));
    let report = security(&s, "enrich/coreutils", &digest).await;
    assert_eq!(
        feature(&report, "coreutils")["BaseScores"],
        serde_json::json!([7.8])
    );
}

/// A Go program built here by the Go toolchain, in an image as an
/// executable; the toolchain's version (the standard library's).
fn write_go_image(layout: &Path, work: &Path) -> String {
    let app = work.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("go.mod"), "module example.com/hello\n\ngo 1.19\n").unwrap();
    std::fs::write(
        app.join("main.go"),
        "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n",
    )
    .unwrap();
    let binary = work.join("hello");
    let go = |args: &[&str]| {
        let mut c = std::process::Command::new("go");
        c.current_dir(&app)
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GOCACHE", work.join("gocache"))
            .env("GOPATH", work.join("gopath"))
            .args(args);
        c
    };
    common::run(go(&["build", "-o"]).arg(&binary).arg("."));
    let version = common::run(&mut go(&["env", "GOVERSION"])).trim().to_owned();
    let bytes = std::fs::read(&binary).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o755);
    b.append_data(&mut h, "usr/local/bin/hello", &bytes[..]).unwrap();
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&b.into_inner().unwrap())]);
    write_layout_index(layout, &[("v1", &image)]);
    version
}

/// Worked out from `vulndata/osv/Go/` for the standard library of Go
/// 1.19.8 (Debian 12's toolchain): GO-2023-1751 (fixed 1.19.9),
/// GO-2023-1987 (fixed 1.19.12 on the 1.19 line) and GO-2023-2375 (fixed
/// 1.20.0) affect it; GO-2023-1703 is fixed in exactly 1.19.8 and
/// GO-2022-0969's 1.19 range ends at 1.19.1; GO-2023-1839 names the
/// `toolchain` package (the go command), not the standard library. No
/// record carries a severity.
#[tokio::test]
async fn go_standard_library_from_the_binary() {
    let feeds = FeedServer::start(&data().join("vulndata")).await;
    let config = format!(
        "SECURITY_SCANNER_DISABLE_UPDATERS: true\n\
         SECURITY_SCANNER_UPDATERS:\n  osv:\n    url: {}/osv/\n    ecosystems: [Go]\n",
        feeds.base
    );
    let s = Server::start_with_config(&config).await;
    create_org(&s, "golang").await;
    let out = vulndb(&s, &["update"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("go");
    let build = work.path().to_owned();
    let l = layout.clone();
    let version = tokio::task::spawn_blocking(move || write_go_image(&l, &build))
        .await
        .unwrap();
    assert_eq!(version, "go1.19.8", "the expectations are Go 1.19.8's");
    let digest = push(&s, &layout, "golang/hello").await;
    let report = scanned(&s, "golang/hello", &digest).await;
    assert_eq!(
        findings(&report),
        expect(&[(
            "stdlib",
            &[
                ("GO-2023-1751", "1.19.9", "Unknown"),
                ("GO-2023-1987", "1.19.12", "Unknown"),
                ("GO-2023-2375", "1.20.0", "Unknown"),
            ],
        )])
    );
    let stdlib = feature(&report, "stdlib");
    assert_eq!(stdlib["Version"], "v1.19.8");
    assert_eq!(stdlib["VersionFormat"], "go");
    assert_eq!(stdlib["Vulnerabilities"][0]["Metadata"]["RepoName"], "go");
    assert!(
        stdlib["CVEIds"]
            .as_array()
            .unwrap()
            .contains(&"CVE-2023-24539".into())
    );
}
