#!/usr/bin/env bash
# Fuzz every vulnerability feed parser for SECONDS each (default 300),
# starting from the real records in crates/berth/tests/data. Needs
# cargo-fuzz; stable rustc runs it with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/../crates/berth-vulns"
seconds=${1:-300}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
data=../berth/tests/data/vulndata

mkdir -p fuzz/corpus/debian fuzz/corpus/alpine fuzz/corpus/osv fuzz/corpus/ubuntu fuzz/corpus/rhel_vex fuzz/corpus/nvd fuzz/corpus/epss
cp "$data/debian/tracker/data/json" fuzz/corpus/debian/tracker.json

for f in "$data"/alpine-secdb/v3.*/main.json; do cp "$f" "fuzz/corpus/alpine/$(basename "$(dirname "$f")").json"; done
cp "$data"/osv/PyPI/*.json fuzz/corpus/osv/
cp "$data"/osv/Ubuntu/*.json fuzz/corpus/ubuntu/
cp "$data"/redhat/csaf/v2/vex/*/*.json fuzz/corpus/rhel_vex/
cp "$data"/nvd/* fuzz/corpus/nvd/
cp "$data"/epss/*.csv.gz fuzz/corpus/epss/
python3 - "$data/osv" <<'PY'
import pathlib, sys, zipfile
for eco, target in (("PyPI", "osv"), ("Ubuntu", "ubuntu")):
    with zipfile.ZipFile(f"fuzz/corpus/{target}/all.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted((pathlib.Path(sys.argv[1]) / eco).glob("*.json")):
            z.write(p, p.name)
PY

for target in debian alpine osv ubuntu rhel_vex nvd epss; do
  echo "== fuzzing $target for ${seconds}s =="
  cargo fuzz run -O "$target" "fuzz/corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 \
    | grep -E "^(#[0-9]+.*DONE|Done|==[0-9]+==|SUMMARY)|panicked" || true
done
