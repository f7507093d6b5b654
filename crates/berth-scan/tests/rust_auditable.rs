//! A Rust binary built here with `cargo auditable` (a crate and a path
//! dependency): the scanner must find exactly the packages of its
//! Cargo.lock.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use berth_scan::{Ecosystem, Limits, assemble, index_layer};
use common::{Entry, digest, gzip, tar};

#[test]
fn cargo_auditable_binary_matches_its_lockfile() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let helper = work.path().join("helper");
    for dir in [&app, &helper] {
        std::fs::create_dir_all(dir.join("src")).unwrap();
    }
    std::fs::write(
        helper.join("Cargo.toml"),
        "[package]\nname = \"helper\"\nversion = \"0.3.1\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        helper.join("src/lib.rs"),
        "pub fn hi() -> &'static str { \"hi\" }\n",
    )
    .unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"1.2.0\"\nedition = \"2021\"\n\n[dependencies]\nhelper = { path = \"../helper\" }\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        app.join("src/main.rs"),
        "fn main() { println!(\"{}\", helper::hi()); }\n",
    )
    .unwrap();
    let target = work.path().join("target");
    let out = Command::new("cargo")
        .current_dir(&app)
        .env_remove("RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &target)
        .args(["auditable", "build", "--quiet", "--offline"])
        .output()
        .expect("cargo must be installed");
    assert!(
        out.status.success(),
        "cargo auditable build (scripts/test.sh installs cargo-auditable): {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    let mut want = BTreeSet::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let Some(v) = line.strip_prefix("version = ")
            && let Some(n) = name.take()
        {
            want.insert((n, v.trim_matches('"').to_owned()));
        }
    }
    assert_eq!(want.len(), 2, "{lock}");

    let binary = std::fs::read(target.join("debug/app")).unwrap();
    let layer = gzip(&tar(&[Entry::Executable("usr/local/bin/app", &binary)]));
    let inv = assemble(&[(digest(&layer), index_layer(&layer[..], &Limits::default()))]);
    let ours: BTreeSet<(String, String)> = inv
        .packages
        .iter()
        .filter(|e| e.package.ecosystem == Ecosystem::Cargo)
        .map(|e| (e.package.name.clone(), e.package.version.clone()))
        .collect();
    assert_eq!(ours, want);
}
