#!/usr/bin/env bash
# Install everything the tests need (idempotent), then run every test:
# formatting and lints, unit tests, and the integration suite twice, on the
# embedded SQLite metadata and on a real PostgreSQL server started here.
# The scanner's tests compare it with the ecosystems' own tools on real
# content: dpkg-query, dpkg --compare-versions, rpm -qa and rpm's own
# version order (packages built with rpmbuild; the BerkeleyDB backend via
# db_load), pip/importlib.metadata
# (packages installed from PyPI), npm ls (a real npm install) and
# go version -m (a Debian Go binary and one built here) and gem list
# (Ruby's own and Debian-packaged gems); Java archives are checked against
# Debian's Maven repository (maven's own libraries), and a binary built with
# cargo auditable against its Cargo.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- system packages: real clients and the PostgreSQL server ----------------
apt_packages=(skopeo podman buildah postgresql postgresql-client tar dpkg rpm db5.3-util golang-go ruby ruby-rack maven)
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

# --- a throwaway PostgreSQL server on loopback -------------------------------
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pg_port=${TEST_PG_PORT:-55432}
pg_dir=$(mktemp -d /tmp/berth-test-pg.XXXXXX)
chmod 755 "$pg_dir"
pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg_dir"
pg "$pg_bin/initdb -D $pg_dir/data -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >/dev/null
pg "$pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/pg.log -w -o \"-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >/dev/null
stop_pg() { pg "$pg_bin/pg_ctl -D $pg_dir/data -m fast stop" >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap stop_pg EXIT

# --- the tests ----------------------------------------------------------------
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
echo "== unit and integration tests (SQLite) =="
cargo test --workspace --quiet
echo "== integration tests (PostgreSQL) =="
TEST_DB=postgres TEST_PG_URI="postgresql://postgres@127.0.0.1:$pg_port" \
  cargo test -p berth --test '*' --quiet
