#!/usr/bin/env bash
# Vulnerability feeds and matching at real scale: feeds generated in the
# real formats (about 40k Debian CVE x package entries in the security
# tracker's JSON, 20k OSV records zipped per ecosystem; the other feeds'
# real records from the tests' vulndata) served on loopback at the real
# paths. Measures, on SQLite and on PostgreSQL: a full `berth vulndb update`
# (wall time, peak RSS), matching one 500-package image, re-matching 10,000
# stored images after a one-record change (the record added, then removed); on SQLite: push-to-report latency
# of a Debian base image whose layer is cached. See bench/vulns/run.py.
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

if [ -n "${BENCH_PG_URI:-}" ]; then
  db="vulnbench_$$"
  psql -q "$BENCH_PG_URI/postgres" -c "CREATE DATABASE $db"
  pg_uri="$BENCH_PG_URI/$db"
  trap 'psql -q "$BENCH_PG_URI/postgres" -c "DROP DATABASE IF EXISTS $db" || true; "${cleanup[@]}"' EXIT
else
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pg_dir="$work/pg"
  mkdir -p "$pg_dir"
  pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg_dir"
  pg "$pg_bin/initdb -D $pg_dir/data -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >/dev/null
  pg "$pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/pg.log -w -o \"-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1\" start" >/dev/null
  pg_uri="postgresql://postgres@127.0.0.1:$pg_port/postgres"
  trap 'pg "$pg_bin/pg_ctl -D $pg_dir/data -m fast stop" >/dev/null 2>&1 || true; "${cleanup[@]}"' EXIT
fi

python3 bench/vulns/run.py "$target/release/berth" "$target/release/examples/vulnbench" \
  "$work" bench/results/vulns.json "$pg_uri"
echo "wrote bench/results/vulns.json"
