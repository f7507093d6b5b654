#!/usr/bin/env bash
# Fuzz every scanner parser for SECONDS each (default 300), starting from
# small seed layers made here. Needs cargo-fuzz; stable rustc runs it with
# RUSTC_BOOTSTRAP=1 (libFuzzer needs -Z flags).
set -euo pipefail
cd "$(dirname "$0")/../crates/berth-scan"
seconds=${1:-300}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

mkdir -p fuzz/corpus/layer fuzz/corpus/package_files fuzz/corpus/versions
python3 - <<'PY'
import gzip, io, tarfile
def layer(files, links=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name); info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name); info.type = tarfile.SYMTYPE; info.linkname = target
            t.addfile(info)
    return buf.getvalue()
status = b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nSource: bash (5.2-1)\nVersion: 5.2-1+b1\n\n"
seeds = {
    "dpkg": layer([("var/lib/dpkg/status", status), ("usr/lib/os-release", b"ID=debian\nVERSION_ID=\"12\"\n")],
                  [("etc/os-release", "../usr/lib/os-release")]),
    "apk": layer([("lib/apk/db/installed", b"P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\n"), ("etc/alpine-release", b"3.20.3\n")]),
    "python": layer([("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", b"Name: six\nVersion: 1.16.0\n\nbody\n")]),
    "npm": layer([("app/node_modules/@s/ms/package.json", b'{"name":"@s/ms","version":"2.1.3"}'), ("app/node_modules/.wh..wh..opq", b"")]),
}
for name, data in seeds.items():
    open(f"fuzz/corpus/layer/{name}.tar", "wb").write(data)
    open(f"fuzz/corpus/layer/{name}.tar.gz", "wb").write(gzip.compress(data))
open("fuzz/corpus/package_files/status", "wb").write(status)
open("fuzz/corpus/package_files/apk", "wb").write(b"P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n")
open("fuzz/corpus/package_files/json", "wb").write(b'{"name":"ms","version":"2.1.3"}')
for i, pair in enumerate(["1:1.0~rc1-1\n1.0-1", "1.0_alpha1-r0\n1.0-r1", "1.0.0-alpha.1\nv1.0.0", "1.0-SNAPSHOT\n1.0.a"]):
    open(f"fuzz/corpus/versions/{i}", "w").write(pair)
PY

for target in layer package_files versions; do
  echo "== fuzzing $target for ${seconds}s =="
  cargo fuzz run -O "$target" "fuzz/corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 \
    | grep -E "^(#[0-9]+.*DONE|Done|==[0-9]+==|SUMMARY)|panicked" || true
done
