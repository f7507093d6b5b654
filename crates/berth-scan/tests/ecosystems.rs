//! The detectors against each ecosystem's own tools, on real content built
//! at test time: this machine's dpkg database against `dpkg-query`, a
//! `pip install --target` tree against `importlib.metadata` and `pip list`,
//! a real `npm install` tree against `npm ls --all --json --long`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use berth_scan::{Ecosystem, Inventory, Limits, assemble, index_layer};
use common::{Entry, digest, gzip, run, tar};

/// A gzip layer holding the tree at `dir` under `prefix`, symlinks kept as
/// links (as a container build would store them).
fn layer_from_dir(dir: &Path, prefix: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(prefix, dir).unwrap();
    gzip(&b.into_inner().unwrap())
}

fn inventory(layers: &[Vec<u8>]) -> Inventory {
    let indexed: Vec<_> = layers
        .iter()
        .map(|l| (digest(l), index_layer(&l[..], &Limits::default())))
        .collect();
    let inv = assemble(&indexed);
    assert!(!inv.has_layer_errors(), "{:?}", inv.layers);
    inv
}

fn of(inv: &Inventory, e: Ecosystem) -> impl Iterator<Item = &berth_scan::InventoryEntry> {
    inv.packages.iter().filter(move |p| p.package.ecosystem == e)
}

type DebRow = (String, String, String, String, String);

/// dpkg-query's view: (name, arch, version, source, source version) of
/// every package whose files are present.
fn dpkg_query() -> BTreeSet<DebRow> {
    let out = run(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${Package}\\t${Architecture}\\t${Version}\\t${source:Package}\\t${source:Version}\\t${db:Status-Status}\\n",
    ]));
    out.lines()
        .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
        .filter(|f| f[5] != "not-installed" && f[5] != "config-files")
        .map(|f| {
            (
                f[0].clone(),
                f[1].clone(),
                f[2].clone(),
                f[3].clone(),
                f[4].clone(),
            )
        })
        .collect()
}

fn deb_rows(inv: &Inventory) -> BTreeSet<DebRow> {
    of(inv, Ecosystem::Deb)
        .map(|e| {
            let p = &e.package;
            let s = p.source.as_ref().unwrap();
            (
                p.name.clone(),
                p.arch.clone().unwrap(),
                p.version.clone(),
                s.name.clone(),
                s.version.clone(),
            )
        })
        .collect()
}

#[test]
fn dpkg_status_matches_dpkg_query() {
    let status = std::fs::read("/var/lib/dpkg/status").unwrap();
    let layer = gzip(&tar(&[Entry::File("var/lib/dpkg/status", &status)]));
    let inv = inventory(&[layer]);
    let want = dpkg_query();
    assert!(
        want.len() > 50,
        "too few packages to mean anything: {}",
        want.len()
    );
    assert_eq!(deb_rows(&inv), want);
}

#[test]
fn distroless_status_d_matches_dpkg_query() {
    // Distroless images keep one stanza per file, without a Status field.
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
    let mut files = Vec::new();
    for stanza in status.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let state = stanza
            .lines()
            .find_map(|l| l.strip_prefix("Status: "))
            .and_then(|s| s.split_whitespace().nth(2))
            .unwrap_or("");
        if state == "not-installed" || state == "config-files" {
            continue;
        }
        let name = stanza.lines().find_map(|l| l.strip_prefix("Package: ")).unwrap();
        let arch = stanza
            .lines()
            .find_map(|l| l.strip_prefix("Architecture: "))
            .unwrap();
        let body: String = stanza
            .lines()
            .filter(|l| !l.starts_with("Status: "))
            .map(|l| format!("{l}\n"))
            .collect();
        files.push((format!("var/lib/dpkg/status.d/{name}_{arch}"), body));
        files.push((
            format!("var/lib/dpkg/status.d/{name}_{arch}.md5sums"),
            "0 /x\n".into(),
        ));
    }
    let entries: Vec<Entry<'_>> = files.iter().map(|(p, b)| Entry::File(p, b.as_bytes())).collect();
    let inv = inventory(&[gzip(&tar(&entries))]);
    assert_eq!(deb_rows(&inv), dpkg_query());
}

#[test]
fn pip_install_matches_importlib_metadata_and_pip_list() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("site-packages");
    run(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--target",
        target.to_str().unwrap(),
        "six==1.16.0",
        "idna==3.7",
        "packaging==24.1",
        "typing_extensions==4.12.2",
    ]));
    let inv = inventory(&[layer_from_dir(&target, "usr/local/lib/python3.11/site-packages")]);
    let ours: BTreeSet<(String, String)> = of(&inv, Ecosystem::Pypi)
        .map(|e| (e.package.name.clone(), e.package.version.clone()))
        .collect();

    let script = "import importlib.metadata as m, sys\nfor d in m.distributions(path=[sys.argv[1]]):\n    print(d.metadata['Name'] + '\\t' + d.version)\n";
    let importlib: BTreeSet<(String, String)> =
        run(Command::new("python3").args(["-c", script]).arg(&target))
            .lines()
            .map(|l| {
                let (n, v) = l.split_once('\t').unwrap();
                (n.to_owned(), v.to_owned())
            })
            .collect();
    assert_eq!(importlib.len(), 4);
    assert_eq!(ours, importlib);

    let listed: serde_json::Value = serde_json::from_str(&run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "list",
            "--disable-pip-version-check",
            "--format",
            "json",
            "--path",
        ])
        .arg(&target)))
    .unwrap();
    let pip: BTreeSet<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(ours, pip);
}

#[test]
fn npm_install_matches_npm_ls() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path();
    // is-odd wants is-number 6 while the app wants 7: a nested
    // node_modules; debug brings ms; a scoped package too.
    std::fs::write(
        app.join("package.json"),
        r#"{"name":"app","version":"1.0.0","private":true,"dependencies":{"debug":"4.3.7","is-odd":"3.0.1","is-number":"7.0.0","@tootallnate/once":"2.0.0"}}"#,
    )
    .unwrap();
    run(Command::new("npm")
        .current_dir(app)
        .env("npm_config_cache", work.path().join(".npm-cache"))
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--loglevel=error",
        ]));
    let tree: serde_json::Value = serde_json::from_str(&run(Command::new("npm")
        .current_dir(app)
        .args(["ls", "--all", "--json", "--long"])))
    .unwrap();
    let mut want = BTreeSet::new();
    fn walk(node: &serde_json::Value, root: &str, out: &mut BTreeSet<(String, String, String)>) {
        for dep in node["dependencies"]
            .as_object()
            .into_iter()
            .flat_map(|d| d.values())
        {
            let path = dep["path"].as_str().unwrap();
            let rel = path.strip_prefix(root).unwrap().trim_start_matches('/');
            out.insert((
                rel.to_owned(),
                dep["name"].as_str().unwrap().to_owned(),
                dep["version"].as_str().unwrap().to_owned(),
            ));
            walk(dep, root, out);
        }
    }
    walk(&tree, app.to_str().unwrap(), &mut want);
    assert_eq!(want.len(), 6, "{want:?}");

    let inv = inventory(&[layer_from_dir(&app.join("node_modules"), "srv/app/node_modules")]);
    let ours: BTreeSet<(String, String, String)> = of(&inv, Ecosystem::Npm)
        .map(|e| {
            let rel = e
                .path
                .strip_prefix("/srv/app/")
                .unwrap()
                .strip_suffix("/package.json")
                .unwrap();
            (rel.to_owned(), e.package.name.clone(), e.package.version.clone())
        })
        .collect();
    assert_eq!(ours, want);
}

#[test]
fn installed_gemspecs_match_gem_list() {
    // Ruby's bundled and default gems and Debian's packaged gems.
    let dirs = [
        "usr/lib/ruby/gems/3.1.0/specifications",
        "usr/share/rubygems-integration/all/specifications",
        "usr/lib/x86_64-linux-gnu/rubygems-integration/3.1.0/specifications",
    ];
    let mut b = tar::Builder::new(Vec::new());
    for dir in dirs {
        let real = Path::new("/").join(dir);
        if real.is_dir() {
            b.append_dir_all(dir, real).unwrap();
        }
    }
    let inv = inventory(&[gzip(&b.into_inner().unwrap())]);
    let ours: BTreeSet<(String, String)> = of(&inv, Ecosystem::Gem)
        .map(|e| (e.package.name.clone(), e.package.version.clone()))
        .collect();
    // `gem list --local`: `name (default: 1.0, 0.9)`.
    let listed = run(Command::new("gem")
        .args(["list", "--local"])
        .env("GEM_HOME", "/nonexistent"));
    let want: BTreeSet<(String, String)> = listed
        .lines()
        .filter_map(|l| l.split_once(" ("))
        .flat_map(|(name, versions)| {
            versions
                .trim_end_matches(')')
                .split(", ")
                .map(|v| (name.to_owned(), v.trim_start_matches("default: ").to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(want.len() > 20, "{want:?}");
    assert_eq!(ours, want);
}

/// Debian's Maven repository names each jar it ships:
/// `/usr/share/maven-repo/<group path>/<artifact>/<version>/<artifact>-<version>.jar`
/// links to the jar in `/usr/share/java` (the `debian` version is an alias).
fn debian_maven_repo() -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![Path::new("/usr/share/maven-repo").to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
            if e.is_dir() && !e.is_symlink() {
                stack.push(e);
                continue;
            }
            let rel = e
                .strip_prefix("/usr/share/maven-repo")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let parts: Vec<&str> = rel.split('/').collect();
            let [group @ .., artifact, version, file] = parts.as_slice() else {
                continue;
            };
            if *version == "debian" || *file != format!("{artifact}-{version}.jar") {
                continue;
            }
            let Ok(target) = std::fs::canonicalize(&e) else {
                continue;
            };
            out.insert((
                target.to_str().unwrap().to_owned(),
                format!("{}:{artifact}", group.join(".")),
                (*version).to_owned(),
            ));
        }
    }
    out
}

/// The `META-INF/maven/<group>/<artifact>/pom.properties` entries of each
/// jar, listed by Python's own zip reader.
fn pom_entries(jars: &BTreeSet<String>) -> BTreeSet<(String, String)> {
    let script = "import sys, zipfile\nfor jar in sys.argv[1:]:\n    for n in zipfile.ZipFile(jar).namelist():\n        p = n.split('/')\n        if len(p) == 5 and p[:2] == ['META-INF', 'maven'] and p[4] == 'pom.properties':\n            print(jar + '\\t' + p[2] + ':' + p[3])\n";
    run(Command::new("python3").args(["-c", script]).args(jars))
        .lines()
        .map(|l| {
            let (jar, coord) = l.split_once('\t').unwrap();
            (jar.to_owned(), coord.to_owned())
        })
        .collect()
}

#[test]
fn debian_java_archives_match_debians_maven_repository() {
    // Version directories like `debian` or `3.x` are Debian's aliases.
    let repo: BTreeSet<_> = debian_maven_repo()
        .into_iter()
        .filter(|(_, _, v)| !v.ends_with(".x"))
        .collect();
    let jars: BTreeSet<String> = repo.iter().map(|(jar, ..)| jar.clone()).collect();
    let entries: Vec<(String, Vec<u8>)> = jars
        .iter()
        .map(|j| (j.trim_start_matches('/').to_owned(), std::fs::read(j).unwrap()))
        .collect();
    let files: Vec<Entry<'_>> = entries.iter().map(|(p, d)| Entry::File(p, d)).collect();
    let inv = inventory(&[gzip(&tar(&files))]);
    let ours: BTreeSet<(String, String, String)> = of(&inv, Ecosystem::Maven)
        .map(|e| (e.path.clone(), e.package.name.clone(), e.package.version.clone()))
        .collect();
    // Every jar that carries its own Maven metadata is found under the
    // coordinates and version Debian's repository gives it.
    let poms = pom_entries(&jars);
    let checkable: BTreeSet<_> = repo
        .iter()
        .filter(|(jar, coord, _)| poms.contains(&(jar.clone(), coord.clone())))
        .cloned()
        .collect();
    assert!(checkable.len() > 40, "{checkable:?}");
    let missing: Vec<_> = checkable.difference(&ours).collect();
    assert!(missing.is_empty(), "not found: {missing:?}");
    // And nothing is reported that the archives do not say.
    for (jar, name, _) in &ours {
        let listed = poms.contains(&(jar.clone(), name.clone()));
        let from_manifest = !poms.iter().any(|(j, _)| j == jar);
        assert!(listed || from_manifest, "{jar}: {name} has no pom.properties");
    }
}
