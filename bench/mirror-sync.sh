#!/usr/bin/env bash
# Repository mirror sync throughput: an upstream Distribution registry
# (Debian's docker-registry, htpasswd authentication, loopback) holds N tags
# (default 100), each a distinct image of one config and one layer of
# LAYER_KIB KiB (default 256). Berth mirrors all of them (glob `*`) with
# `sync-now`; the time from the request to status SUCCESS is measured, then
# a second sync with nothing changed. Side by side, `skopeo sync` copies
# the same repository into a second, empty Distribution (what Quay's mirror
# worker runs per tag). Reports tags per second and MiB per second.
# Usage: bench/mirror-sync.sh [TAGS] [LAYER_KIB] [debug|release]   (default 100 256 release)
# Writes bench/results/mirror-sync.json.
set -euo pipefail
cd "$(dirname "$0")/.."
tags=${1:-100}
layer_kib=${2:-256}
profile=${3:-release}

if [ "$profile" = release ]; then
  cargo build --release --quiet -p berth
else
  cargo build --quiet -p berth
fi
target="${CARGO_TARGET_DIR:-target}"
bin="$target/$profile/berth"
work=$(mktemp -d /tmp/berth-mirror-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_distribution() { # name port [htpasswd]
  local auth=""
  [ -n "${3:-}" ] && auth=$'auth:\n  htpasswd:\n    realm: bench\n    path: '"$3"
  cat >"$work/$1.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/$1-data
http:
  addr: 127.0.0.1:$2
$auth
EOF
  docker-registry serve "$work/$1.yml" >/dev/null 2>"$work/$1.log" &
  pids+=($!)
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$2/v2/" && break; sleep 0.1; done
}

up_password="bench-upstream-$RANDOM$RANDOM"
htpasswd -Bbn mirror "$up_password" | head -1 >"$work/htpasswd"
up_port=$(free_port)
start_distribution upstream "$up_port" "$work/htpasswd"
copy_port=$(free_port)
start_distribution copy "$copy_port"

cat >"$work/config.yaml" <<EOF
LISTEN_ADDRESS: 127.0.0.1:0
DATA_DIR: $work/data
FEATURE_SECURITY_SCANNER: false
DATABASE_SECRET_KEY: mirror-benchmark-key-0123456789
SSRF_ALLOWED_HOSTS: [127.0.0.1]
EOF
"$bin" serve --config "$work/config.yaml" >"$work/out.log" 2>"$work/err.log" &
pids+=($!)
for _ in $(seq 1 600); do grep -q '^listening on' "$work/out.log" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^listening on http:\/\///p' "$work/out.log")
password=$(sed -n 's/^created superuser "admin" with password //p' "$work/out.log")
[ -n "$addr" ] && [ -n "$password" ] || { cat "$work/err.log"; exit 1; }

python3 - "$addr" "$password" "$tags" "$layer_kib" "$profile" "127.0.0.1:$up_port" "$up_password" "127.0.0.1:$copy_port" "$work" <<'EOF'
import base64, hashlib, http.client, json, os, subprocess, sys, time

addr, password, tags, layer_kib, profile, upstream, up_password, copy, work = sys.argv[1:]
tags, layer_kib = int(tags), int(layer_kib)

def client(host, user, pw):
    conn = http.client.HTTPConnection(host)
    auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
    def call(method, path, body=b"", headers=None):
        h = {"Authorization": auth, "Content-Length": str(len(body))}
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        if r.status >= 300:
            sys.exit(f"{method} {path}: {r.status} {data[:300]!r}")
        return r, data
    return call

up = client(upstream, "mirror", up_password)
def up_blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r, _ = up("POST", "/v2/ns/app/blobs/uploads/")
    loc = r.getheader("Location")
    path = loc.split("127.0.0.1", 1)[-1].split("/", 1)[-1] if loc.startswith("http") else loc.lstrip("/")
    sep = "&" if "?" in path else "?"
    up("PUT", f"/{path}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})
    return digest

total_bytes = 0
for i in range(tags):
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": i}).encode()
    layer = os.urandom(layer_kib * 1024)
    total_bytes += len(config) + len(layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": up_blob(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": up_blob(layer), "size": len(layer)}],
    }).encode()
    up("PUT", f"/v2/ns/app/manifests/t{i}", manifest, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})

berth = client(addr, "admin", password)
def api(method, path, obj=None):
    body = json.dumps(obj).encode() if obj is not None else b""
    return json.loads(berth(method, "/api/v1" + path, body, {"Content-Type": "application/json"})[1] or b"null")

api("POST", "/organization/", {"name": "bench"})
api("POST", "/repository", {"namespace": "bench", "repository": "app", "visibility": "private", "description": ""})
api("PUT", "/organization/bench/robots/mirror")
api("POST", "/repository/bench/app/mirror", {
    "external_reference": f"{upstream}/ns/app",
    "external_registry_username": "mirror", "external_registry_password": up_password,
    "sync_interval": 86400, "sync_start_date": "2099-01-01T00:00:00Z",
    "robot_username": "bench+mirror",
    "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": ["*"]},
    "external_registry_config": {"verify_tls": False}, "skopeo_timeout_interval": 300,
})

def sync():
    start = time.monotonic()
    api("POST", "/repository/bench/app/mirror/sync-now")
    while True:
        view = api("GET", "/repository/bench/app/mirror")
        if view["sync_status"] in ("SUCCESS", "FAIL"):
            break
        time.sleep(0.02)
    took = time.monotonic() - start
    if view["sync_status"] != "SUCCESS":
        sys.exit(f"sync failed: {view.get('last_error')}")
    return took

cold = sync()
warm = sync()
listed = json.loads(berth("GET", "/v2/bench/app/tags/list?n=10000")[1])["tags"]
assert len(listed) == tags, f"{len(listed)} tags mirrored, not {tags}"

start = time.monotonic()
subprocess.run(["skopeo", "sync", "--all", "--src", "docker", "--dest", "docker",
                "--src-tls-verify=false", "--dest-tls-verify=false",
                "--src-creds", f"mirror:{up_password}",
                f"{upstream}/ns/app", f"{copy}/mirror"],
               check=True, capture_output=True, env={**os.environ, "HOME": work})
skopeo_took = time.monotonic() - start

mib = total_bytes / 1048576
result = {
    "benchmark": "repository mirror sync (Distribution upstream, loopback)",
    "profile": profile, "tags": tags, "layer_kib": layer_kib, "mib": round(mib, 2),
    "berth_first_sync_s": round(cold, 3),
    "berth_first_sync_tags_per_s": round(tags / cold, 1),
    "berth_first_sync_mib_per_s": round(mib / cold, 1),
    "berth_unchanged_sync_s": round(warm, 3),
    "skopeo_sync_s": round(skopeo_took, 3),
    "skopeo_sync_tags_per_s": round(tags / skopeo_took, 1),
    "berth_vs_skopeo": round(cold / skopeo_took, 2),
    "note": "time from sync-now to SUCCESS as seen by polling the API every 20 ms; "
            "skopeo sync copies the same tags into an empty Distribution, as Quay's worker does per tag",
}
print(json.dumps(result, indent=2))
os.makedirs("bench/results", exist_ok=True)
json.dump(result, open("bench/results/mirror-sync.json", "w"), indent=2)
print("wrote bench/results/mirror-sync.json")
EOF
