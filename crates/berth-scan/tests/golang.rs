//! Go build information against `go version -m`: a real Go binary from a
//! Debian package (skopeo) and one built here from a module with a
//! replaced dependency, each indexed from a layer.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use berth_scan::{Ecosystem, Limits, assemble, index_layer};
use common::{Entry, digest, gzip, run, tar};

/// What `go version -m` reports, as (module, version) pairs: `stdlib` at
/// the toolchain version, the main module, dependencies with replacements.
fn go_version_m(binary: &Path) -> BTreeSet<(String, String)> {
    let out = run(Command::new("go").args(["version", "-m"]).arg(binary));
    let mut lines = out.lines();
    let toolchain = lines.next().unwrap().rsplit_once(": ").unwrap().1;
    let mut version = toolchain.strip_prefix("go").unwrap().to_owned();
    if version.matches('.').count() == 1 {
        version.push_str(".0");
    }
    let mut set = BTreeSet::from([("stdlib".to_owned(), format!("v{version}"))]);
    let mut last_dep: Option<(String, String)> = None;
    for line in lines {
        let f: Vec<&str> = line.trim_start_matches('\t').split('\t').collect();
        match f.as_slice() {
            ["mod", p, v, ..] => {
                set.insert(((*p).into(), (*v).into()));
            }
            ["dep", p, v, ..] => {
                if let Some(d) = last_dep.replace(((*p).into(), (*v).into())) {
                    set.insert(d);
                }
            }
            ["=>", p, v, ..] => {
                let v = if v.is_empty() { "(devel)" } else { v };
                last_dep = Some(((*p).into(), v.into()));
            }
            _ => {}
        }
    }
    set.extend(last_dep);
    set
}

fn indexed(binary: &Path, at: &str) -> BTreeSet<(String, String)> {
    let data = std::fs::read(binary).unwrap();
    let layer = gzip(&tar(&[Entry::Executable(at, &data)]));
    let inv = assemble(&[(digest(&layer), index_layer(&layer[..], &Limits::default()))]);
    assert!(!inv.has_layer_errors(), "{:?}", inv.layers);
    inv.packages
        .iter()
        .filter(|e| e.package.ecosystem == Ecosystem::Go)
        .inspect(|e| assert_eq!(e.path, format!("/{at}")))
        .map(|e| (e.package.name.clone(), e.package.version.clone()))
        .collect()
}

#[test]
fn debian_go_binary_matches_go_version_m() {
    let skopeo = Path::new("/usr/bin/skopeo");
    let want = go_version_m(skopeo);
    assert_eq!(indexed(skopeo, "usr/bin/skopeo"), want);
}

#[test]
fn module_build_with_replacement_matches_go_version_m() {
    let work = tempfile::tempdir().unwrap();
    let (app, lib) = (work.path().join("app"), work.path().join("lib"));
    std::fs::create_dir_all(&app).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("go.mod"), "module example.com/lib\n\ngo 1.19\n").unwrap();
    std::fs::write(
        lib.join("lib.go"),
        "package lib\n\nfunc Hello() string { return \"hi\" }\n",
    )
    .unwrap();
    std::fs::write(
        app.join("go.mod"),
        "module example.com/app\n\ngo 1.19\n\nrequire example.com/lib v1.2.3\n\nreplace example.com/lib => ../lib\n",
    )
    .unwrap();
    std::fs::write(
        app.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/lib\"\n)\n\nfunc main() { fmt.Println(lib.Hello()) }\n",
    )
    .unwrap();
    let binary = work.path().join("app.bin");
    run(Command::new("go")
        .current_dir(&app)
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOCACHE", work.path().join("gocache"))
        .env("GOPATH", work.path().join("gopath"))
        .args(["build", "-o"])
        .arg(&binary)
        .arg("."));
    let want = go_version_m(&binary);
    assert!(
        want.contains(&("example.com/app".into(), "(devel)".into())),
        "{want:?}"
    );
    assert!(want.contains(&("../lib".into(), "(devel)".into())), "{want:?}");
    assert_eq!(indexed(&binary, "app/server"), want);
}
