#!/usr/bin/env bash
# Console pages at scale: a namespace with 10,000 repositories and a
# repository with 10,000 tags and 1,000 history rows, on SQLite and on
# PostgreSQL (a throwaway server on loopback). Each page is requested 25
# times by a signed-in user over loopback; the median and the slowest
# request, as the client sees them (so an upper bound of server time),
# go to bench/results/console.json.
# Usage: bench/console.sh [--release]   (default: the debug test build)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=()
build=debug
if [ "${1:-}" = "--release" ]; then profile=(--release); build=release; fi

pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg_dir=$(mktemp -d /tmp/berth-console-bench.XXXXXX)
chmod 755 "$pg_dir"
pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg_dir"
pg "$pg_bin/initdb -D $pg_dir/data -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >/dev/null
pg "$pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/pg.log -w -o \"-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off\" start" >/dev/null
trap 'pg "$pg_bin/pg_ctl -D $pg_dir/data -m fast stop" >/dev/null 2>&1 || true; rm -rf "$pg_dir"' EXIT

run() {
  cargo test "${profile[@]}" -q -p berth --test console_bench -- --ignored --nocapture 2>/dev/null | grep '^{'
}
{
  run
  TEST_DB=postgres TEST_PG_URI="postgresql://postgres@127.0.0.1:$pg_port" run
} | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
for r in rows:
    r["build"] = sys.argv[1]
    print("%-9s %-26s median %6.1f ms  max %6.1f ms" % (r["db"], r["page"], r["median_ms"], r["max_ms"]))
json.dump(rows, open("bench/results/console.json", "w"), indent=1)
' "$build"
