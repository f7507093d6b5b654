#!/usr/bin/env python3
"""Print bench/results/latest.json (or the file named) as Markdown tables, one
per configuration (Berth's storage, database and scanner; Distribution's
storage), for the README.

The last column is the ratio in Berth's favour: Berth's figure over
Distribution's where higher is better, the inverse where lower is better,
so above 1.0 always means Berth leads."""

import json
import sys
from collections import OrderedDict

path = sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json"
with open(path) as f:
    rows = json.load(f)

groups = OrderedDict()
for r in rows:
    key = (
        r.get("storage", "dir"),
        r.get("s3_server"),
        r.get("distribution_storage", "dir"),
        r.get("db", "sqlite"),
        "on" if r.get("scanner", False) else "off",
        r.get("quick", False),
    )
    groups.setdefault(key, []).append(r)


def figure(v, unit):
    if abs(v) >= 100 and unit != "ms":
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3g}"


for (storage, server, distribution, db, scanner, quick), rs in groups.items():
    size = "quick" if quick else "full"
    on = f"`{storage}` ({server})" if server else f"`{storage}`"
    print(
        f"Berth on {on} + `{db}`, scanner {scanner}; Distribution on `{distribution}` ({size} run):\n"
    )
    print("| workload | metric | unit | Berth | Distribution | Berth's lead | of limit (Berth) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rs:
        b, d = r["berth"], r["distribution"]
        if d is None:
            # Berth alone: e.g. what clients did during its online pass.
            lead = ""
        elif r["better"] == "higher":
            lead = f"{b / d:.2f}×" if d else "∞"
        else:
            lead = f"{d / b:.2f}×" if b else "∞"
        limit = r.get("berth_fraction_of_limit")
        limit = f"{limit:.2f}" if limit is not None else ""
        print(
            f"| {r['workload']} | {r['metric']} | {r['unit']} | {figure(b, r['unit'])} "
            f"| {figure(d, r['unit']) if d is not None else '—'} | {lead} | {limit} |"
        )
    print()
