# Sourced by the benchmarks that measure Berth on PostgreSQL.
# `bench_postgres DIR` starts a throwaway server on loopback with its data
# under DIR, or with BENCH_PG_URI=postgresql://USER@HOST:PORT uses that one,
# and sets BENCH_PG to the server's URI (no database). `bench_postgres_stop`
# stops a server it started.

bench_postgres() {
  if [ -n "${BENCH_PG_URI:-}" ]; then
    BENCH_PG=$BENCH_PG_URI
    return
  fi
  bench_pg_dir=$1
  bench_pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$bench_pg_dir"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$bench_pg_dir"
  bench_pg_as "$bench_pg_bin/initdb -D $bench_pg_dir/data -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >/dev/null
  bench_pg_as "$bench_pg_bin/pg_ctl -D $bench_pg_dir/data -l $bench_pg_dir/pg.log -w -o \"-p $port -k $bench_pg_dir -c listen_addresses=127.0.0.1\" start" >/dev/null
  BENCH_PG="postgresql://postgres@127.0.0.1:$port"
}

# PostgreSQL refuses to run as root: its commands run as `postgres` then.
bench_pg_as() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }

bench_postgres_stop() {
  if [ -n "${bench_pg_dir:-}" ]; then
    bench_pg_as "$bench_pg_bin/pg_ctl -D $bench_pg_dir/data -m fast stop" >/dev/null 2>&1 || true
  fi
}
