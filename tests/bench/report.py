#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turns build/bench/DATE/raw.jsonl into results.json, results.md and
latency.png, and prints the table: every figure with its ratio to the
local limit (tmpfs) and to the FUSE floor (vofirm-fs over mem://)."""
import json
import os
import platform
import statistics
import subprocess
import sys

out, mode = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(os.path.join(out, "raw.jsonl")) if l.strip()]


def median_of(bench, backend, key):
    v = [r[key] for r in recs if r["bench"] == bench and r["backend"] == backend and r.get(key) is not None]
    return statistics.median(v) if v else None


benches = [("readfault-rand", "cold 4 KiB read fault, random (MADV_RANDOM)"),
           ("readfault-seq", "cold read fault, sequential (readahead)"),
           ("writefault-rand", "random write fault, write-back included")]
backends = ["tmpfs", "fuse-mem", "vofirm-tcp"]
rows = []
for b, desc in benches:
    for be in backends:
        row = {"bench": b, "backend": be}
        for k in ("p50_us", "p99_us", "mb_s"):
            row[k] = median_of(b, be, k)
        base, floor = f"{b}|tmpfs", f"{b}|fuse-mem"
        rows.append(row)
for be, label in (("mem", "mem://"), ("tcp", "tcp:// loopback")):
    rows.append({"bench": "rtt-4k", "backend": be,
                 "p50_us": median_of("rtt-4k", be, "p50_us"),
                 "p99_us": median_of("rtt-4k", be, "p99_us"),
                 "mb_s": median_of("rtt-4k", be, "mb_s")})


def ref(bench, backend, key):
    for r in rows:
        if r["bench"] == bench and r["backend"] == backend:
            return r[key]


for r in rows:
    if r["bench"] == "rtt-4k":
        continue
    for k in ("p50_us", "p99_us"):
        t, f = ref(r["bench"], "tmpfs", k), ref(r["bench"], "fuse-mem", k)
        r[k + "_x_tmpfs"] = r[k] / t if t else None
        r[k + "_x_fuse"] = r[k] / f if f else None
    t, f = ref(r["bench"], "tmpfs", "mb_s"), ref(r["bench"], "fuse-mem", "mb_s")
    r["mb_s_x_tmpfs"] = r["mb_s"] / t if t else None
    r["mb_s_x_fuse"] = r["mb_s"] / f if f else None

cpu = ""
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except StopIteration:
    pass
machine = {"kernel": platform.release(), "cpus": os.cpu_count(), "cpu": cpu, "mode": mode,
           "runs": max(r["run"] for r in recs), "samples": recs[0]["samples"]}
json.dump({"machine": machine, "results": rows, "raw": recs},
          open(os.path.join(out, "results.json"), "w"), indent=1)


def f(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


lines = [f"Machine: {cpu}, {machine['cpus']} CPUs, Linux {machine['kernel']}; mode {mode}, "
         f"{machine['runs']} run(s), medians over runs; {machine['samples']} samples each (warm-up excluded).", "",
         "| measurement | backend | p50 µs | p99 µs | MB/s | p50 × tmpfs | p50 × FUSE floor | MB/s × tmpfs |",
         "|---|---|---|---|---|---|---|---|"]
for b, desc in benches:
    for r in rows:
        if r["bench"] == b:
            lines.append(f"| {desc} | {r['backend']} | {f(r['p50_us'], 2)} | {f(r['p99_us'], 2)} | "
                         f"{f(r['mb_s'])} | {f(r.get('p50_us_x_tmpfs'))} | {f(r.get('p50_us_x_fuse'), 2)} | "
                         f"{f(r.get('mb_s_x_tmpfs'), 3)} |")
for r in rows:
    if r["bench"] == "rtt-4k":
        lines.append(f"| transport round trip, 4 KiB READ, one at a time | {r['backend']} | "
                     f"{f(r['p50_us'], 2)} | {f(r['p99_us'], 2)} | {f(r['mb_s'])} | | | |")
vm = [r for r in recs if r["bench"] == "vm-rand"]
if vm:
    names = ["local", "vofirm-100", "vofirm-50", "vofirm-25", "vofirm-50-companion",
             "vofirm-25-companion", "nbd-swap-50", "nbd-swap-25"]
    local = median_of("vm-rand", "local", "ops_s")
    lines += ["", "VM level: a guest (256 MiB base RAM + a 512 MiB vofirm DIMM) runs "
              "`vofirm-mmapio anon 600M rand OPS`: 600 MiB written and verified in order, then "
              "random pages read, checked and rewritten. Budget: how much of the DIMM QEMU's memory cgroup lets stay in the "
              "host's page cache. all-local: the same guest with 768 MiB of ordinary RAM. nbd-swap: "
              "the stock alternative, the guest with 256 MiB + the budget's share as its own RAM, "
              "swapping to nbdkit's memory plugin through QEMU's NBD client.", "",
              "| configuration | local budget | companion | fill+verify s | × all-local | random ops/s | slowdown × all-local | MiB fetched from the server |",
              "|---|---|---|---|---|---|---|---|"]
    for n in names:
        o = median_of("vm-rand", n, "ops_s")
        if o is None:
            continue
        one = next(r for r in vm if r["backend"] == n)
        pct = one["budget_pct"]
        fl, lfl = median_of("vm-rand", n, "fill_s"), median_of("vm-rand", "local", "fill_s")
        lines.append(f"| {n} | {'all local' if pct == 0 else str(pct) + ' %'} | "
                     f"{'yes' if one['companion'] else 'no'} | {f(fl, 1)} | "
                     f"{f(fl / lfl if lfl else None, 2)} | {o:.0f} | "
                     f"{f(local / o if o else None, 1)} | "
                     f"{'(swap)' if n.startswith('nbd') else f(median_of('vm-rand', n, 'fetched_mib'), 0)} |")
        rows.append({"bench": "vm-rand", "backend": n, "ops_s": o, "budget_pct": pct,
                     "companion": one["companion"], "slowdown": local / o if o else None,
                     "fetched_mib": median_of("vm-rand", n, "fetched_mib")})
    json.dump({"machine": machine, "results": rows, "raw": recs},
              open(os.path.join(out, "results.json"), "w"), indent=1)
rd = [r for r in recs if r["bench"] == "redis"]
if rd:
    lines += ["", "Redis case study: redis-server in the guest on a unix socket, 250 000 keys of "
              "1 KiB (more than the guest's base RAM), then random GET:SET mixes (32 in flight, "
              "every value checked), the VM's extra memory on vofirm with the companion, at "
              "several local budgets (and once without it); all-local: 768 MiB of ordinary RAM.", "",
              "| configuration | local budget | companion | GET % | ops/s | × all-local |",
              "|---|---|---|---|---|---|"]
    for n in ("redis-local", "redis-100", "redis-50", "redis-25", "redis-25-nocompanion"):
        for mix in (90, 50):
            v = [r["ops_s"] for r in rd if r["backend"] == n and r["get_pct"] == mix]
            l = [r["ops_s"] for r in rd if r["backend"] == "redis-local" and r["get_pct"] == mix]
            if not v:
                continue
            o, lo = statistics.median(v), statistics.median(l) if l else None
            one = next(r for r in rd if r["backend"] == n)
            pct = one["budget_pct"]
            comp = "-" if pct == 0 else ("yes" if one.get("companion", 1) else "no")
            lines.append(f"| {n} | {'all local' if pct == 0 else str(pct) + ' %'} | {comp} | {mix} | "
                         f"{o:.0f} | {f(o / lo if lo else None, 2)} |")
            rows.append({"bench": "redis", "backend": n, "budget_pct": pct, "get_pct": mix,
                         "ops_s": o, "x_local": o / lo if lo else None})
    json.dump({"machine": machine, "results": rows, "raw": recs},
              open(os.path.join(out, "results.json"), "w"), indent=1)
md = "\n".join(lines) + "\n"
open(os.path.join(out, "results.md"), "w").write(md)
print(md)

# the plot: p50 and p99 per measurement and backend, log scale
dat = os.path.join(out, "latency.dat")
with open(dat, "w") as d:
    for r in rows:
        if "p50_us" in r:
            d.write(f"\"{r['bench']}\\n{r['backend']}\" {r['p50_us'] or 0} {r['p99_us'] or 0}\n")
gp = f"""set terminal pngcairo size 1100,520 noenhanced
set output '{out}/latency.png'
set title 'vofirm page path: latency per fault (lower is better), baselines in the same run'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel 'microseconds'
set xtics rotate by -30 font ',8'
plot '{dat}' using 2:xtic(1) title 'p50', '' using 3 title 'p99'
"""
try:
    subprocess.run(["gnuplot"], input=gp.encode(), check=True, stderr=subprocess.DEVNULL)
    print(f"plot: {out}/latency.png")
except (FileNotFoundError, subprocess.CalledProcessError):
    print("no plot (gnuplot missing or failed)")
print(f"results: {out}/results.json, {out}/results.md")
