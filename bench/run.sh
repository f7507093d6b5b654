#!/usr/bin/env bash
# Benchmark Berth against the CNCF Distribution registry on this machine.
# Usage: bench/run.sh [--db sqlite|postgres] [--quick] [--rounds N]
# Installs what it needs, builds release binaries, runs every workload
# against both registries interleaved, prints a table and writes its rows
# into bench/results/latest.json (replacing those of the same storage and
# database). `--db postgres` runs Berth on a throwaway PostgreSQL server on
# loopback (or BENCH_PG_URI=postgresql://USER@HOST:PORT), a fresh database
# per start.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
for p in docker-registry skopeo; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The package's own service (port 5000, htpasswd auth) is not what we measure.
as_root systemctl disable --now docker-registry >/dev/null 2>&1 || true

db=sqlite
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --db) db=${2:?--db needs sqlite or postgres}; shift 2 ;;
    *) pass+=("$1"); shift ;;
  esac
done
case "$db" in
  sqlite | postgres) ;;
  *) echo "--db: sqlite or postgres, not $db" >&2; exit 2 ;;
esac

cargo build --release --quiet -p berth -p berth-bench
target="${CARGO_TARGET_DIR:-target}"
# The registries' data lives in bench/work, which a failed or interrupted run
# would leave behind; the results are written elsewhere.
trap 'rm -rf bench/work' EXIT
if [ "$db" = postgres ]; then
  source bench/postgres.sh
  pg_dir=$(mktemp -d /tmp/berth-bench-pg.XXXXXX)
  chmod 755 "$pg_dir"
  bench_postgres "$pg_dir/pg"
  trap 'bench_postgres_stop; rm -rf bench/work "$pg_dir"' EXIT
  pass+=(--pg-uri "$BENCH_PG")
fi
"$target/release/berth-bench" \
  --berth "$target/release/berth" \
  --distribution /usr/bin/docker-registry \
  --work bench/work \
  --out bench/results/latest.json \
  "${pass[@]}"
