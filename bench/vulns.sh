#!/usr/bin/env bash
# Vulnerability feeds and matching at real scale: feeds generated in the
# real formats (about 40k Debian CVE x package entries in the security
# tracker's JSON, 20k OSV records zipped per ecosystem; the other feeds'
# real records from the tests' vulndata) served on loopback at the real
# paths. Measures, on SQLite and on PostgreSQL: a full `berth vulndb update`
# (wall time, peak RSS), matching one 500-package image, re-matching 10,000
# stored images after a one-record change (the record added, then removed);
# on SQLite: push-to-report latency of a Debian base image whose layer is
# cached. See bench/vulns/run.py.
# Usage: bench/vulns.sh   (PostgreSQL: a throwaway server on loopback, or
#        BENCH_PG_URI=postgresql://USER@HOST:PORT for an existing one, in
#        which a fresh database is created and dropped; VULNBENCH_IMAGES=N
#        stores N images instead of 10,000; VULNBENCH_ONLY=update-match runs
#        only the full update and the one-image match, into the existing
#        results)
# Writes bench/results/vulns.json.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v skopeo >/dev/null || { echo "needs skopeo" >&2; exit 1; }

cargo build --release --quiet -p berth
cargo build --release --quiet -p berth-core --example vulnbench
target="${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d /tmp/berth-vulns-bench.XXXXXX)
chmod 755 "$work"
cleanup=(rm -rf "$work")
trap '"${cleanup[@]}"' EXIT

source bench/postgres.sh
bench_postgres "$work/pg"
db="vulnbench_$$"
psql -q "$BENCH_PG/postgres" -c "CREATE DATABASE $db"
trap 'psql -q "$BENCH_PG/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; bench_postgres_stop; "${cleanup[@]}"' EXIT

python3 bench/vulns/run.py "$target/release/berth" "$target/release/examples/vulnbench" \
  "$work" bench/results/vulns.json "$BENCH_PG/$db"
echo "wrote bench/results/vulns.json"
