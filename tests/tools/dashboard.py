#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Checks a Grafana dashboard against a live mount's Prometheus metrics.

  dashboard.py DASHBOARD.json METRICS_FILE

Every vofirm_* metric named in a panel's query must be a sample in
METRICS_FILE (a summary's _count and _sum included), and every label a
legend shows ({{label}}) must be on the samples of the query's metrics.
Prints each metric it checked; exits 1 naming what is missing.
"""
import json
import re
import sys

dash = json.load(open(sys.argv[1]))
samples = {}  # name -> set of label names
for line in open(sys.argv[2]):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
    if not m:
        sys.exit("dashboard.py: a line of %s is not a sample: %r" % (sys.argv[2], line))
    labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", m.group(3) or ""))
    samples.setdefault(m.group(1), set()).update(labels)

def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))

bad, used = [], set()
n_targets = 0
for p in panels(dash["panels"]):
    for t in p.get("targets", []):
        expr = t.get("expr", "")
        n_targets += 1
        names = set(re.findall(r"\bvofirm_[a-z0-9_]+", expr))
        if not names:
            bad.append("panel '%s': query %r uses no vofirm metric" % (p["title"], expr))
        used |= names
        for n in names - samples.keys():
            bad.append("panel '%s': %s is not in the mount's metrics" % (p["title"], n))
        have = set().union(*(samples.get(n, set()) for n in names)) if names else set()
        for label in re.findall(r"\{\{\s*([a-zA-Z_]+)\s*\}\}", t.get("legendFormat", "")):
            if label not in have:
                bad.append("panel '%s': legend label %s is on none of %s" % (p["title"], label, sorted(names)))
for v in dash.get("templating", {}).get("list", []):
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    for n in set(re.findall(r"\bvofirm_[a-z0-9_]+", q)) - samples.keys():
        bad.append("variable %s: %s is not in the mount's metrics" % (v["name"], n))
print("dashboard.py: %d queries use %d metrics: %s" % (n_targets, len(used), " ".join(sorted(used))))
if bad:
    sys.exit("\n".join(bad))
