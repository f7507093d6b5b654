//! Images built from the real package databases in `tests/data`, the feed
//! configuration pointing at a loopback [`FeedServer`], and the findings
//! worked out by hand from `tests/data/vulndata` (the same expectations
//! `tests/vulns.rs` holds the security API to; see its comments). The
//! generic helpers are in `vulnreport.rs`.

use std::path::Path;
use std::process::{Command, Output};

use super::Server;
use super::feeds::FeedServer;
use super::layout::{gzip_layer, write_image_layers, write_layout_index};
use super::vulnreport::{Findings, Written, data, expect, tar_layer};

fn python_metadata(name: &str, version: &str) -> (String, Vec<u8>) {
    (
        format!("usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes(),
    )
}

/// Debian 12 (dpkg database) with Python packages in a second layer, as
/// an OCI layout tagged `v1`.
pub fn write_debian_image(layout: &Path) {
    let status = std::fs::read(data().join("images/debian-12/status")).unwrap();
    let os_release = std::fs::read(data().join("images/debian-12/os-release")).unwrap();
    let base = tar_layer(&[("var/lib/dpkg/status", &status), ("etc/os-release", &os_release)]);
    let python: Vec<(String, Vec<u8>)> = [("redis", "4.5.1"), ("sqlparse", "0.4.3"), ("Paramiko", "2.10.0")]
        .iter()
        .map(|(n, v)| python_metadata(n, v))
        .collect();
    let files: Vec<(&str, &[u8])> = python.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    let app = tar_layer(&files);
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&base), gzip_layer(&app)]);
    write_layout_index(layout, &[("v1", &image)]);
}

/// alpine:3.18.0's installed database under a 3.19 release file, tagged `v1`.
pub fn write_alpine_image(layout: &Path) {
    let installed = std::fs::read(data().join("images/alpine-3.18/lib/apk/db/installed")).unwrap();
    let os_release =
        b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.0\nPRETTY_NAME=\"Alpine Linux v3.19\"\n";
    let base = tar_layer(&[
        ("lib/apk/db/installed", &installed),
        ("etc/os-release", os_release),
    ]);
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&base)]);
    write_layout_index(layout, &[("v1", &image)]);
}

/// The feeds of `feeds` (Debian, Alpine, OSV PyPI), updaters off.
pub fn feed_config(feeds: &FeedServer) -> String {
    format!(
        "SECURITY_SCANNER_DISABLE_UPDATERS: true\n\
         SECURITY_SCANNER_UPDATERS:\n  \
           debian:\n    url: {base}/debian/tracker/data/json\n  \
           alpine:\n    url: {base}/alpine-secdb/\n  \
           osv:\n    url: {base}/osv/\n    ecosystems: [PyPI]\n",
        base = feeds.base
    )
}

/// `berth ARGS` against the server's configuration and database.
pub async fn berth_on(s: &Server, args: &[&str]) -> Output {
    let mut cmd = Command::new(super::berth_bin());
    cmd.args(args)
        .arg("--data-dir")
        .arg(s.data_dir.path())
        .arg("--config")
        .arg(s.config_path());
    if let Some(uri) = s.db_uri() {
        cmd.arg("--db-uri").arg(uri);
    }
    tokio::task::spawn_blocking(move || cmd.env("RUST_LOG", "error").output().unwrap())
        .await
        .unwrap()
}

/// Worked out from `vulndata/debian/tracker/data/json` (bookworm) and the
/// PYSEC records: binaries map to their source packages (libc6 → glibc,
/// zlib1g → zlib, liblzma5 → xz-utils); xz-utils' CVE-2024-3094 is
/// `fixed_version "0"` (never affected); perl's CVE-2023-31484 is fixed in
/// deb12u3, below the installed deb12u4; tar's CVE-2022-48303 is fixed in
/// exactly the installed version; glibc CVE-2025-0395 and tar
/// CVE-2023-39804 are no-dsa (affected, no fix). redis PYSEC-2023-73 is
/// withdrawn; sqlparse's and paramiko's GIT ranges are skipped, their
/// ECOSYSTEM ranges (paramiko's out of order) decide.
pub fn debian_expected() -> Findings {
    expect(&[
        (
            "libc6",
            &[
                ("CVE-2010-4756", "", "Negligible"),
                ("CVE-2019-1010022", "", "Negligible"),
                ("CVE-2023-4806", "", "Unknown"),
                ("CVE-2023-6246", "2.36-9+deb12u4", "Unknown"),
                ("CVE-2024-2961", "2.36-9+deb12u6", "Unknown"),
                ("CVE-2024-33599", "2.36-9+deb12u7", "Unknown"),
                ("CVE-2025-0395", "", "Unknown"),
                ("CVE-2025-4802", "", "Unknown"),
            ],
        ),
        (
            "tar",
            &[
                ("CVE-2005-2541", "", "Negligible"),
                ("CVE-2023-39804", "", "Unknown"),
            ],
        ),
        ("zlib1g", &[("CVE-2023-45853", "", "Unknown")]),
        (
            "redis",
            &[
                ("PYSEC-2023-45", "4.5.3", "Unknown"),
                ("PYSEC-2023-46", "4.5.4", "Unknown"),
            ],
        ),
        ("sqlparse", &[("PYSEC-2023-87", "0.4.4", "Unknown")]),
        ("Paramiko", &[("PYSEC-2022-166", "2.10.1", "Unknown")]),
    ])
}

/// Worked out from `vulndata/alpine-secdb/v3.19/main.json` for the
/// alpine:3.18.0 packages, by origin (libcrypto3 and libssl3 → openssl,
/// ssl_client → busybox): ids under `"0"` are never affected (busybox
/// CVE-2021-42373, openssl CVE-2023-4807, zlib CVE-2023-45853);
/// openssl's CVE-2023-1255 is fixed in exactly 3.1.0-r4; musl 1.2.4 sorts
/// below 1.2.4_git20230717 (a `_git` suffix is newer).
pub fn alpine_expected() -> Findings {
    let busybox: Written<'_> = &[
        ("CVE-2022-48174", "1.36.1-r2", "Unknown"),
        ("CVE-2023-42363", "1.36.1-r17", "Unknown"),
        ("CVE-2023-42364", "1.36.1-r19", "Unknown"),
        ("CVE-2023-42365", "1.36.1-r19", "Unknown"),
        ("CVE-2023-42366", "1.36.1-r16", "Unknown"),
        ("CVE-2024-58251", "1.36.1-r21", "Unknown"),
        ("CVE-2025-46394", "1.36.1-r21", "Unknown"),
    ];
    let openssl: Written<'_> = &[
        ("CVE-2023-2650", "3.1.1-r0", "Unknown"),
        ("CVE-2023-2975", "3.1.1-r2", "Unknown"),
        ("CVE-2023-3446", "3.1.1-r3", "Unknown"),
        ("CVE-2023-3817", "3.1.2-r0", "Unknown"),
        ("CVE-2023-5363", "3.1.4-r0", "Unknown"),
        ("CVE-2023-5678", "3.1.4-r1", "Unknown"),
        ("CVE-2023-6129", "3.1.4-r3", "Unknown"),
        ("CVE-2023-6237", "3.1.4-r4", "Unknown"),
    ];
    let musl: Written<'_> = &[
        ("CVE-2025-26519", "1.2.4_git20230717-r5", "Unknown"),
        ("CVE-2026-40200", "1.2.4_git20230717-r6", "Unknown"),
        ("CVE-2026-6042", "1.2.4_git20230717-r6", "Unknown"),
    ];
    expect(&[
        ("busybox", busybox),
        ("busybox-binsh", busybox),
        ("ssl_client", busybox),
        ("libcrypto3", openssl),
        ("libssl3", openssl),
        ("musl", musl),
        ("musl-utils", musl),
    ])
}
