#!/usr/bin/env bash
# Install everything the tests need (idempotent), then run every test:
# formatting and lints, unit tests, and the integration suite three times:
# SQLite + local directory, PostgreSQL + local directory, and PostgreSQL + a
# real S3-compatible server (s3s-fs, which checks signatures), both started
# here on loopback.
# The scanner's tests compare it with the ecosystems' own tools on real
# content: dpkg-query, dpkg --compare-versions, rpm -qa and rpm's own
# version order (packages built with rpmbuild; the BerkeleyDB backend via
# db_load), pip/importlib.metadata (packages installed from PyPI), npm ls
# (a real npm install), go version -m (a Debian Go binary and one built
# here), gem list (Ruby's own and Debian-packaged gems), Debian's Maven
# repository for Java archives, and a cargo auditable binary's Cargo.lock.
# The metrics tests read /metrics and PromQL with Prometheus' own parsers
# and check the shipped alert rules with promtool.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- system packages: real clients, the PostgreSQL server, promtool ----------
apt_packages=(skopeo podman buildah postgresql postgresql-client tar curl dpkg rpm db5.3-util golang-go ruby ruby-rack maven prometheus cmake chromium chromium-driver python3-aiosmtpd docker-registry apache2-utils debootstrap)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python client for artifacts and referrers ------------------------------
python3 -c 'import oras' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check oras

# --- the AWS CLI, for the PostgreSQL + S3 backup procedure's bucket copy ----
command -v aws >/dev/null || python3 -m pip install --quiet --disable-pip-version-check \
  --root-user-action=ignore awscli

# --- Prometheus' own parsers: the exposition format and PromQL (metrics tests)
python3 -c 'import prometheus_client, promql_parser' 2>/dev/null || python3 -m pip install --quiet \
  --disable-pip-version-check --root-user-action=ignore "prometheus-client==0.26.0" "promql-parser==0.12.0"

# --- schemathesis, to check the REST API against its OpenAPI document -------
command -v schemathesis >/dev/null || python3 -m pip install --quiet --disable-pip-version-check \
  --root-user-action=ignore "schemathesis==4.32.5"

# --- SBOM validators (SPDX's and CycloneDX's own Python tools) --------------
if [ ! -d .cache/sbom-validators/spdx_tools ] || [ ! -d .cache/sbom-validators/cyclonedx ]; then
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --root-user-action=ignore \
    --target .cache/sbom-validators "spdx-tools==0.8.3" "cyclonedx-python-lib[json-validation]==11.12.0"
fi

# --- cargo auditable, to build a Rust binary the scanner must read -----------
command -v cargo-auditable >/dev/null || cargo install --quiet --locked cargo-auditable

# --- npm, for the scanner's comparison with npm ls ----------------------------
if ! command -v npm >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# --- axe-core, which the console's browser tests inject into every page -----
if [ ! -f .cache/axe/node_modules/axe-core/axe.min.js ]; then
  npm install --prefix .cache/axe --no-audit --no-fund --silent axe-core@4.14.1
fi

# --- a real Debian root for the scanner's tests (debootstrapped once) ------
rootfs=.cache/debian-rootfs/bookworm-minbase.tar
if [ ! -s "$rootfs" ]; then
  echo "debootstrapping a bookworm minbase root (once)"
  root_dir=$(mktemp -d /tmp/berth-debootstrap.XXXXXX)
  as_root debootstrap --variant=minbase bookworm "$root_dir/root" http://deb.debian.org/debian >/dev/null
  mkdir -p .cache/debian-rootfs
  as_root tar --numeric-owner --exclude='./var/cache/apt/archives/*.deb' --exclude='./dev/*' \
    -C "$root_dir/root" -cf - . >"$rootfs.part"
  as_root rm -rf "$root_dir"
  mv "$rootfs.part" "$rootfs"
fi
export TEST_DEBIAN_ROOTFS="$PWD/$rootfs"

# --- the S3-compatible test server (built once into the git-ignored .cache) --
s3s_fs=.cache/tools/bin/s3s-fs
if [ ! -x "$s3s_fs" ]; then
  echo "installing s3s-fs (once)"
  cargo install s3s-fs --version 0.14.1 --features binary --root .cache/tools --quiet
fi

# --- a throwaway PostgreSQL server on loopback -------------------------------
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
# Free loopback ports, so parallel runs on one machine never collide.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pg_port=${TEST_PG_PORT:-$(free_port)}
pg_dir=$(mktemp -d /tmp/berth-test-pg.XXXXXX)
chmod 755 "$pg_dir"
pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg_dir"
pg "$pg_bin/initdb -D $pg_dir/data -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >/dev/null
pg "$pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/pg.log -w -o \"-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >/dev/null
stop_pg() { pg "$pg_bin/pg_ctl -D $pg_dir/data -m fast stop" >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap stop_pg EXIT

# --- a throwaway S3 server on loopback, with a bucket -------------------------
s3_port=${TEST_S3_PORT:-$(free_port)}
s3_dir=$(mktemp -d /tmp/berth-test-s3.XXXXXX)
s3_key="AKIA$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
s3_secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
"$s3s_fs" --host 127.0.0.1 --port "$s3_port" --access-key "$s3_key" --secret-key "$s3_secret" "$s3_dir" \
  >"$s3_dir.log" 2>&1 &
s3_pid=$!
stop_all() { kill "$s3_pid" 2>/dev/null || true; rm -rf "$s3_dir" "$s3_dir.log"; stop_pg; }
trap stop_all EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$s3_port/" && break
  sleep 0.1
done
curl -sf -o /dev/null -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$s3_key:$s3_secret" \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$s3_port/berth-test"

# --- the tests ----------------------------------------------------------------
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The FIPS build (the AWS-LC FIPS module, built with cmake and Go). Features
# unify, so it is its own build: copied out before the normal build below
# puts target/debug/berth back; tests/fips.rs runs it from TEST_FIPS_BIN.
echo "== the FIPS build == (${SECONDS}s in)"
cargo build -p berth --features fips --quiet
mkdir -p target/fips
cp target/debug/berth target/fips/berth
export TEST_FIPS_BIN="$PWD/target/fips/berth"
# The module's SHA-2 state against sha2's (the only unsafe code), FIPS mode
# itself. Both crates together resolve build tools as the binary did, so the
# module is not built again.
cargo test -p berth-oci -p berth-core --lib --features berth-oci/fips,berth-core/fips --quiet
cargo build -p berth --quiet
if cmp -s target/debug/berth target/fips/berth; then
  echo "target/debug/berth is still the FIPS build" >&2
  exit 1
fi
echo "== unit and integration tests (SQLite) == (${SECONDS}s in)"
cargo test --workspace --quiet
# schemathesis on its own: it generates cases for as long as its time cap
# allows, and beside other suites it made a third as many.
echo "== the REST API against its OpenAPI document (schemathesis) == (${SECONDS}s in)"
./scripts/api-check.sh target/debug/berth
# Then the integration tests on PostgreSQL with a local directory and with
# S3, side by side, each printed whole when both have ended. Most of their
# time is spent waiting (outages, load windows, timeouts), and every test
# has a database (and an S3 key prefix) of its own. Their test binaries are
# built first, one build at a time. The console's browser tests run on the
# embedded default only: its pages are thin translations of berth-core,
# whose behaviour on PostgreSQL and S3 the other suites check.
pg_uri="postgresql://postgres@127.0.0.1:$pg_port"
berth_tests=()
for t in crates/berth/tests/*.rs; do
  name=$(basename "$t" .rs)
  case "$name" in console*) ;; *) berth_tests+=(--test "$name") ;; esac
done
store_tests=()
for t in crates/berth-store/tests/*.rs; do store_tests+=(--test "$(basename "$t" .rs)"); done
pg_dir_phase() {
  TEST_DB=postgres TEST_PG_URI="$pg_uri" \
    cargo test -p berth -p berth-store "${berth_tests[@]}" "${store_tests[@]}" --quiet "$@"
}
pg_s3_phase() {
  TEST_DB=postgres TEST_PG_URI="$pg_uri" \
    TEST_STORAGE=s3 TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port" TEST_S3_BUCKET=berth-test \
    TEST_S3_ACCESS_KEY="$s3_key" TEST_S3_SECRET_KEY="$s3_secret" TEST_S3_ROOT="$s3_dir" \
    cargo test -p berth "${berth_tests[@]}" --quiet "$@"
}
pg_dir_phase --no-run
pg_s3_phase --no-run
side_start=$SECONDS
side_logs=$(mktemp -d /tmp/berth-test-logs.XXXXXX)
pg_dir_phase >"$side_logs/dir.log" 2>&1 &
dir_pid=$!
pg_s3_phase >"$side_logs/s3.log" 2>&1 &
s3_tests_pid=$!
dir_status=0
s3_status=0
wait "$dir_pid" || dir_status=$?
wait "$s3_tests_pid" || s3_status=$?
echo "== side by side from ${side_start}s to ${SECONDS}s: =="
echo "== integration tests (PostgreSQL + local directory) =="
cat "$side_logs/dir.log"
echo "== integration tests (PostgreSQL + S3) =="
cat "$side_logs/s3.log"
rm -rf "$side_logs"
if [ "$dir_status" -ne 0 ] || [ "$s3_status" -ne 0 ]; then
  echo "exit status: PostgreSQL + local directory $dir_status, PostgreSQL + S3 $s3_status" >&2
  exit 1
fi
echo "== all tests passed after ${SECONDS}s =="
