# Sourced by the benchmarks that measure Berth on S3.
# `bench_s3 DIR` starts the benchmarks' S3 server (bench/s3-server: s3s-fs,
# the tests' S3 server, which checks signatures, with ListMultipartUploads,
# listings that read only what their prefix can reach, and TCP_NODELAY, so
# that Distribution keeps its blobs in the same bucket; built once into
# target/s3-server) on loopback with its data under DIR and a bucket
# `bench`, and sets BENCH_S3_ENDPOINT, BENCH_S3_BUCKET, BENCH_S3_ACCESS_KEY,
# BENCH_S3_SECRET_KEY and BENCH_S3_SERVER. `bench_s3_stop` stops it.
# bench/run.sh uses a server already named by those variables instead (a
# MinIO, say; BENCH_S3_SERVER names it in the report).

bench_s3() {
  local server=target/s3-server/release/bench-s3 port
  cargo build --release --quiet --locked --manifest-path bench/s3-server/Cargo.toml \
    --target-dir target/s3-server
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$1/data"
  BENCH_S3_ENDPOINT="http://127.0.0.1:$port"
  BENCH_S3_BUCKET=bench
  BENCH_S3_ACCESS_KEY="AKIA$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  BENCH_S3_SECRET_KEY=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
  BENCH_S3_SERVER="s3s-fs (bench/s3-server)"
  export BENCH_S3_ENDPOINT BENCH_S3_BUCKET BENCH_S3_ACCESS_KEY BENCH_S3_SECRET_KEY BENCH_S3_SERVER
  "$server" --host 127.0.0.1 --port "$port" --access-key "$BENCH_S3_ACCESS_KEY" \
    --secret-key "$BENCH_S3_SECRET_KEY" "$1/data" >"$1/s3-server.log" 2>&1 &
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
