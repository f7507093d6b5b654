//! RPM against rpm itself: a root populated by Debian's rpm/rpmbuild with
//! packages built at test time, compared with `rpm --root ... -qa`; and
//! version ordering compared with rpm's own on generated pairs.
#![allow(clippy::unwrap_used)]

mod common;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use berth_scan::version::{Scheme, compare};
use berth_scan::{Ecosystem, Limits, assemble, index_layer};
use common::{Entry, digest, gzip, run, tar};

/// A spec building `name` (and a `-libs` subpackage when `libs`).
fn spec(name: &str, epoch: Option<u32>, version: &str, release: &str, libs: bool) -> String {
    let mut s = format!(
        "Name: {name}\nVersion: {version}\nRelease: {release}\nSummary: test\nLicense: MIT\nBuildArch: noarch\n"
    );
    if let Some(e) = epoch {
        s.push_str(&format!("Epoch: {e}\n"));
    }
    s.push_str("%description\ntest\n%files\n");
    if libs {
        s.push_str("%package libs\nSummary: libs\n%description libs\nlibs\n%files libs\n");
    }
    s
}

fn rpm_in(root: &Path) -> Command {
    let mut c = Command::new("rpm");
    c.arg("--root")
        .arg(root)
        .args(["--define", "_dbpath /var/lib/rpm"]);
    c
}

type RpmRow = (String, String, String, String, String);

/// A root with five packages installed by rpm from specs built here, and
/// what `rpm -qa` says about it.
fn rpm_root(work: &Path) -> (std::path::PathBuf, BTreeSet<RpmRow>) {
    let top = work.join("top");
    let specs = [
        spec("openssl", Some(1), "3.0.7", "27.el9", true),
        spec("bash", None, "5.1.8", "9.el9", false),
        spec("tzdata", None, "2024a", "1.el9", false),
        spec("pre", None, "1.0~rc1^git2", "0.1", false),
    ];
    for (i, s) in specs.iter().enumerate() {
        let path = work.join(format!("{i}.spec"));
        std::fs::write(&path, s).unwrap();
        run(Command::new("rpmbuild")
            .args(["-bb", "--quiet", "--define"])
            .arg(format!("_topdir {}", top.display()))
            .arg(&path));
    }
    let root = work.join("root");
    let rpms: Vec<_> = std::fs::read_dir(top.join("RPMS/noarch"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rpms.len(), 5);
    run(rpm_in(&root).args(["--nodeps", "--noscripts", "-i"]).args(&rpms));

    let want: BTreeSet<RpmRow> = run(rpm_in(&root).args([
        "-qa",
        "--qf",
        "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n",
    ]))
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        let src = f[3].strip_suffix(".src.rpm").unwrap();
        let (rest, rel) = src.rsplit_once('-').unwrap();
        let (sname, sver) = rest.rsplit_once('-').unwrap();
        (
            f[0].into(),
            f[1].into(),
            f[2].into(),
            sname.into(),
            format!("{sver}-{rel}"),
        )
    })
    .collect();
    assert_eq!(want.len(), 5);
    (root, want)
}

/// The rpm packages found in a layer holding `files`.
fn indexed(files: &[(&str, &[u8])]) -> BTreeSet<RpmRow> {
    let entries: Vec<Entry<'_>> = files.iter().map(|(p, d)| Entry::File(p, d)).collect();
    let layer = gzip(&tar(&entries));
    let inv = assemble(&[(digest(&layer), index_layer(&layer[..], &Limits::default()))]);
    assert!(!inv.has_layer_errors(), "{:?}", inv.layers);
    inv.packages
        .iter()
        .filter(|e| e.package.ecosystem == Ecosystem::Rpm)
        .map(|e| {
            let p = &e.package;
            let s = p.source.as_ref().unwrap();
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone().unwrap(),
                s.name.clone(),
                s.version.clone(),
            )
        })
        .collect()
}

#[test]
fn rpmdb_sqlite_matches_rpm_qa() {
    let work = tempfile::tempdir().unwrap();
    let (root, want) = rpm_root(work.path());
    let db = std::fs::read(root.join("var/lib/rpm/rpmdb.sqlite")).unwrap();
    assert_eq!(indexed(&[("var/lib/rpm/rpmdb.sqlite", &db)]), want);
}

#[test]
fn berkeley_db_packages_match_rpm_qa() {
    // Debian's rpm writes only SQLite; the same header blobs are loaded
    // into a real Berkeley DB hash file by db_load, as rpm before 4.16
    // kept them: inline on 4 KiB pages, in overflow chains on 512-byte ones.
    let work = tempfile::tempdir().unwrap();
    let (root, want) = rpm_root(work.path());
    let dump = work.path().join("dump.txt");
    let script = "import sqlite3, struct, sys\nc = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\nout = open(sys.argv[2], 'w')\nout.write('VERSION=3\\nformat=bytevalue\\ntype=hash\\nHEADER=END\\n')\nfor hnum, blob in c.execute('SELECT hnum, blob FROM Packages'):\n    out.write(' ' + struct.pack('<I', hnum).hex() + '\\n ' + blob.hex() + '\\n')\nout.write('DATA=END\\n')\n";
    run(Command::new("python3")
        .args(["-c", script])
        .arg(root.join("var/lib/rpm/rpmdb.sqlite"))
        .arg(&dump));
    for page_size in ["4096", "512"] {
        let db = work.path().join(format!("Packages-{page_size}"));
        run(Command::new("db5.3_load")
            .args(["-c", &format!("db_pagesize={page_size}"), "-f"])
            .arg(&dump)
            .arg(&db));
        let bytes = std::fs::read(&db).unwrap();
        assert_eq!(
            indexed(&[("var/lib/rpm/Packages", &bytes)]),
            want,
            "page size {page_size}"
        );
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn part(&mut self) -> String {
        const CHARS: &[u8] = b"0123456789001aAzZ..~^+_";
        let mut s = String::new();
        s.push((b'0' + self.below(10) as u8) as char);
        for _ in 0..self.below(6) {
            s.push(CHARS[self.below(CHARS.len())] as char);
        }
        s
    }
    fn evr(&mut self) -> String {
        let epoch = if self.below(4) == 0 {
            format!("{}:", self.below(3))
        } else {
            String::new()
        };
        let release = if self.below(2) == 0 {
            format!("-{}", self.part())
        } else {
            String::new()
        };
        format!("{epoch}{}{release}", self.part())
    }
}

#[test]
fn rpm_version_order_agrees_with_rpm() {
    let mut rng = Rng(0x00c0_ffee_1234_5678);
    let mut pairs = Vec::new();
    for _ in 0..400 {
        let a = rng.evr();
        let b = if rng.below(3) == 0 {
            a.clone() + &rng.part()[..1]
        } else {
            rng.evr()
        };
        pairs.push((a, b));
    }
    // One rpm process evaluates every pair with its own comparison.
    let table: Vec<String> = pairs
        .iter()
        .map(|(a, b)| format!("{{\"{a}\",\"{b}\"}}"))
        .collect();
    let script = format!(
        "%{{lua: local out = {{}}; for _, p in ipairs({{{}}}) do local a, b = rpm.ver(p[1]), rpm.ver(p[2]); table.insert(out, a < b and -1 or (a == b and 0 or 1)) end; print(table.concat(out, \" \"))}}",
        table.join(",")
    );
    let verdicts = run(Command::new("rpm").args(["--eval", &script]));
    let verdicts: Vec<&str> = verdicts.split_whitespace().collect();
    assert_eq!(verdicts.len(), pairs.len());
    for ((a, b), v) in pairs.iter().zip(verdicts) {
        let want = match v {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            _ => Ordering::Greater,
        };
        assert_eq!(compare(Scheme::Rpm, a, b), Ok(want), "{a:?} vs {b:?}");
    }
}
