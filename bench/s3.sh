# Sourced by the benchmarks that measure Berth on S3.
# `bench_s3 DIR` starts s3s-fs (a real S3-compatible server that checks
# signatures; installed once into the git-ignored .cache, as the tests do)
# on loopback with its data under DIR and a bucket `bench`, and sets
# BENCH_S3_ENDPOINT, BENCH_S3_BUCKET, BENCH_S3_ACCESS_KEY,
# BENCH_S3_SECRET_KEY and BENCH_S3_SERVER=s3s-fs. `bench_s3_stop` stops it.
# bench/run.sh uses a server already named by those variables instead (a
# MinIO, say; BENCH_S3_SERVER names it in the report).

bench_s3() {
  local s3s_fs=.cache/tools/bin/s3s-fs port
  if [ ! -x "$s3s_fs" ]; then
    echo "installing s3s-fs (once)" >&2
    cargo install s3s-fs --version 0.14.1 --features binary --root .cache/tools --quiet
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$1/data"
  BENCH_S3_ENDPOINT="http://127.0.0.1:$port"
  BENCH_S3_BUCKET=bench
  BENCH_S3_ACCESS_KEY="AKIA$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  BENCH_S3_SECRET_KEY=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
  BENCH_S3_SERVER=s3s-fs
  export BENCH_S3_ENDPOINT BENCH_S3_BUCKET BENCH_S3_ACCESS_KEY BENCH_S3_SECRET_KEY BENCH_S3_SERVER
  "$s3s_fs" --host 127.0.0.1 --port "$port" --access-key "$BENCH_S3_ACCESS_KEY" \
    --secret-key "$BENCH_S3_SECRET_KEY" "$1/data" >"$1/s3s-fs.log" 2>&1 &
  bench_s3_pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "$BENCH_S3_ENDPOINT/" && break
    sleep 0.1
  done
  curl -sf -o /dev/null -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$BENCH_S3_ACCESS_KEY:$BENCH_S3_SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$BENCH_S3_ENDPOINT/$BENCH_S3_BUCKET"
}

bench_s3_stop() {
  if [ -n "${bench_s3_pid:-}" ]; then
    kill "$bench_s3_pid" 2>/dev/null || true
    wait "$bench_s3_pid" 2>/dev/null || true
  fi
}
