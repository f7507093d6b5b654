#!/usr/bin/env bash
# Proxy cache against direct pulls: a real docker-registry upstream on
# loopback, an image of 40 MiB (three random gzip layers) copied by skopeo
# to a directory. A cold proxied pull (Berth fetching from the upstream
# while serving) against a direct pull from the upstream, and a warm one
# (all cached) against a pull of the same image pushed into Berth; medians
# of five fresh images, as ratios, to bench/results/proxy-cache.json.
# Usage: bench/proxy-cache.sh [--release]   (default: the debug test build)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=()
build=debug
if [ "${1:-}" = "--release" ]; then profile=(--release); build=release; fi
cargo test "${profile[@]}" -q -p berth --test proxy_cache proxy_cache_bench -- --ignored --nocapture 2>/dev/null \
  | grep '^{' | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
for r in rows:
    r["build"] = sys.argv[1]
    print("%-8s cold proxied / direct %.2fx (%.2f s / %.2f s)   warm proxied / local %.2fx (%.2f s / %.2f s)" % (
        r["db"], r["cold_over_direct"], r["cold_proxied_s"], r["direct_s"],
        r["warm_over_local"], r["warm_proxied_s"], r["local_s"]))
json.dump(rows, open("bench/results/proxy-cache.json", "w"), indent=1)
' "$build"
