#!/usr/bin/env bash
# What counting pulls costs: workload 4 (manifest GET by tag, 64 clients) of
# the benchmark with FEATURE_IMAGE_PULL_STATS on and off, interleaved (the
# order alternates per round, so machine drift cancels out). Each run is a
# quick berth-bench run of workload 4 alone (median of 3 runs of 4 s); the
# report is the median over the rounds of each setting.
# Usage: bench/pull-stats.sh [ROUNDS]   (default 4)
# Writes bench/results/pull-stats.json (the fields of latest.json, with
# `on` and `off` in place of the two registries).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! dpkg-query -W -f='${Status}' docker-registry 2>/dev/null | grep -q "install ok installed"; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry skopeo >/dev/null
fi
as_root systemctl disable --now docker-registry >/dev/null 2>&1 || true

cargo build --release --quiet -p berth -p berth-bench
target="${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d /tmp/berth-pull-stats.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'FEATURE_IMAGE_PULL_STATS: true\n' >"$work/on.yaml"
printf 'FEATURE_IMAGE_PULL_STATS: false\n' >"$work/off.yaml"

one() { # setting round
  "$target/release/berth-bench" --quick --only 4 --rounds 3 \
    --berth "$target/release/berth" --distribution /usr/bin/docker-registry \
    --berth-arg=--config --berth-arg="$work/$1.yaml" \
    --work "$work/run" --out "$work/$1-$2.json" >/dev/null 2>&1
  echo "round $2: pull statistics $1 done" >&2
}
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then one on "$r"; one off "$r"; else one off "$r"; one on "$r"; fi
done

python3 - "$work" "$rounds" <<'EOF'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def series(setting, metric):
    out = []
    for r in range(1, rounds + 1):
        rows = json.load(open(f"{work}/{setting}-{r}.json"))
        out += [x["berth"] for x in rows if x["workload"] == "4. manifest GET" and x["metric"] == metric]
    return out
results = []
print(f"Pull statistics on vs off, workload 4 (manifest GET by tag, 64 clients), {rounds} interleaved rounds")
for metric, unit, better in [("requests", "req/s", "higher"), ("p50 latency", "ms", "lower"), ("p99 latency", "ms", "lower")]:
    on, off = series("on", metric), series("off", metric)
    m_on, m_off = statistics.median(on), statistics.median(off)
    print(f"  {metric:12} on {m_on:10.2f} {unit:5} off {m_off:10.2f} {unit:5} on/off {m_on / m_off:.3f}")
    print(f"               on runs  {', '.join(f'{v:.1f}' for v in on)}")
    print(f"               off runs {', '.join(f'{v:.1f}' for v in off)}")
    results.append({"workload": "4. manifest GET, pull statistics", "metric": metric, "unit": unit,
                    "better": better, "on": m_on, "off": m_off, "ratio": m_on / m_off, "runs": rounds,
                    "on_runs": on, "off_runs": off})
json.dump(results, open("bench/results/pull-stats.json", "w"), indent=2)
print("wrote bench/results/pull-stats.json")
EOF
