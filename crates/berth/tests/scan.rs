//! `berth scan index` end to end: an OCI layout built from this machine's
//! real dpkg database, read directly and after a push through skopeo into
//! a running Berth; results are checked against `dpkg-query` itself.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::layout::{gzip_layer, write_image_layers, write_layout_index};
use common::{Server, run};

/// A tar stream of (path, content) files and (path, target) symlinks.
fn tar_layer(files: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, *data).unwrap();
    }
    for (path, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, path, target).unwrap();
    }
    b.into_inner().unwrap()
}

/// The machine's os-release (through its `/etc` link) and dpkg database in
/// one layer, a Python package added in a second one.
fn write_real_image(layout: &Path) {
    write_real_image_with(layout, "six", "1.16.0");
}

/// The same base layer, and a second layer with one Python package.
fn write_real_image_with(layout: &Path, package: &str, version: &str) {
    let status = std::fs::read("/var/lib/dpkg/status").unwrap();
    let os_release = std::fs::read("/usr/lib/os-release").unwrap();
    let base = tar_layer(
        &[
            ("var/lib/dpkg/status", &status),
            ("usr/lib/os-release", &os_release),
        ],
        &[("etc/os-release", "../usr/lib/os-release")],
    );
    let metadata = format!("Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n");
    let app = tar_layer(
        &[(
            &format!("usr/lib/python3/dist-packages/{package}-{version}.dist-info/METADATA"),
            metadata.as_bytes(),
        )],
        &[],
    );
    let image = write_image_layers(layout, "amd64", &[gzip_layer(&base), gzip_layer(&app)]);
    write_layout_index(layout, &[("v1", &image)]);
}

/// Run `berth scan index`; without the layer cache unless a test names one.
fn berth_scan(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("scan").arg("index").args(args);
    if !args.contains(&"--cache-dir") {
        cmd.arg("--no-cache");
    }
    cmd.output().unwrap()
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (name, arch, version, source name, source version) of every package
/// whose files are present, as dpkg-query reports them.
fn dpkg_query() -> BTreeSet<(String, String, String, String, String)> {
    let out = run(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${Package}\\t${Architecture}\\t${Version}\\t${source:Package}\\t${source:Version}\\t${db:Status-Status}\\n",
    ]));
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[5] != "not-installed" && f[5] != "config-files")
                .then(|| (f[0].into(), f[1].into(), f[2].into(), f[3].into(), f[4].into()))
        })
        .collect()
}

fn deb_packages(report: &serde_json::Value) -> BTreeSet<(String, String, String, String, String)> {
    report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ecosystem"] == "deb")
        .map(|p| {
            let s = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
            (
                s(&p["name"]),
                s(&p["arch"]),
                s(&p["version"]),
                s(&p["source"]["name"]),
                s(&p["source"]["version"]),
            )
        })
        .collect()
}

#[test]
fn indexes_an_oci_layout_like_dpkg_query() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    write_real_image(&layout);
    let image = format!("oci:{}:v1", layout.display());
    let report = json_of(&berth_scan(&[&image, "--format", "json"]));
    assert_eq!(deb_packages(&report), dpkg_query());
    let os = std::fs::read_to_string("/usr/lib/os-release").unwrap();
    let id = berth_scan::distro::parse_os_release(&os).unwrap().id;
    assert_eq!(report["distribution"]["id"], id.as_str());
    let six = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "six")
        .unwrap();
    assert_eq!(six["purl"], "pkg:pypi/six@1.16.0");
    assert_eq!(six["layer"], report["layers"][1]["digest"]);
    assert_eq!(
        six["path"],
        "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"
    );

    let table = berth_scan(&[&image]);
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("NAME"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("six ") && l.contains("1.16.0")),
        "{text}"
    );
}

#[tokio::test]
async fn indexes_an_image_in_a_running_registry() {
    let s = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    write_real_image(&layout);
    let dest = format!("docker://{}/scan/app:v1", s.host());
    run(common::cli::skopeo(s.host())
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(&dest));
    let from_layout = json_of(&berth_scan(&[
        &format!("oci:{}:v1", layout.display()),
        "--format",
        "json",
    ]));
    let creds = format!("{}:{}", common::ADMIN, common::ADMIN_PASSWORD);
    let out = tokio::task::spawn_blocking(move || {
        berth_scan(&[&dest, "--tls-verify=false", "--creds", &creds, "--format", "json"])
    })
    .await
    .unwrap();
    let from_registry = json_of(&out);
    assert_eq!(from_registry["packages"], from_layout["packages"]);
    assert_eq!(from_registry["distribution"], from_layout["distribution"]);

    // Without --tls-verify=false a plain-HTTP registry is refused.
    let host = s.host().to_owned();
    let out = tokio::task::spawn_blocking(move || berth_scan(&[&format!("docker://{host}/scan/app:v1")]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-verify=false"));
}

#[test]
fn a_bad_layer_fails_alone_and_the_command_says_so() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let good = tar_layer(
        &[(
            "var/lib/dpkg/status",
            b"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b7\nArchitecture: amd64\n",
        )],
        &[],
    );
    let mut bad = tar_layer(&[("x", b"")], &[]);
    bad[..4].copy_from_slice(b"../x");
    // Recompute the header checksum so the entry itself is well formed.
    let mut header = tar::Header::new_old();
    header.as_mut_bytes().copy_from_slice(&bad[..512]);
    header.set_cksum();
    bad[..512].copy_from_slice(header.as_bytes());
    let image = write_image_layers(&layout, "amd64", &[gzip_layer(&good), gzip_layer(&bad)]);
    write_layout_index(&layout, &[("v1", &image)]);
    let out = berth_scan(&[&format!("oci:{}:v1", layout.display())]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("escapes the layer root"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("bash"));

    // A blob whose bytes do not match its digest fails that layer too.
    let blob = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read(p).unwrap().starts_with(&[0x1f, 0x8b]))
        .unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let out = berth_scan(&[&format!("oci:{}:v1", layout.display())]);
    assert!(!out.status.success());
}

#[test]
fn refuses_bad_image_names_clearly() {
    for (name, want) in [
        ("nope", "unsupported image name"),
        ("oci:/nonexistent/dir", "index.json"),
        ("docker://h/UPPER:v1", "repository"),
    ] {
        let out = berth_scan(&[name]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{name}: {stderr}");
    }
}

#[test]
fn cached_layers_are_not_read_again() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    write_real_image(&layout);
    let cache = work.path().join("cache");
    let image = format!("oci:{}:v1", layout.display());
    let args = [&image, "--format", "json", "--cache-dir", cache.to_str().unwrap()];
    let cold = json_of(&berth_scan(&args));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
    // With every layer blob gone, only the cache can answer.
    for layer in cold["layers"].as_array().unwrap() {
        let hex = layer["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap();
        std::fs::remove_file(layout.join("blobs/sha256").join(hex)).unwrap();
    }
    let warm = json_of(&berth_scan(&args));
    assert_eq!(warm["packages"], cold["packages"]);
    assert_eq!(warm["distribution"], cold["distribution"]);
    assert!(
        !berth_scan(&[&image]).status.success(),
        "without the cache the blobs are needed"
    );
}

/// Where scripts/test.sh installs the SBOM validators (spdx-tools and
/// cyclonedx-python-lib from PyPI).
fn validators() -> std::path::PathBuf {
    std::env::var_os("BERTH_SBOM_VALIDATORS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/sbom-validators"),
        Into::into,
    )
}

const VALIDATE: &str = r#"
import sys
kind, path = sys.argv[1], sys.argv[2]
if kind == "spdx":
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    problems = [m.validation_message for m in validate_full_spdx_document(parse_file(path))]
else:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(path).read())
    problems = [str(error)] if error else []
print("\n".join(problems))
sys.exit(1 if problems else 0)
"#;

fn validate(kind: &str, doc: &Path) {
    let dir = validators();
    assert!(
        dir.exists(),
        "{} missing: run scripts/test.sh to install the validators",
        dir.display()
    );
    run(Command::new("python3")
        .env("PYTHONPATH", &dir)
        .args(["-c", VALIDATE, kind])
        .arg(doc));
}

#[test]
fn sbom_outputs_validate() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    write_real_image(&layout);
    let image = format!("oci:{}:v1", layout.display());
    let packages = json_of(&berth_scan(&[&image, "--format", "json"]))["packages"]
        .as_array()
        .unwrap()
        .len();

    let spdx_out = berth_scan(&[&image, "--format", "spdx-json"]);
    let spdx = json_of(&spdx_out);
    // The image, its operating system, and every package.
    assert_eq!(spdx["packages"].as_array().unwrap().len(), packages + 2);
    let path = work.path().join("sbom.spdx.json");
    std::fs::write(&path, &spdx_out.stdout).unwrap();
    validate("spdx", &path);

    let cdx_out = berth_scan(&[&image, "--format", "cyclonedx-json"]);
    let cdx = json_of(&cdx_out);
    assert_eq!(cdx["components"].as_array().unwrap().len(), packages + 1);
    assert_eq!(cdx["components"][0]["type"], "operating-system");
    let path = work.path().join("sbom.cdx.json");
    std::fs::write(&path, &cdx_out.stdout).unwrap();
    validate("cyclonedx", &path);
}

/// Run one query returning a single text column on the server's database.
async fn query_text(s: &Server, sql: &'static str, bind: &str) -> Option<String> {
    // The same code against each backend's concrete pool.
    macro_rules! fetch {
        ($pool:expr) => {{
            let pool = $pool;
            let row: Option<(String,)> = sqlx::query_as(sql)
                .bind(bind)
                .fetch_optional(&pool)
                .await
                .unwrap();
            pool.close().await;
            row.map(|r| r.0)
        }};
    }
    match s.db_uri() {
        Some(uri) => fetch!(sqlx::PgPool::connect(uri).await.unwrap()),
        None => {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(s.data_dir.path().join("metadata.db"))
                .read_only(true);
            fetch!(sqlx::SqlitePool::connect_with(opts).await.unwrap())
        }
    }
}

/// The stored inventory of a manifest, once the background indexer wrote it.
async fn wait_for_report(s: &Server, digest: &str) -> serde_json::Value {
    // A generous deadline so a slow machine never fails this; no timing is
    // asserted.
    for _ in 0..600 {
        if let Some(report) = query_text(
            s,
            "SELECT report FROM scan_reports WHERE manifest_digest = $1",
            digest,
        )
        .await
        {
            return serde_json::from_str(&report).unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no report for {digest}");
}

fn without_purls(mut packages: serde_json::Value) -> serde_json::Value {
    for p in packages.as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("purl");
    }
    packages
}

#[tokio::test]
async fn pushed_images_are_indexed_in_the_background() {
    let s = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for (tag, package, version) in [("v1", "six", "1.16.0"), ("v2", "idna", "3.7")] {
        let layout = work.path().join(tag);
        write_real_image_with(&layout, package, version);
        let image = format!("oci:{}:v1", layout.display());
        run(common::cli::skopeo(s.host())
            .args(["copy", "--dest-tls-verify=false", &image])
            .arg(format!("docker://{}/scan/bg:{tag}", s.host())));
        let expected = json_of(&berth_scan(&[&image, "--format", "json"]));
        let digest = expected["manifest"].as_str().unwrap().to_owned();
        let report = wait_for_report(&s, &digest).await;
        assert_eq!(report["packages"], without_purls(expected["packages"].clone()));
        assert_eq!(report["distribution"], expected["distribution"]);
        reports.push(report);
    }
    // The shared base layer was indexed once: three layers for two images.
    let layers = query_text(
        &s,
        "SELECT CAST(count(*) AS TEXT) FROM scan_layers WHERE $1 = $1",
        "",
    )
    .await;
    assert_eq!(layers.as_deref(), Some("3"));
    assert_eq!(reports[0]["layers"][0], reports[1]["layers"][0]);
    let queued = query_text(
        &s,
        "SELECT CAST(count(*) AS TEXT) FROM scan_queue WHERE $1 = $1",
        "",
    )
    .await;
    assert_eq!(queued.as_deref(), Some("0"));
}

#[test]
fn indexes_oci_and_docker_archives_like_the_layout() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    write_real_image(&layout);
    let source = format!("oci:{}:v1", layout.display());
    let want = json_of(&berth_scan(&[&source, "--format", "json"]));

    let oci_archive = work.path().join("image-oci.tar");
    let docker_archive = work.path().join("image-docker.tar");
    for dest in [
        format!("oci-archive:{}:v1", oci_archive.display()),
        format!("docker-archive:{}:scan/app:v1", docker_archive.display()),
    ] {
        run(Command::new("skopeo")
            .env("HOME", work.path())
            .args(["copy", &source, &dest]));
    }

    let from_oci_archive = json_of(&berth_scan(&[
        &format!("oci-archive:{}:v1", oci_archive.display()),
        "--format",
        "json",
    ]));
    assert_eq!(from_oci_archive["packages"], want["packages"]);

    // docker save archives hold uncompressed layers, named by diff id.
    let from_docker = json_of(&berth_scan(&[
        &format!("docker-archive:{}:scan/app:v1", docker_archive.display()),
        "--format",
        "json",
    ]));
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        for p in v.as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("layer");
        }
        v
    };
    assert_eq!(strip(&from_docker["packages"]), strip(&want["packages"]));
    assert_eq!(from_docker["distribution"], want["distribution"]);
    assert!(
        !berth_scan(&[&format!("docker-archive:{}:nope:v9", docker_archive.display())])
            .status
            .success()
    );
}
