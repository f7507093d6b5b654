#!/usr/bin/env bash
# Notification delivery: N manifest pushes by tag (default 1,000) to a
# repository with one webhook notification, received by a loopback HTTP
# receiver. Reports whether every push was delivered exactly once (by
# `X-Berth-Delivery` and by tag), and the time from each push's
# acknowledgement (the client got its 201) to the delivery's arrival at the
# receiver: p50, p99, max. Pushes are sequential from one client, so the
# time measures the queue, the worker and the webhook, not push contention.
# Usage: bench/notifications.sh [PUSHES] [debug|release]   (default 1000 release)
# Writes bench/results/notifications.json.
set -euo pipefail
cd "$(dirname "$0")/.."
pushes=${1:-1000}
profile=${2:-release}

if [ "$profile" = release ]; then
  cargo build --release --quiet -p berth
else
  cargo build --quiet -p berth
fi
target="${CARGO_TARGET_DIR:-target}"
bin="$target/$profile/berth"
work=$(mktemp -d /tmp/berth-notify-bench.XXXXXX)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat >"$work/config.yaml" <<EOF
LISTEN_ADDRESS: 127.0.0.1:0
DATA_DIR: $work/data
FEATURE_SECURITY_SCANNER: false
DATABASE_SECRET_KEY: notification-benchmark-key-0123456789
SSRF_ALLOWED_HOSTS: [127.0.0.1]
EOF
"$bin" serve --config "$work/config.yaml" >"$work/out.log" 2>"$work/err.log" &
server=$!
for _ in $(seq 1 600); do grep -q '^listening on' "$work/out.log" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^listening on http:\/\///p' "$work/out.log")
password=$(sed -n 's/^created superuser "admin" with password //p' "$work/out.log")
[ -n "$addr" ] && [ -n "$password" ] || { cat "$work/err.log"; exit 1; }

python3 - "$addr" "$password" "$pushes" "$profile" <<'EOF'
import base64, hashlib, http.client, http.server, json, os, statistics, sys, threading, time

addr, password, pushes, profile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
arrivals = []  # (time, delivery id, tag)
lock = threading.Lock()

class Hook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        now = time.monotonic()
        tag = json.loads(body)["updated_tags"][0]
        with lock:
            arrivals.append((now, self.headers["X-Berth-Delivery"], tag))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

conn = http.client.HTTPConnection(addr)
def call(method, path, body=b"", headers=None):
    h = {"Authorization": auth, "Content-Length": str(len(body))}
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"{method} {path}: {r.status} {data[:300]!r}")
    return r, data

def api(method, path, obj):
    return json.loads(call(method, "/api/v1" + path, json.dumps(obj).encode(),
                           {"Content-Type": "application/json"})[1] or b"null")

def blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    call("POST", f"/v2/bench/app/blobs/uploads/?digest={digest}", data,
         {"Content-Type": "application/octet-stream"})
    return digest

api("POST", "/organization/", {"name": "bench"})
config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
layer = os.urandom(1024)
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blob(layer), "size": len(layer)}],
}).encode()
put = lambda tag: call("PUT", f"/v2/bench/app/manifests/{tag}", manifest,
                       {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
put("seed")
api("POST", "/repository/bench/app/notification/",
    {"event": "repo_push", "method": "webhook", "config": {"url": hook_url}, "eventConfig": {}})

acks = {}
start = time.monotonic()
for i in range(pushes):
    tag = f"t{i}"
    put(tag)
    acks[tag] = time.monotonic()
pushed_in = time.monotonic() - start
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    with lock:
        if len(arrivals) >= pushes:
            break
    time.sleep(0.05)
time.sleep(2)  # anything beyond N would be a duplicate; give it a chance to show
with lock:
    got = list(arrivals)
ids = [d for _, d, _ in got]
tags = [t for _, _, t in got]
latencies = sorted((t - acks[tag]) * 1000 for t, _, tag in got if tag in acks)
def pct(p):
    return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))] if latencies else None
result = {
    "benchmark": "notification delivery (webhook, loopback receiver)",
    "profile": profile, "pushes": pushes, "deliveries": len(got),
    "distinct_delivery_ids": len(set(ids)), "distinct_tags_delivered": len(set(tags)),
    "duplicates": len(got) - len(set(ids)), "missing": pushes - len(set(tags) & set(acks)),
    "pushes_per_second": pushes / pushed_in,
    "ack_to_delivery_ms": {"p50": pct(50), "p99": pct(99), "max": latencies[-1] if latencies else None,
                           "min": latencies[0] if latencies else None},
    "note": "time from the client receiving the push's 201 to the receiver getting the webhook; "
            "negative when the delivery arrived before the client read its acknowledgement",
}
print(json.dumps(result, indent=2))
os.makedirs("bench/results", exist_ok=True)
json.dump(result, open("bench/results/notifications.json", "w"), indent=2)
print("wrote bench/results/notifications.json")
ok = result["deliveries"] == pushes and result["duplicates"] == 0 and result["missing"] == 0
sys.exit(0 if ok else 1)
EOF
