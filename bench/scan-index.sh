#!/usr/bin/env bash
# Time `berth scan index` on a Debian base image (debootstrap minbase, one
# gzip layer, as Debian's own images are) cold and with every layer cached.
# Usage: bench/scan-index.sh [SUITE]   (default bookworm)
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-bookworm}
work=.cache/bench/debian-$suite
command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
if [ ! -f "$work/root/var/lib/dpkg/status" ]; then
  rm -rf "$work/root" && mkdir -p "$work"
  debootstrap --variant=minbase "$suite" "$work/root" http://deb.debian.org/debian >"$work/debootstrap.log"
fi
if [ ! -f "$work/layout/index.json" ]; then
  rm -rf "$work/layout" && mkdir -p "$work/layout/blobs/sha256"
  tar -C "$work/root" --numeric-owner --sort=name -cf "$work/layer.tar" .
  python3 - "$work" <<'PY'
import gzip, hashlib, json, os, shutil, sys
work = sys.argv[1]
blobs = os.path.join(work, "layout", "blobs", "sha256")
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
raw = open(os.path.join(work, "layer.tar"), "rb").read()
layer = put(gzip.compress(raw, 6))
config = put(json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}}).encode())
manifest = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}]}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    **manifest, "annotations": {"org.opencontainers.image.ref.name": "base"}}]},
    open(os.path.join(work, "layout", "index.json"), "w"))
open(os.path.join(work, "layout", "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
  rm -f "$work/layer.tar"
fi
cargo build --release -q -p berth
berth=target/release/berth
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
image="oci:$work/layout:base"
layer_bytes=$(du -b "$work"/layout/blobs/sha256/* | sort -n | tail -1 | cut -f1)
t() {
  python3 -c 'import subprocess, sys, time
s = time.perf_counter(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(f"{time.perf_counter() - s:.3f}")' "$@"
}
echo "image: Debian $suite minbase, one layer of $layer_bytes bytes (gzip)"
echo "packages: $($berth scan index "$image" --no-cache --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["packages"]))')"
for i in 1 2 3; do
  rm -rf "${cache:?}"/*
  echo "cold run $i: $(t $berth scan index "$image" --cache-dir "$cache") s"
done
for i in 1 2 3; do
  echo "cached run $i: $(t $berth scan index "$image" --cache-dir "$cache") s"
done
