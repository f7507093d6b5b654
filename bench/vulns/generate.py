#!/usr/bin/env python3
"""Generate vulnerability feeds at real scale, in the real formats, laid out
at the real servers' paths, plus the images the vulnerability benchmark
scans. Deterministic (fixed seed), so two runs give the same bytes.

Usage: generate.py OUT_DIR VULNDATA_DIR

OUT_DIR/feeds/ (served on loopback):
  debian/tracker/data/json     the security tracker's JSON: DEBIAN_ENTRIES
                               (source package, CVE) entries, each with
                               bullseye, bookworm, trixie and sid
  osv/<Ecosystem>/all.zip      OSV_RECORDS records over the six default
                               ecosystems (withdrawn records, GIT ranges,
                               versions[] and aliases among them)
  osv/Ubuntu/all.zip, alpine-secdb/, redhat/csaf/v2/vex/, nvd/, epss/
                               the real records of VULNDATA_DIR (the tests'
                               copy), with the layouts the updaters expect
OUT_DIR/images/<name>/         OCI layouts: `base` (a Debian 12 base image,
                               BASE_PACKAGES dpkg packages) and `big`
                               (BIG_PACKAGES dpkg packages)
                               (`base` has tags v1..vPUSH_ROUNDS too: the
                               same layer under other configs)
OUT_DIR/change.json            the one record the re-match step adds
"""

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import zipfile

DEBIAN_ENTRIES = 40_000
SOURCES = 6_000
GIANTS = 20
GIANT_SHARE = 0.4
OSV_RECORDS = 20_000
OSV_SHARE = {"PyPI": 0.28, "npm": 0.27, "Go": 0.12, "Maven": 0.2, "crates.io": 0.05, "RubyGems": 0.08}
BASE_PACKAGES = 90
BIG_PACKAGES = 500
PUSH_ROUNDS = 10
RELEASES = {"bullseye": "+deb11u", "bookworm": "+deb12u", "trixie": "", "sid": ""}
URGENCIES = ["not yet assigned", "unimportant", "low", "low**", "medium", "medium**", "high", "high**", "end-of-life"]
WORDS = ("buffer overflow use-after-free integer out-of-bounds read write heap stack null pointer "
         "dereference denial of service remote attacker crafted file allows execute arbitrary code "
         "via vectors memory corruption improper validation input parsing function component").split()

rng = random.Random(20261206)
out, vulndata = sys.argv[1], sys.argv[2]
feeds = os.path.join(out, "feeds")


def text(n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def source_name(i):
    return f"src{i:04d}"


def source_version(i):
    return f"{1 + i % 7}.{i % 13}.{i % 5}-{1 + i % 3}"


def binaries(i):
    """A source package's binary packages (most have one, some two)."""
    name = source_name(i)
    return [f"lib{name}", f"{name}-bin"] if i % 4 == 0 else [name]


# --- Debian: {source: {CVE: {description, scope, debianbug, releases}}} ----
def debian():
    # As in the real tracker, a few sources (the kernel, browsers, mail
    # clients) carry a large share of the CVEs and are not in container
    # images; the others carry one to a few dozen each.
    counts = [1] * SOURCES  # every source has at least one entry
    weights = [GIANT_SHARE / GIANTS if i < GIANTS else (1 - GIANT_SHARE) / (1 + (i - GIANTS) % 97) * 19.3
               / (SOURCES - GIANTS) for i in range(SOURCES)]
    for i in rng.choices(range(SOURCES), weights, k=DEBIAN_ENTRIES - SOURCES):
        counts[i] += 1
    doc = {}
    cve = 0
    for i in range(SOURCES):
        name, installed = source_name(i), source_version(i)
        entries = {}
        for _ in range(counts[i]):
            cve += 1
            year = 2005 + cve % 21
            releases = {}
            for release, suffix in RELEASES.items():
                r = rng.random()
                repos = {release: installed}
                if r < 0.10:
                    rel = {"status": "resolved", "repositories": repos, "fixed_version": "0",
                           "urgency": "unimportant"}
                elif r < 0.80:
                    # Fixed: mostly before what is installed, some in a
                    # later security update (the image is behind).
                    fixed = f"{installed.split('.')[0]}.0.0-1" if r < 0.75 \
                        else installed + (suffix or "+b") + str(1 + rng.randrange(4))
                    rel = {"status": "resolved", "repositories": repos, "fixed_version": fixed,
                           "urgency": rng.choice(URGENCIES)}
                elif r < 0.93:
                    rel = {"status": "open", "repositories": repos, "urgency": rng.choice(URGENCIES),
                           "nodsa": "Minor issue", "nodsa_reason": ""}
                else:
                    rel = {"status": "open", "repositories": repos, "urgency": rng.choice(URGENCIES)}
                releases[release] = rel
            entries[f"CVE-{year}-{10000 + cve}"] = {
                "description": text(rng.randrange(12, 40)),
                "scope": rng.choice(["local", "remote"]),
                "debianbug": 1_000_000 + cve,
                "releases": releases,
            }
        doc[name] = entries
    return doc


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def debian_json(doc):
    return json.dumps(doc, separators=(",", ":")).encode()


# --- OSV: one record per file, zipped per ecosystem ------------------------
def osv_name(eco, i):
    return {
        "PyPI": f"py-pkg-{i}",
        "npm": f"@scope{i % 50}/js-pkg-{i}" if i % 5 == 0 else f"js-pkg-{i}",
        "Go": f"github.com/org{i % 200}/mod{i}",
        "Maven": f"org.example{i % 300}:artifact-{i}",
        "crates.io": f"crate-{i}",
        "RubyGems": f"gem-{i}",
    }[eco]


def osv_record(eco, n, serial):
    ident = f"GHSA-{serial:04x}-{rng.randrange(16**4):04x}-{rng.randrange(16**4):04x}"
    major = rng.randrange(1, 9)
    events = [{"introduced": "0" if rng.random() < 0.6 else f"{major}.0.0"}]
    r = rng.random()
    if r < 0.75:
        events.append({"fixed": f"{major}.{rng.randrange(10)}.{rng.randrange(10)}"})
    elif r < 0.9:
        events.append({"last_affected": f"{major}.{rng.randrange(10)}.{rng.randrange(10)}"})
    ranges = [{"type": "SEMVER" if eco in ("Go", "crates.io", "npm") else "ECOSYSTEM", "events": events}]
    if rng.random() < 0.1:
        ranges.append({"type": "GIT", "repo": f"https://github.com/example/{n}",
                       "events": [{"introduced": "0"}, {"fixed": hashlib.sha1(ident.encode()).hexdigest()}]})
    affected = {"package": {"ecosystem": eco, "name": osv_name(eco, n)}, "ranges": ranges,
                "database_specific": {"source": "https://github.com/github/advisory-database"}}
    if rng.random() < 0.3:
        affected["versions"] = [f"{major}.0.{k}" for k in range(rng.randrange(1, 12))]
    rec = {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": "2026-11-0%dT12:00:00Z" % (1 + serial % 9),
        "published": "2024-03-01T00:00:00Z",
        "aliases": [f"CVE-{2018 + serial % 8}-{50000 + serial}"] if rng.random() < 0.8 else [],
        "summary": text(rng.randrange(6, 14)),
        "details": text(rng.randrange(40, 120)),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [affected],
        "references": [{"type": "ADVISORY", "url": f"https://github.com/advisories/{ident}"},
                       {"type": "WEB", "url": f"https://example.com/{eco}/{n}/security"}],
        "database_specific": {"severity": rng.choice(["LOW", "MODERATE", "HIGH", "CRITICAL"]),
                              "github_reviewed": True, "cwe_ids": ["CWE-79"]},
    }
    if rng.random() < 0.02:
        rec["withdrawn"] = "2025-01-01T00:00:00Z"
    return ident, rec


def zip_records(records):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, rec in sorted(records):
            info = zipfile.ZipInfo(f"{name}.json", date_time=(2026, 12, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, json.dumps(rec, indent=2))
    return buf.getvalue()


def osv():
    serial = 0
    counts = {}
    for eco, share in OSV_SHARE.items():
        n_records = round(OSV_RECORDS * share)
        packages = max(1, n_records // 3)
        records = []
        for _ in range(n_records):
            serial += 1
            records.append(osv_record(eco, rng.randrange(packages), serial))
        write(os.path.join(feeds, "osv", eco, "all.zip"), zip_records(records))
        counts[eco] = n_records
    return counts


# --- the real records of the other feeds -----------------------------------
def real_feeds():
    ubuntu = os.path.join(vulndata, "osv", "Ubuntu")
    records = [(f[:-5], json.load(open(os.path.join(ubuntu, f)))) for f in sorted(os.listdir(ubuntu))]
    write(os.path.join(feeds, "osv", "Ubuntu", "all.zip"), zip_records(records))
    shutil.copytree(os.path.join(vulndata, "alpine-secdb"), os.path.join(feeds, "alpine-secdb"))
    shutil.copytree(os.path.join(vulndata, "epss"), os.path.join(feeds, "epss"))
    vex = os.path.join(feeds, "redhat", "csaf", "v2", "vex")
    shutil.copytree(os.path.join(vulndata, "redhat", "csaf", "v2", "vex"), vex)
    docs = sorted(os.path.relpath(os.path.join(d, f), vex)
                  for d, _, fs in os.walk(vex) for f in fs if f.endswith(".json"))
    archive = "csaf_vex_2026-12-01.tar.zst"
    subprocess.run(["tar", "--zstd", "-cf", os.path.join(vex, archive), "-C", vex, *docs], check=True)
    write(os.path.join(vex, "archive_latest.txt"), f"{archive}\n".encode())
    write(os.path.join(vex, "changes.csv"), b"")
    write(os.path.join(vex, "deletions.csv"), b"")
    # NVD: the sample as the 2016 feed, its .meta naming its sha256.
    sample = open(os.path.join(vulndata, "nvd", "nvdcve-2.0-sample.json"), "rb").read()
    meta = open(os.path.join(vulndata, "nvd", "nvdcve-2.0-sample.meta")).read().splitlines()
    sha = hashlib.sha256(sample).hexdigest().upper()
    meta = "".join((f"sha256:{sha}" if l.startswith("sha256:") else l) + "\n" for l in meta)
    write(os.path.join(feeds, "nvd", "nvdcve-2.0-2016.json.gz"), gzip.compress(sample, mtime=0))
    write(os.path.join(feeds, "nvd", "nvdcve-2.0-2016.meta"), meta.encode())


# --- images: OCI layouts with a dpkg status and a Debian 12 release file ---
OS_RELEASE = b'''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
'''


def dpkg_status(sources):
    stanzas = []
    for i in sources:
        for b in binaries(i):
            src = "" if b == source_name(i) else f"Source: {source_name(i)}\n"
            stanzas.append(
                f"Package: {b}\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
                f"Installed-Size: {100 + i}\nMaintainer: Debian <debian@example.org>\nArchitecture: amd64\n"
                f"{src}Version: {source_version(i)}\nDescription: package {b}\n {text(8)}\n")
    return "\n".join(stanzas).encode()


def layout(name, files, variants=0):
    """One layer; tag `latest`, and tags `v1`..`vN` whose manifests share
    the layer and differ only by a label in their config."""
    d = os.path.join(out, "images", name)
    blobs = os.path.join(d, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        h = hashlib.sha256(data).hexdigest()
        write(os.path.join(blobs, h), data)
        return {"digest": "sha256:" + h, "size": len(data)}

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for path, content in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            t.addfile(info, io.BytesIO(content))
    raw = raw.getvalue()
    layer = put(gzip.compress(raw, 6, mtime=0))
    entries = []
    for k in range(variants + 1):
        tag = "latest" if k == 0 else f"v{k}"
        config = put(json.dumps({"architecture": "amd64", "os": "linux",
                                 "config": {"Cmd": ["bash"], "Labels": {"variant": tag}},
                                 "rootfs": {"type": "layers",
                                            "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}}).encode())
        manifest = put(json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}]}).encode())
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
                        "annotations": {"org.opencontainers.image.ref.name": tag}})
    write(os.path.join(d, "index.json"), json.dumps({"schemaVersion": 2, "manifests": entries}).encode())
    write(os.path.join(d, "oci-layout"), b'{"imageLayoutVersion":"1.0.0"}')


def images():
    base = list(range(GIANTS, SOURCES, (SOURCES - GIANTS) // BASE_PACKAGES))[:BASE_PACKAGES]
    big = list(base)
    rest = [i for i in range(GIANTS, SOURCES) if i not in set(base)]
    rng.shuffle(rest)
    # BIG_PACKAGES binary packages (some sources have two).
    for i in rest:
        if sum(len(binaries(s)) for s in big) >= BIG_PACKAGES:
            break
        big.append(i)
    while sum(len(binaries(s)) for s in big) > BIG_PACKAGES:
        big.pop()
    layout("base", [("etc/os-release", OS_RELEASE), ("var/lib/dpkg/status", dpkg_status(base))], variants=PUSH_ROUNDS)
    layout("big", [("etc/os-release", OS_RELEASE), ("var/lib/dpkg/status", dpkg_status(sorted(big)))])
    return base


def main():
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(feeds)
    doc = debian()
    write(os.path.join(feeds, "debian", "tracker", "data", "json"), debian_json(doc))
    osv_counts = osv()
    real_feeds()
    base = images()
    # The one-record change: a new open bookworm CVE of a source every
    # base image holds, so every stored image gains a finding.
    target = source_name(base[0])
    change = {"package": target, "id": "CVE-2026-99999", "entry": {
        "description": "A new issue.", "scope": "remote", "debianbug": 2_000_000,
        "releases": {"bookworm": {"status": "open", "repositories": {"bookworm": source_version(base[0])},
                                  "urgency": "high"}}}}
    write(os.path.join(out, "change.json"), json.dumps(change).encode())
    summary = {
        "debian_entries": sum(len(v) for v in doc.values()),
        "debian_sources": len(doc),
        "debian_bytes": os.path.getsize(os.path.join(feeds, "debian", "tracker", "data", "json")),
        "osv_records": osv_counts,
        "osv_zip_bytes": {e: os.path.getsize(os.path.join(feeds, "osv", e, "all.zip")) for e in osv_counts},
    }
    write(os.path.join(out, "summary.json"), json.dumps(summary, indent=1).encode())
    print(json.dumps(summary))


main()
