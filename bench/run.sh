#!/usr/bin/env bash
# Benchmark Berth against the CNCF Distribution registry on this machine.
# Usage: bench/run.sh [--all | --gc | [--storage dir|s3] [--db sqlite|postgres] [--scanner]]
#                     [--quick] [--rounds N] [--only 1,3,...]
# Installs what it needs, builds release binaries, runs every workload
# against both registries interleaved, prints a table and writes its rows
# into bench/results/latest.json, or BENCH_OUT (replacing those of the same
# storage (both registries'), database and scanner setting and of the
# figures it measured).
# - `--db postgres`: Berth on a throwaway PostgreSQL server on loopback (or
#   BENCH_PG_URI=postgresql://USER@HOST:PORT), a fresh database per start.
# - `--storage s3`: both registries' blobs in one bucket of a throwaway S3
#   server on loopback (bench/s3.sh: s3s-fs with what Distribution's S3
#   driver needs, bench/s3-server), each start under its own prefix; the
#   server's own PUT and GET rates are measured as the limit. A server named
#   by BENCH_S3_ENDPOINT and the like (see bench/s3.sh) is used instead.
# - `--scanner`: Berth with its scanner on, as installed by default.
# - `--all`: one run of each: the default (dir, sqlite), postgres, s3, and
#   the scanner on.
# - `--gc`: garbage collection at scale (workload 9) on PostgreSQL + S3 only:
#   100,000 images of ten blobs pushed to each registry, half of them
#   garbage, one timed pass each (`--gc-images N` for another size).
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
storage=dir
scanner=
all=
gc=
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --db) db=${2:?--db needs sqlite or postgres}; shift 2 ;;
    --storage) storage=${2:?--storage needs dir or s3}; shift 2 ;;
    --scanner) scanner=--scanner; shift ;;
    --all) all=1; shift ;;
    --gc) gc=1; shift ;;
    *) pass+=("$1"); shift ;;
  esac
done
case "$db" in
  sqlite | postgres) ;;
  *) echo "--db: sqlite or postgres, not $db" >&2; exit 2 ;;
esac
case "$storage" in
  dir | s3) ;;
  *) echo "--storage: dir or s3, not $storage" >&2; exit 2 ;;
esac
# Each run: storage, database, scanner flag.
if [ -n "$all" ]; then
  # S3 last: with Distribution on the bucket too it is the longest.
  runs=("dir sqlite -" "dir postgres -" "dir sqlite --scanner" "s3 sqlite -")
elif [ -n "$gc" ]; then
  runs=("s3 postgres -")
  pass+=(--only 9)
else
  runs=("$storage $db ${scanner:--}")
fi

cargo build --release --quiet -p berth -p berth-bench
target="${CARGO_TARGET_DIR:-target}"
# The registries' data lives in bench/work (and the throwaway servers' under
# /tmp), which a failed or interrupted run would leave behind; the results
# are written elsewhere.
scratch=$(mktemp -d /tmp/berth-bench.XXXXXX)
chmod 755 "$scratch"
source bench/postgres.sh
source bench/s3.sh
cleanup() {
  bench_postgres_stop
  bench_s3_stop
  rm -rf bench/work "$scratch"
}
trap cleanup EXIT
for run in "${runs[@]}"; do
  read -r run_storage run_db run_scanner <<<"$run"
  extra=()
  if [ "$run_db" = postgres ]; then
    [ -n "${BENCH_PG:-}" ] || bench_postgres "$scratch/pg"
    extra+=(--pg-uri "$BENCH_PG")
  fi
  if [ "$run_storage" = s3 ]; then
    [ -n "${BENCH_S3_ENDPOINT:-}" ] || bench_s3 "$scratch/s3"
    extra+=(--s3)
  fi
  scanner_state=off
  if [ "$run_scanner" != - ]; then
    extra+=("$run_scanner")
    scanner_state=on
  fi
  echo "== Berth on $run_storage and $run_db, scanner $scanner_state ==" >&2
  "$target/release/berth-bench" \
    --berth "$target/release/berth" \
    --distribution /usr/bin/docker-registry \
    --work bench/work \
    --out "${BENCH_OUT:-bench/results/latest.json}" \
    "${extra[@]}" "${pass[@]}"
done
