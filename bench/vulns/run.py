#!/usr/bin/env python3
"""The vulnerability benchmark's measurements (bench/vulns.sh builds and
starts what they need). Usage:
  run.py BERTH DRIVER WORK OUT_JSON [PG_URI]
Each database (SQLite, and PostgreSQL when PG_URI is given):
  a) a full `berth vulndb update` of every feed from a loopback server:
     wall time and peak RSS (/usr/bin/time -v);
  b) matching one 500-package image (vulnbench match);
  c) 10,000 stored images (vulnbench seed), one record changed, then
     `berth vulndb update` timed until its re-match is done;
On SQLite only (the embedded default):
  d) push-to-report latency of a Debian base image whose layer is cached.
"""

import base64
import functools
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time

berth, driver, work, out_json = sys.argv[1:5]
pg_uri = sys.argv[5] if len(sys.argv) > 5 else None
gen = os.path.join(work, "gen")
here = os.path.dirname(os.path.abspath(__file__))
vulndata = os.path.join(here, "..", "..", "crates", "berth", "tests", "data", "vulndata")
IMAGES = int(os.environ.get("VULNBENCH_IMAGES", "10000"))
# Only a) and b), merged into an existing OUT_JSON (a re-run after a fix
# that cannot change c) or d)).
ONLY_UPDATE_AND_MATCH = os.environ.get("VULNBENCH_ONLY") == "update-match"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


log("generating feeds and images")
summary = json.loads(subprocess.run([sys.executable, os.path.join(here, "generate.py"), gen, vulndata],
                                    check=True, capture_output=True).stdout)

# --- the feed server: the generated directory at the real paths ------------
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


feed_server = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Quiet, directory=os.path.join(gen, "feeds")))
threading.Thread(target=feed_server.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{feed_server.server_address[1]}"

FEEDS = f"""SECURITY_SCANNER_UPDATERS:
  debian: {{url: {base}/debian/tracker/data/json}}
  ubuntu: {{url: {base}/osv/}}
  alpine: {{url: {base}/alpine-secdb/}}
  rhel-vex: {{url: {base}/redhat/csaf/v2/vex/}}
  osv: {{url: {base}/osv/}}
  nvd: {{url: {base}/nvd/, years: [2016]}}
  epss: {{url: {base}/epss/epss_scores-2024-10-25.csv.gz}}
SECURITY_SCANNER_DISABLE_UPDATERS: true
"""


def timed(cmd):
    """Run `cmd` under /usr/bin/time -v: (wall seconds, peak RSS MiB, stdout)."""
    start = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True,
                       env={**os.environ, "RUST_LOG": "warn"})
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return wall, rss_kb / 1024, p.stdout


class Instance:
    """A data directory and configuration, on SQLite or PostgreSQL."""

    def __init__(self, name, db_uri=None):
        self.name = name
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "config.yaml")
        with open(self.config, "w") as f:
            f.write(f"DATA_DIR: {self.dir}/data\n{FEEDS}")
        self.db_uri = db_uri
        self.driver_db = db_uri or f"sqlite://{self.dir}/data"

    def args(self):
        a = ["--config", self.config, "--data-dir", f"{self.dir}/data"]
        return a + (["--db-uri", self.db_uri] if self.db_uri else [])

    def vulndb(self, *cmd):
        return timed([berth, "vulndb", *cmd, *self.args()])


def record_counts(inst):
    out = subprocess.run([berth, "vulndb", "status", *inst.args()], check=True, capture_output=True,
                         text=True, env={**os.environ, "RUST_LOG": "error"}).stdout
    counts = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        counts[parts[0]] = int(parts[1])
    return counts


def inventory(name):
    path = os.path.join(work, f"{name}.json")
    with open(path, "w") as f:
        subprocess.run([berth, "scan", "index", f"oci:{gen}/images/{name}:latest", "--format", "json",
                        "--no-cache"], check=True, stdout=f)
    return path


base_inv, big_inv = inventory("base"), inventory("big")


def change_one_record():
    """Add the generated change (one new CVE of a base package) to the
    Debian tracker JSON; its modification time moves on."""
    change = json.load(open(os.path.join(gen, "change.json")))
    path = os.path.join(gen, "feeds", "debian", "tracker", "data", "json")
    doc = json.load(open(path))
    doc[change["package"]][change["id"]] = change["entry"]
    time.sleep(1.1)  # Last-Modified has one-second resolution
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    return change


def undo_change(change):
    path = os.path.join(gen, "feeds", "debian", "tracker", "data", "json")
    doc = json.load(open(path))
    del doc[change["package"]][change["id"]]
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))


def bench_db(inst):
    r = {}
    if ONLY_UPDATE_AND_MATCH:
        return update_and_match(inst, r)
    update_and_match(inst, r)
    return rematch(inst, r)


def update_and_match(inst, r):
    log(f"[{inst.name}] a) full update of every feed")
    wall, rss, stdout = inst.vulndb("update")
    r["full_update"] = {"wall_s": round(wall, 3), "peak_rss_mib": round(rss, 1),
                        "output": stdout.strip().splitlines(), "records": record_counts(inst)}
    log(f"[{inst.name}]    {wall:.2f} s, {rss:.1f} MiB")
    log(f"[{inst.name}] b) matching one 500-package image")
    r["match_one_image"] = json.loads(subprocess.run(
        [driver, "match", "--db", inst.driver_db, "--inventory", big_inv, "--rounds", "50"],
        check=True, capture_output=True, text=True).stdout)
    log(f"[{inst.name}]    {r['match_one_image']['match_ms']}")
    return r


def rematch(inst, r):
    log(f"[{inst.name}] c) storing {IMAGES} images")
    r["rematch"] = {"seed": json.loads(subprocess.run(
        [driver, "seed", "--db", inst.driver_db, "--base", base_inv, "--extra", big_inv,
         "--images", str(IMAGES)], check=True, capture_output=True, text=True).stdout)}
    log(f"[{inst.name}]    seeded in {r['rematch']['seed']['seconds']:.1f} s; changing one record")
    change = change_one_record()
    wall, rss, stdout = inst.vulndb("update")
    m = re.search(r"debian: updated \((\d+) packages changed, (\d+) images matched again\)", stdout)
    r["rematch"].update({"changed_record": f"{change['package']} {change['id']} (bookworm, open, high)",
                         "update_and_rematch_wall_s": round(wall, 3), "peak_rss_mib": round(rss, 1),
                         "changed_keys": int(m.group(1)) if m else None,
                         "images_matched_again": int(m.group(2)) if m else None,
                         "output": stdout.strip().splitlines()})
    log(f"[{inst.name}]    {wall:.2f} s, {rss:.1f} MiB: {stdout.strip()}")
    log(f"[{inst.name}]    the record leaves the feed again")
    time.sleep(1.1)  # Last-Modified has one-second resolution
    undo_change(change)
    wall, rss, stdout = inst.vulndb("update")
    m = re.search(r"debian: updated \((\d+) packages changed, (\d+) images matched again\)", stdout)
    r["rematch"]["record_removed"] = {"update_and_rematch_wall_s": round(wall, 3), "peak_rss_mib": round(rss, 1),
                                      "images_matched_again": int(m.group(2)) if m else None}
    log(f"[{inst.name}]    {wall:.2f} s, {rss:.1f} MiB: {stdout.strip()}")
    return r


# --- d) push-to-report latency ----------------------------------------------
def push_latency(inst, rounds=10):
    log(f"[{inst.name}] d) push-to-report latency")
    serve_out = open(os.path.join(inst.dir, "serve.out"), "w+")
    serve_err = open(os.path.join(inst.dir, "serve.err"), "w")
    with open(inst.config, "a") as f:
        f.write("LISTEN_ADDRESS: 127.0.0.1:0\nFEATURE_SECURITY_SCANNER: true\n")
    server = subprocess.Popen([berth, "serve", *inst.args()], stdout=serve_out, stderr=serve_err,
                              env={**os.environ, "RUST_LOG": "warn"})
    try:
        addr = password = None
        for _ in range(600):
            text = open(serve_out.name).read()
            a = re.search(r"^listening on http://(\S+)", text, re.M)
            p = re.search(r'^created superuser "admin" with password (\S+)', text, re.M)
            if a and p:
                addr, password = a.group(1), p.group(1)
                break
            time.sleep(0.1)
        if not addr:
            sys.exit("berth serve did not start: " + open(serve_err.name).read()[-2000:])
        auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        conn = http.client.HTTPConnection(addr)

        def request(method, path, body=None, headers=None):
            conn.request(method, path, body=body, headers={"Authorization": auth, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read()

        status, body = request("POST", "/api/v1/organization/", json.dumps({"name": "bench"}),
                               {"Content-Type": "application/json"})
        assert status < 300, body
        index = json.load(open(os.path.join(gen, "images", "base", "index.json")))["manifests"]

        def push(tag):
            subprocess.run(["skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
                            "--dest-creds", f"admin:{password}", f"oci:{gen}/images/base:{tag}",
                            f"docker://{addr}/bench/debian:{tag}"], check=True)

        def security(digest):
            status, body = request("GET", f"/api/v1/repository/bench/debian/manifest/{digest}/security"
                                          "?vulnerabilities=true")
            return json.loads(body) if status == 200 else {"status": f"http {status}"}

        def wait_scanned(digest):
            while True:
                report = security(digest)
                if report.get("status") == "scanned":
                    return report
                if report.get("status") not in ("queued", "http 404"):
                    sys.exit(f"unexpected report {report}")
                time.sleep(0.002)

        # The first push indexes the base layer; later pushes share it.
        push("latest")
        first = wait_scanned(index[0]["digest"])
        features = first["data"]["Layer"]["Features"]
        latencies, ack_latencies = [], []
        for k in range(1, min(rounds, len(index) - 1) + 1):
            digest = index[k]["digest"]
            done = threading.Event()
            seen = {}

            def watch():
                # The manifest's arrival (the PUT committed), then its report.
                c = http.client.HTTPConnection(addr)
                while not done.is_set():
                    c.request("HEAD", f"/v2/bench/debian/manifests/{digest}", headers={"Authorization": auth})
                    r = c.getresponse()
                    r.read()
                    if r.status == 200:
                        seen["put"] = time.perf_counter()
                        break
                    time.sleep(0.001)
                while not done.is_set():
                    c.request("GET", f"/api/v1/repository/bench/debian/manifest/{digest}/security",
                              headers={"Authorization": auth})
                    r = c.getresponse()
                    body = r.read()
                    if r.status == 200 and json.loads(body).get("status") == "scanned":
                        seen["ready"] = time.perf_counter()
                        break
                    time.sleep(0.001)

            t = threading.Thread(target=watch)
            t.start()
            push(f"v{k}")
            acked = time.perf_counter()
            t.join(timeout=30)
            done.set()
            if "ready" not in seen:
                sys.exit(f"v{k}: report not ready within 30 s of the push")
            latencies.append((seen["ready"] - seen["put"]) * 1000)
            ack_latencies.append((seen["ready"] - acked) * 1000)
        latencies.sort()
        return {
            "image": f"Debian 12 base: one gzip layer, {len(features)} dpkg packages",
            "findings": sum(len(f.get("Vulnerabilities", [])) for f in features),
            "pushes": len(latencies),
            "put_to_report_ms": {"median": latencies[len(latencies) // 2], "min": latencies[0],
                                 "max": latencies[-1]},
            "skopeo_exit_to_report_ms": {"median": sorted(ack_latencies)[len(ack_latencies) // 2],
                                         "max": max(ack_latencies)},
            "note": "put: the first HEAD of the manifest answering 200 (polled every ms); report: the "
                    "security API's status turning scanned; skopeo_exit is after the PUT's response, so "
                    "that figure is negative when the report was ready first",
        }
    finally:
        server.terminate()
        server.wait()


if ONLY_UPDATE_AND_MATCH:
    result = json.load(open(out_json))
    result["machine"]["rerun_of_a_and_b_load_average_at_start"] = os.getloadavg()
    for name, uri in (("sqlite", None), ("postgres", pg_uri)):
        if name == "postgres" and not uri:
            continue
        old = result.setdefault(name, {})
        for k in ("full_update", "match_one_image"):
            if k in old:
                old[f"{k}_previous_run"] = old.pop(k)
        old.update(bench_db(Instance(name, uri)))
else:
    result = {"benchmark": "vulnerability feeds and matching", "generated": summary,
              "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}}
    sqlite = Instance("sqlite")
    result["sqlite"] = bench_db(sqlite)
    result["sqlite"]["push_to_report"] = push_latency(sqlite)
    if pg_uri:
        result["postgres"] = bench_db(Instance("postgres", pg_uri))
feed_server.shutdown()
result["machine"]["rerun_of_a_and_b_load_average_at_end" if ONLY_UPDATE_AND_MATCH
                  else "load_average_at_end"] = os.getloadavg()
os.makedirs(os.path.dirname(out_json), exist_ok=True)
with open(out_json, "w") as f:
    json.dump(result, f, indent=1)
print(json.dumps(result, indent=1))
