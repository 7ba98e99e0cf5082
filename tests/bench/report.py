#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turns build/bench/DATE/raw.jsonl into results.json, results.md and
latency.png, and prints the table: every figure with its ratio to the
local limit (tmpfs), to the FUSE floor (vofirm-fs over mem://) and to the
anchors of issue 11 (a bare FUSE server, a bare TCP ping-pong); the CPU
time per fault on both sides; issue 11's goals; the --threads sweep."""
import json
import os
import platform
import statistics
import subprocess
import sys

out, mode = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(os.path.join(out, "raw.jsonl")) if l.strip()]


def median_of(bench, backend, key):
    # the paired rounds (replication) are reported on their own
    v = [r[key] for r in recs if r["bench"] == bench and r["backend"] == backend
         and r.get(key) is not None and "pair" not in r]
    return statistics.median(v) if v else None


def ratio(a, b):
    return a / b if a is not None and b else None


benches = [("readfault-rand", "cold 4 KiB read fault, random (MADV_RANDOM)"),
           ("readfault-seq", "cold read fault, sequential (readahead)"),
           ("writefault-rand", "random write fault, write-back included"),
           ("writeback-rand", "write-back alone: resident random pages dirtied, msync (MB/s: the msync)")]
# bare-fuse: the bare FUSE anchor (vofirm-barefuse); bare-tcp: the bare TCP one
backends = ["tmpfs", "bare-fuse", "fuse-mem", "vofirm-tcp", "vofirm-tcp-r1", "vofirm-tcp-r2"]
remote = ("vofirm-tcp", "vofirm-tcp-r1", "vofirm-tcp-r2")
# where every timed access is a round trip to the server (the p50 of the
# others is a page-cache hit or a store)
round_trip_benches = ("readfault-rand", "writefault-rand")
# CPU time per operation: the FUSE server (vofirm-fs's two processes, or
# vofirm-barefuse), the memds, the benchmark itself, the bare TCP server
cpu_keys = ("cpu_fs_us", "cpu_memd_us", "cpu_self_us", "cpu_server_us", "cpu_machine_us", "idle_pct",
            "mean_us", "fs_read_handler_us", "fs_server_read_us")
rows = []
for b, desc in benches:
    for be in backends:
        row = {"bench": b, "backend": be}
        for k in ("p50_us", "p99_us", "mb_s") + cpu_keys:
            row[k] = median_of(b, be, k)
        if row["p50_us"] is None:
            continue  # not measured (tmpfs has no write-back), or failed
        rows.append(row)
for b, be in (("rtt-4k", "mem"), ("rtt-4k", "tcp"), ("tcpping-4k", "bare-tcp"),
              ("rtt-1m", "tcp"), ("tcpping-1m", "bare-tcp")):
    if median_of(b, be, "p50_us") is None:
        continue
    rows.append({"bench": b, "backend": be,
                 **{k: median_of(b, be, k) for k in ("p50_us", "p99_us", "mb_s") + cpu_keys}})


def ref(bench, backend, key):
    for r in rows:
        if r["bench"] == bench and r["backend"] == backend:
            return r.get(key)


def is_rt(r):  # a transport round trip or the bare TCP ping-pong
    return r["bench"].startswith(("rtt-", "tcpping-"))


bare_tcp_p50 = ref("tcpping-4k", "bare-tcp", "p50_us")
for r in rows:
    if is_rt(r):
        continue
    for k in ("p50_us", "p99_us"):
        t, f = ref(r["bench"], "tmpfs", k), ref(r["bench"], "fuse-mem", k)
        r[k + "_x_tmpfs"] = r[k] / t if t and r[k] is not None else None
        r[k + "_x_fuse"] = r[k] / f if f and r[k] is not None else None
    t, f = ref(r["bench"], "tmpfs", "mb_s"), ref(r["bench"], "fuse-mem", "mb_s")
    r["mb_s_x_tmpfs"] = r["mb_s"] / t if t and r["mb_s"] is not None else None
    r["mb_s_x_fuse"] = r["mb_s"] / f if f and r["mb_s"] is not None else None
    bare = ref(r["bench"], "bare-fuse", "p50_us")
    r["p50_us_x_bare_fuse"] = ratio(r["p50_us"], bare)
    r["p50_us_x_bare_fuse_tcp"] = (
        ratio(r["p50_us"], bare + bare_tcp_p50)
        if r["backend"] in remote and r["bench"] in round_trip_benches and bare and bare_tcp_p50
        else None)

cpu = ""
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except StopIteration:
    pass


def load(which):
    try:
        return " ".join(open(os.path.join(out, "load-" + which)).read().split()[:3])
    except OSError:
        return None


machine = {"kernel": platform.release(), "cpus": os.cpu_count(), "cpu": cpu, "mode": mode,
           "runs": max(r["run"] for r in recs),
           "samples": next((r["samples"] for r in recs if "samples" in r), None),
           "load_start": load("start"), "load_end": load("end")}
json.dump({"machine": machine, "results": rows, "raw": recs},
          open(os.path.join(out, "results.json"), "w"), indent=1)


def f(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


lines = [f"Machine: {cpu}, {machine['cpus']} CPUs, Linux {machine['kernel']}; mode {mode}, "
         f"{machine['runs']} run(s), medians over runs; {machine['samples']} samples each (warm-up excluded); "
         f"load average (1, 5, 15 min) {machine['load_start'] or '?'} at the start, "
         f"{machine['load_end'] or '?'} at the end.", "",
         "bare-fuse: the bare FUSE anchor (vofirm-barefuse: one thread, one file in memory, vofirm-fs's "
         "mount options); bare-tcp: the bare TCP anchor (`vofirm-pagebench tcpping`: a blocking "
         "ping-pong of a READ's sizes between two processes, TCP_NODELAY). × bare FUSE + bare TCP: "
         "p50 over (bare-fuse's p50 + bare-tcp's 4 KiB p50), for the remote backends where every "
         "access is a round trip.", "",
         "| measurement | backend | p50 µs | p99 µs | MB/s | p50 × tmpfs | p50 × FUSE floor | MB/s × tmpfs "
         "| p50 × bare FUSE | p50 × bare FUSE + bare TCP |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for b, desc in benches:
    for r in rows:
        if r["bench"] == b:
            lines.append(f"| {desc} | {r['backend']} | {f(r['p50_us'], 2)} | {f(r['p99_us'], 2)} | "
                         f"{f(r['mb_s'])} | {f(r.get('p50_us_x_tmpfs'))} | {f(r.get('p50_us_x_fuse'), 2)} | "
                         f"{f(r.get('mb_s_x_tmpfs'), 3)} | {f(r.get('p50_us_x_bare_fuse'), 2)} | "
                         f"{f(r.get('p50_us_x_bare_fuse_tcp'), 2)} |")


def rt_desc(r):
    size = "4 KiB" if r["bench"].endswith("-4k") else "1 MiB (a repair's unit)"
    if r["bench"].startswith("tcpping-"):
        return f"bare TCP ping-pong, 40-byte request, 24-byte header + {size} reply, one at a time"
    return f"transport round trip, {size} READ, one at a time"


for r in rows:
    if is_rt(r):
        lines.append(f"| {rt_desc(r)} | {r['backend']} | "
                     f"{f(r['p50_us'], 2)} | {f(r['p99_us'], 2)} | {f(r['mb_s'])} | | | | | |")

# ---- CPU time per fault, on both sides ----
bare_tcp_cpu = ref("tcpping-4k", "bare-tcp", "cpu_server_us")
cpu_rows = [r for r in rows if any(r.get(k) is not None for k in ("cpu_fs_us", "cpu_memd_us", "cpu_server_us"))]
if cpu_rows:
    lines += ["", "CPU time per operation, µs (user + system, every thread, over the timed part with its "
              "warm-up): per fault or 4 KiB page on the page path (MADV_RANDOM: one page per fault), per "
              "round trip for rtt and tcpping. FUSE server: vofirm-fs's supervisor and worker, or "
              "vofirm-barefuse; memd: the memds of the mount (two for r1 and r2), or the bare TCP "
              "server; benchmark: the faulting process (rtt, tcpping: the transport's client). "
              "× bare TCP: memd per 4 KiB over the bare TCP server's per 4 KiB request. "
              "machine: every CPU's busy time per operation (/proc/stat: all processes, the kernel's "
              "threads and interrupts), and the share of the CPUs idle meanwhile.", "",
              "| measurement | backend | FUSE server µs | memd / TCP server µs | benchmark µs | total µs "
              "| memd × bare TCP server's | machine µs | idle % |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in cpu_rows:
        desc = rt_desc(r) if is_rt(r) else dict(benches)[r["bench"]]
        server = r.get("cpu_memd_us") if r.get("cpu_memd_us") is not None else r.get("cpu_server_us")
        parts = [v for v in (r.get("cpu_fs_us"), server, r.get("cpu_self_us")) if v is not None]
        x = ratio(r.get("cpu_memd_us"), bare_tcp_cpu) if r["bench"] != "rtt-1m" else None
        r["cpu_total_us"] = sum(parts) if parts else None
        r["cpu_memd_x_bare_tcp"] = x
        lines.append(f"| {desc} | {r['backend']} | {f(r.get('cpu_fs_us'), 2)} | {f(server, 2)} | "
                     f"{f(r.get('cpu_self_us'), 2)} | {f(r['cpu_total_us'], 2)} | {f(x, 2)} | "
                     f"{f(r.get('cpu_machine_us'), 2)} | {f(r.get('idle_pct'))} |")

# ---- issue 11's goals ----
fm_p50, fm_p99 = ref("readfault-rand", "fuse-mem", "p50_us"), ref("readfault-rand", "fuse-mem", "p99_us")
bf_p50 = ref("readfault-rand", "bare-fuse", "p50_us")
rtt_p50 = ref("rtt-4k", "tcp", "p50_us")
vt_p50 = ref("readfault-rand", "vofirm-tcp", "p50_us")
goals = [
    ("FUSE floor: fuse-mem cold random read p50 × bare FUSE", fm_p50, bf_p50, ratio(fm_p50, bf_p50), "≤ 1.2", 1.2, "le"),
    ("FUSE floor: fuse-mem cold random read p99 × its own p50", fm_p99, fm_p50, ratio(fm_p99, fm_p50), "≤ 3", 3, "le"),
    ("transport: tcp rtt 4 KiB p50 × bare TCP ping-pong p50", rtt_p50, bare_tcp_p50, ratio(rtt_p50, bare_tcp_p50),
     "≤ 1.5", 1.5, "le"),
    ("end to end: vofirm-tcp cold random read p50 × (bare FUSE + bare TCP)", vt_p50,
     bf_p50 + bare_tcp_p50 if bf_p50 and bare_tcp_p50 else None,
     ratio(vt_p50, bf_p50 + bare_tcp_p50) if bf_p50 and bare_tcp_p50 else None, "≤ 1.3", 1.3, "le"),
    ("sequential: vofirm-tcp cold sequential read MB/s × fuse-mem's", ref("readfault-seq", "vofirm-tcp", "mb_s"),
     ref("readfault-seq", "fuse-mem", "mb_s"),
     ratio(ref("readfault-seq", "vofirm-tcp", "mb_s"), ref("readfault-seq", "fuse-mem", "mb_s")), "≥ 0.8", 0.8, "ge"),
    ("write-back: vofirm-tcp write-back MB/s × fuse-mem's", ref("writeback-rand", "vofirm-tcp", "mb_s"),
     ref("writeback-rand", "fuse-mem", "mb_s"),
     ratio(ref("writeback-rand", "vofirm-tcp", "mb_s"), ref("writeback-rand", "fuse-mem", "mb_s")), "≥ 0.8", 0.8, "ge"),
    ("memd CPU per 4 KiB READ (tcp rtt) × the bare TCP server's per request", ref("rtt-4k", "tcp", "cpu_memd_us"),
     bare_tcp_cpu, ratio(ref("rtt-4k", "tcp", "cpu_memd_us"), bare_tcp_cpu), "≤ 1.5", 1.5, "le"),
    ("memd CPU per cold random read fault (vofirm-tcp) × the bare TCP server's per request",
     ref("readfault-rand", "vofirm-tcp", "cpu_memd_us"), bare_tcp_cpu,
     ratio(ref("readfault-rand", "vofirm-tcp", "cpu_memd_us"), bare_tcp_cpu), "≤ 1.5", 1.5, "le"),
]
lines += ["", "Issue 11's goals, from this run (the issue asks for medians of `make bench FULL=1`): "
          "measured, its reference, their ratio.", "",
          "| goal | measured | reference | ratio | target | |", "|---|---|---|---|---|---|"]
for desc, a, b, x, target, lim, how in goals:
    verdict = ("not measured" if x is None else
               "met" if (x <= lim if how == "le" else x >= lim) else "NOT met")
    lines.append(f"| {desc} | {f(a, 2)} | {f(b, 2)} | {f(x, 2)} | {target} | {verdict} |")
    rows.append({"bench": "issue11-goal", "goal": desc, "measured": a, "reference": b, "ratio": x,
                 "target": target, "met": None if x is None else verdict == "met"})

# ---- what the machine's CPUs allow ----
# A throughput ratio between two backends can be no better than the
# inverse ratio of the whole machine's CPU time per page once the CPUs are
# saturated: the floor does no network work, while over TCP memd and the
# loopback's stack share the same CPUs.  Shown next to the measured ratio.
bounds = []
for desc, bench, a_be, b_be in (("sequential: vofirm-tcp × fuse-mem", "readfault-seq", "vofirm-tcp", "fuse-mem"),
                                ("write-back: vofirm-tcp × fuse-mem", "writeback-rand", "vofirm-tcp", "fuse-mem"),
                                ("write-back: r2 × r1", "writeback-rand", "vofirm-tcp-r2", "vofirm-tcp-r1")):
    ma, mb = ref(bench, a_be, "cpu_machine_us"), ref(bench, b_be, "cpu_machine_us")
    if ma is None or mb is None:
        continue
    bounds.append((desc, ratio(ref(bench, a_be, "mb_s"), ref(bench, b_be, "mb_s")), mb, ma, ratio(mb, ma),
                   ref(bench, b_be, "idle_pct"), ref(bench, a_be, "idle_pct")))
if bounds:
    lines += ["", "What the CPUs allow: the throughput ratio measured, and the ratio of the whole machine's "
              "busy CPU per page (reference over measured): the ratio the two could reach with every CPU "
              "busy, from this run. Where the idle share is near zero the measured ratio is bound by CPU "
              "time, not by waiting.", "",
              "| ratio | measured | machine µs per page (reference) | (measured) | CPU-bound ratio "
              "| idle % (reference) | (measured) |", "|---|---|---|---|---|---|---|"]
    for desc, x, mb, ma, cb, ib, ia in bounds:
        lines.append(f"| {desc} | {f(x, 2)} | {f(mb, 2)} | {f(ma, 2)} | {f(cb, 2)} | {f(ib)} | {f(ia)} |")
        rows.append({"bench": "cpu-bound", "ratio": desc, "measured": x, "machine_us_reference": mb,
                     "machine_us_measured": ma, "cpu_bound_ratio": cb})

# ---- where a cold fault's time goes ----
# Means over the same faults: the fault as the faulting process sees it;
# vofirm-fs's READ handler, from the request to the reply (stats.json's
# page_path); within it, the request to the server (its read latency);
# memd's CPU per fault.  The rest of the fault is the kernel's FUSE path
# and the wake-ups at both ends; the rest of the request is the network,
# the wake-ups and the transport.
bd = []
for be in ("bare-fuse", "fuse-mem", "vofirm-tcp"):
    fault = ref("readfault-rand", be, "mean_us")
    if fault is None:
        continue
    h = ref("readfault-rand", be, "fs_read_handler_us")
    srv = ref("readfault-rand", be, "fs_server_read_us")
    memd = ref("readfault-rand", be, "cpu_memd_us")
    bd.append((be, fault, h, srv, memd))
if bd:
    lines += ["", "Where a cold 4 KiB random read fault's time goes (means over the same faults, µs): "
              "the fault as the faulting process sees it; the part in vofirm-fs's READ handler "
              "(stats.json `page_path`); within it, the request to the server (its read latency, "
              "transport and network included) and memd's CPU per fault. Kernel and wake-ups: the "
              "fault outside the handler (FUSE request, wake-up of a FUSE thread, the reply's copy "
              "into the page cache, wake-up of the faulting process).", "",
              "| backend | fault | kernel FUSE path + wake-ups | vofirm-fs handler | of which its own work | "
              "of which the server request | of which memd CPU | network, transport, wake-ups |",
              "|---|---|---|---|---|---|---|---|"]
    for be, fault, h, srv, memd in bd:
        kern = fault - h if h is not None else None
        own = h - srv if h is not None and srv is not None else (h if srv is None else None)
        net = srv - memd if srv is not None and memd is not None else None
        lines.append(f"| {be} | {f(fault, 2)} | {f(kern, 2)} | {f(h, 2)} | {f(own, 2)} | {f(srv, 2)} | "
                     f"{f(memd, 2)} | {f(net, 2)} |")
        rows.append({"bench": "breakdown", "backend": be, "fault_us": fault, "kernel_us": kern,
                     "handler_us": h, "own_us": own, "server_us": srv, "memd_cpu_us": memd,
                     "network_us": net})

# ---- the --threads sweep ----
sweep = sorted({r["threads"] for r in recs if "threads" in r and r["backend"].startswith("fuse-mem-t")})
if sweep:
    def sw(t, bench, key):
        return median_of(bench, f"fuse-mem-t{t}", key)
    nrounds = len({(r["run"], r.get("round")) for r in recs if "threads" in r})
    samples = {t: sum(r["samples"] for r in recs if r["backend"] == f"fuse-mem-t{t}"
                      and r["bench"] == "readfault-rand") for t in sweep}
    lines += ["", f"vofirm-fs over mem:// by `--threads` (8: the default), mounted side by side and measured in "
              f"{nrounds} alternating rounds (medians of the rounds): cold 4 KiB random read fault, and the "
              "write-back alone; CPU: vofirm-fs's per fault, per 4 KiB written back.", "",
              "| backend | --threads | samples | read p50 µs | read p99 µs | read p50 × 8 threads | "
              "vofirm-fs CPU µs/fault | write-back MB/s | MB/s × 8 threads | vofirm-fs CPU µs/4 KiB written |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for t in sweep:
        d = {"bench": "threads-sweep", "backend": f"fuse-mem-t{t}", "threads": t, "samples": samples[t],
             "read_p50_us": sw(t, "readfault-rand", "p50_us"), "read_p99_us": sw(t, "readfault-rand", "p99_us"),
             "read_cpu_fs_us": sw(t, "readfault-rand", "cpu_fs_us"),
             "writeback_mb_s": sw(t, "writeback-rand", "mb_s"),
             "writeback_cpu_fs_us": sw(t, "writeback-rand", "cpu_fs_us")}
        d["read_p50_x_t8"] = ratio(d["read_p50_us"], sw(8, "readfault-rand", "p50_us"))
        d["writeback_mb_s_x_t8"] = ratio(d["writeback_mb_s"], sw(8, "writeback-rand", "mb_s"))
        rows.append(d)
        lines.append(f"| {d['backend']} | {t} | {samples[t]} | {f(d['read_p50_us'], 2)} | {f(d['read_p99_us'], 2)} | "
                     f"{f(d['read_p50_x_t8'], 2)} | {f(d['read_cpu_fs_us'], 2)} | {f(d['writeback_mb_s'])} | "
                     f"{f(d['writeback_mb_s_x_t8'], 2)} | {f(d['writeback_cpu_fs_us'], 2)} |")

# ---- the FUSE floor by placement ----
places = [pl for pl in ("same", "other") if any(r.get("placement") == pl for r in recs)]
if places:
    lines += ["", "The FUSE floor by placement: the cold 4 KiB random read fault with the faulting process and "
              "every thread of the FUSE server pinned to one vCPU (same), or the faulting process on another "
              "(other), in alternating rounds (medians). Unpinned, the figures above depend on where the "
              "scheduler wakes the server's thread: on some hosts an idle vCPU is slow to wake.", "",
              "| placement | bare-fuse p50 µs | bare-fuse p99 µs | fuse-mem p50 µs | fuse-mem p99 µs | "
              "fuse-mem p50 × bare FUSE (goal ≤ 1.2) | fuse-mem p99 × its p50 (goal ≤ 3) |",
              "|---|---|---|---|---|---|---|"]
    for pl in places:
        def pm(be, key):
            return median_of("readfault-rand", f"{be}-{pl}", key)
        d = {"bench": "placement", "placement": pl,
             "bare_fuse_p50_us": pm("bare-fuse", "p50_us"), "bare_fuse_p99_us": pm("bare-fuse", "p99_us"),
             "fuse_mem_p50_us": pm("fuse-mem", "p50_us"), "fuse_mem_p99_us": pm("fuse-mem", "p99_us")}
        d["fuse_mem_p50_x_bare_fuse"] = ratio(d["fuse_mem_p50_us"], d["bare_fuse_p50_us"])
        d["fuse_mem_p99_x_p50"] = ratio(d["fuse_mem_p99_us"], d["fuse_mem_p50_us"])
        rows.append(d)
        lines.append(f"| {pl} | {f(d['bare_fuse_p50_us'], 2)} | {f(d['bare_fuse_p99_us'], 2)} | "
                     f"{f(d['fuse_mem_p50_us'], 2)} | {f(d['fuse_mem_p99_us'], 2)} | "
                     f"{f(d['fuse_mem_p50_x_bare_fuse'], 2)} | {f(d['fuse_mem_p99_x_p50'], 2)} |")

# ---- replication ----
pairs = sorted({(r["run"], r["pair"]) for r in recs if "pair" in r})
if pairs or median_of("readfault-rand", "vofirm-tcp-r2", "p50_us") is not None:
    def pair_ratios(bench, key):
        out_ = []
        for run, p in pairs:
            v = {r["backend"]: r[key] for r in recs if r.get("pair") == p and r["run"] == run
                 and r["bench"] == bench and r.get(key) is not None}
            if "vofirm-tcp-r1" in v and "vofirm-tcp-r2" in v and v["vofirm-tcp-r1"]:
                out_.append(v["vofirm-tcp-r2"] / v["vofirm-tcp-r1"])
        return out_
    lines += ["", "Replication: vofirm-fs over the same two memds on loopback TCP, one copy of every "
              "extent (r1) against two on distinct servers (r2). Main table: the rows above; rounds: "
              f"{len(pairs)} alternating rounds of both back to back, the ratio taken within each "
              "round, median (min-max) of the rounds.", "",
              "| measurement | r1 | r2 | r2 / r1 (table) | r2 / r1 (rounds) | goal |",
              "|---|---|---|---|---|---|"]
    for bench, key, desc, goal, ok in (
            ("readfault-rand", "p50_us", "cold 4 KiB read fault, random, p50 µs", "≤ 1.1×", lambda x: x <= 1.1),
            ("readfault-rand", "mean_us", "cold 4 KiB read fault, random, mean µs", "", None),
            ("writeback-rand", "mb_s", "write-back throughput, MiB/s", "≥ 0.8×", lambda x: x >= 0.8),
            ("writefault-rand", "mb_s", "random write fault with write-back, MiB/s", "", None)):
        r1, r2 = median_of(bench, "vofirm-tcp-r1", key), median_of(bench, "vofirm-tcp-r2", key)
        pr = pair_ratios(bench, key)
        pm = statistics.median(pr) if pr else None
        rng = f" ({min(pr):.2f}-{max(pr):.2f})" if pr else ""
        verdict = ""
        if goal:
            best = pm if pm is not None else ratio(r2, r1)
            verdict = f"{goal}: {'met' if best is not None and ok(best) else 'NOT met'}"
        lines.append(f"| {desc} | {f(r1, 2)} | {f(r2, 2)} | {f(ratio(r2, r1), 2)} | "
                     f"{f(pm, 2)}{rng if pm is not None else ''} | {verdict} |")
        rows.append({"bench": "replication-" + bench, "key": key, "r1": r1, "r2": r2,
                     "r2_over_r1": ratio(r2, r1), "r2_over_r1_rounds": pm, "rounds": pr})

rp = [r for r in recs if r["bench"] == "repair"]
if rp:
    lines += ["", "Repair: three memds (lease 2 s), `--replicas 2`, a file written in full, one memd "
              "killed (SIGKILL). Detect: from the kill until vofirm-fs gives the server up (its lease, "
              "then the next reconnection attempt); repair: from then until the last lost copy is rebuilt.",
              "", "| case | --repair-rate | file MiB | copies rebuilt | MiB rebuilt | detect s | repair s | MiB/s |",
              "|---|---|---|---|---|---|---|---|"]
    for n in sorted({r["backend"] for r in rp}):
        one = next(r for r in rp if r["backend"] == n)
        rate = one.get("rate")
        rate_s = ("0 (unlimited)" if rate == "0" else
                  f"{one.get('default_rate')} (the default; {one.get('default_busy_rate')} while the files are in use)"
                  if rate == "default" and one.get("default_busy_rate") not in (None, "", "0") else
                  f"{one.get('default_rate')} (the default)" if rate == "default" else rate)
        ms = median_of("repair", n, "mib_s")
        lines.append(f"| {n} | {rate_s} | {one.get('size_mib')} | {one['extents']} | "
                     f"{f(median_of('repair', n, 'rebuilt_mib'), 0)} | {f(median_of('repair', n, 'detect_s'), 2)} | "
                     f"{f(median_of('repair', n, 'repair_s'), 2)} | {f(ms, 1)} |")
        rows.append({"bench": "repair", "backend": n, "rate": rate, "default_rate": one.get("default_rate"),
                     "mib_s": ms, "repair_s": median_of("repair", n, "repair_s"),
                     "detect_s": median_of("repair", n, "detect_s"),
                     "rebuilt_mib": median_of("repair", n, "rebuilt_mib")})
    for n in sorted({r["backend"][:-5] for r in recs if r["backend"].endswith("-busy")}):
        idle = {k: median_of("readfault-rand", n + "-idle", k) for k in ("p50_us", "p99_us", "mean_us", "samples")}
        busy = {k: median_of("readfault-rand", n + "-busy", k) for k in ("p50_us", "p99_us", "mean_us", "samples")}
        lines += ["", f"Reads during a repair ({n}, host, not a VM): cold 4 KiB random read faults on the "
                  "file, before the kill (idle) and from the repair's start to its end (busy), the same "
                  "mount and pages.", "",
                  "| | samples | p50 µs | p99 µs | mean µs |", "|---|---|---|---|---|"]
        for lab, d in (("no repair", idle), ("during the repair", busy)):
            lines.append(f"| {lab} | {f(d['samples'], 0)} | {f(d['p50_us'], 2)} | {f(d['p99_us'], 2)} | "
                         f"{f(d['mean_us'], 2)} |")
        lines.append(f"| during / no repair | | {f(ratio(busy['p50_us'], idle['p50_us']), 2)} | "
                     f"{f(ratio(busy['p99_us'], idle['p99_us']), 2)} | {f(ratio(busy['mean_us'], idle['mean_us']), 2)} |")
        rows.append({"bench": "reads-during-repair", "backend": n, "idle": idle, "busy": busy,
                     "p50_busy_over_idle": ratio(busy["p50_us"], idle["p50_us"]),
                     "mean_busy_over_idle": ratio(busy["mean_us"], idle["mean_us"])})
    json.dump({"machine": machine, "results": rows, "raw": recs},
              open(os.path.join(out, "results.json"), "w"), indent=1)

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
vr = [r for r in recs if r["bench"] == "vm-repair"]
if vr:
    one = vr[0]
    lines += ["", "The guest during a repair (issue 9): the VM's DIMM (512 MiB) on three memds with 2 "
              f"copies, a {one.get('budget_pct')} % local budget with the companion; in the guest, random "
              "pages read, checked and rewritten without end, counted in ticks of 0.2 s; on the host the "
              "memd holding the most of the DIMM killed (SIGKILL), the repair at vofirm-fs's defaults "
              f"(`--repair-rate {one.get('default_rate')}`, `--repair-rate-busy "
              f"{one.get('default_busy_rate')}` while the files are in use) or with the options shown. "
              "Each tick counts in the phase it lies in whole, the guest's clock set against the host's "
              "(± the uncertainty shown). Detect: from the kill until vofirm-fs gives the server up "
              "(lease 2 s); repair: until the last lost copy is rebuilt.", "",
              "| case | vofirm-fs options | run | before ops/s | detect ops/s (× before) | during the repair "
              "ops/s (× before) | lowest tick in the repair | after ops/s | detect s | repair s | MiB "
              "rebuilt | MiB/s | ticks before / detect / repair / after | clock ± s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(vr, key=lambda r: (r["backend"], r["run"])):
        ph = {k: r.get(k) or {} for k in ("before", "detect", "repair", "after")}
        lines.append(f"| {r['backend']} | {r.get('opts') or '(defaults)'} | {r['run']} | "
                     f"{f(ph['before'].get('median_ops_s'), 0)} | "
                     f"{f(ph['detect'].get('median_ops_s'), 0)} ({f(r.get('detect_over_before'), 2)}) | "
                     f"{f(ph['repair'].get('median_ops_s'), 0)} ({f(r.get('repair_over_before'), 2)}) | "
                     f"{f(ph['repair'].get('min_ops_s'), 0)} | {f(ph['after'].get('median_ops_s'), 0)} | "
                     f"{f(r.get('detect_s'), 2)} | {f(r.get('repair_s'), 2)} | {f(r.get('rebuilt_mib'), 0)} | "
                     f"{f(r.get('mib_s'), 1)} | "
                     f"{' / '.join(str(ph[k].get('ticks', 0)) for k in ('before', 'detect', 'repair', 'after'))} | "
                     f"{f(r.get('clock_uncertainty_s'), 3)} |")
    for n in sorted({r["backend"] for r in vr}):
        rows.append({"bench": "vm-repair", "backend": n,
                     "opts": next(r.get("opts") for r in vr if r["backend"] == n),
                     "repair_over_before": median_of("vm-repair", n, "repair_over_before"),
                     "detect_over_before": median_of("vm-repair", n, "detect_over_before"),
                     "mib_s": median_of("vm-repair", n, "mib_s")})
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
pf = [r for r in recs if r["bench"] == "vm-prefetch"]
if pf:
    def pfm(backend, pat, key):
        v = [r[key] for r in pf if r["backend"] == backend and r["pattern"] == pat
             and r.get(key) is not None]
        return statistics.median(v) if v else None

    def pfrange(backend, pat):
        """the range of ops/s over the repetitions and runs: 'min-max', or ''"""
        v = [r["ops_s"] for r in pf if r["backend"] == backend and r["pattern"] == pat]
        return f"{min(v):.0f}-{max(v):.0f}" if len(v) > 1 else ""

    pats = list(dict.fromkeys(r["pattern"] for r in pf))
    confs = list(dict.fromkeys(r["backend"] for r in pf))
    # the cold random read fault on each mount (host): the bound of a random workload
    fault = {m: median_of("readfault-rand", f"pf-fault-{m}", "p50_us")
             for m in ("vofirm-tcp", "vofirm-pf-auto")}
    lines += ["", "Prefetch (issue 12): the guest fills its memory once, then runs each pattern "
              "(`vofirm-mmapio anon ... pats`), each page touched checked and rewritten; the traffic "
              "of each pattern counted apart. kernel: vofirm-fs --prefetch kernel (the kernel's "
              "128 KiB readahead, as before); auto: --prefetch auto (vofirm-fs's detector, the "
              "kernel's readahead off). Amplification: pages fetched from the server per page "
              "missed (demand misses + prefetched pages used); hit rate: prefetched pages used, "
              "of those fetched and resolved in the pattern (used, wasted, expired: not the "
              "pages the page cache held, nor those the pattern before left pending). Bound (uniform random): 1 / (misses per op x the cold fault "
              f"latency measured on the host (kernel {f(fault['vofirm-tcp'])} µs, auto "
              f"{f(fault['vofirm-pf-auto'])} µs p50) + 1 / all-local ops/s). QEMU faults: its page faults "
              "(all threads, /proc/PID/stat) per touch during the pattern.", "",
              "Each figure is the median of the pattern's repetitions (in a row, in the same VM) "
              "and runs; the range is that of ops/s.", "",
              "| workload | configuration | budget | companion | ops/s | range | × all-local | MiB fetched | amplification | hit rate | note |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for pat in pats:
        lo = pfm("pf-local", pat, "ops_s")
        for n in confs:
            o = pfm(n, pat, "ops_s")
            if o is None:
                continue
            one = next(r for r in pf if r["backend"] == n)
            note, bratio = "", None
            if pat == "rand" and n != "pf-local" and lo:
                mpo = pfm(n, pat, "misses") / max(1, pfm(n, pat, "samples"))
                lat = fault["vofirm-pf-auto" if one["mode"] == "auto" else "vofirm-tcp"]
                if lat:
                    bound = 1 / (mpo * lat / 1e6 + 1 / lo)
                    bratio = o / bound
                    note = f"bound {bound:.0f} ops/s ({mpo:.2f} misses/op): {bratio:.2f} of it"
            # QEMU's own page faults per touch (the bound counts the misses
            # only: a touch of a resident page the write-back cleaned faults too)
            mn, mj = pfm(n, pat, "qemu_minflt"), pfm(n, pat, "qemu_majflt")
            if n != "pf-local" and mn is not None and mj is not None:
                per = max(1, pfm(n, pat, "samples"))
                note += (("; " if note else "") +
                         f"QEMU faults per touch: {mn / per:.2f} minor, {mj / per:.2f} major")
            hr = pfm(n, pat, "hit_rate")
            amp = pfm(n, pat, "amplification")
            lines.append(f"| {pat} | {one['mode']} | "
                         f"{'all local' if one['budget_pct'] == 0 else str(one['budget_pct']) + ' %'} | "
                         f"{'yes' if one['companion'] else 'no'} | {o:.0f} | {pfrange(n, pat)} | "
                         f"{f(o / lo if lo else None, 2)} | {f(pfm(n, pat, 'fetched_mib'), 0)} | "
                         f"{f(amp, 2)} | {f(hr, 3) if hr is not None else '-'} | {note} |")
            rows.append({"bench": "vm-prefetch", "backend": n, "pattern": pat, "ops_s": o,
                         "ops_s_range": pfrange(n, pat),
                         "x_local": o / lo if lo else None, "amplification": amp, "hit_rate": hr,
                         "fetched_mib": pfm(n, pat, "fetched_mib"), "note": note,
                         "bound_ratio": bratio})

    def best_kernel(pat, pct):
        v = [pfm(f"pf-kernel{c}-{pct}", pat, "ops_s") for c in ("", "-companion")]
        v = [x for x in v if x]
        return max(v) if v else None

    def goal(text, ok, val):
        lines.append(f"| {text} | {val} | {'met' if ok else 'NOT met' if ok is not None else '-'} |")

    lines += ["", "Issue 12's goals (this run):", "", "| goal | measured | |", "|---|---|---|"]
    a = pfm("pf-auto-25", "rand", "amplification")
    goal("uniform random at 25 %: amplification ≤ 1.2", a is not None and a <= 1.2 if a else None, f(a, 2))
    rr = next((r for r in rows if r.get("bench") == "vm-prefetch" and r["backend"] == "pf-auto-25"
               and r["pattern"] == "rand"), None)
    br = rr["bound_ratio"] if rr else None
    goal("uniform random at 25 %: ops/s ≥ 0.8 × bound", br >= 0.8 if br else None,
         rr["note"] if rr else "-")
    o, k = pfm("pf-auto-25", "seq", "ops_s"), best_kernel("seq", 25)
    goal("sequential at 25 %: ≥ 1.0 × kernel readahead's best", o and k and o >= k,
         f(o / k if o and k else None, 2))
    o, k = pfm("pf-auto-25", "stride16", "ops_s"), best_kernel("stride16", 25)
    h = pfm("pf-auto-25", "stride16", "hit_rate")
    goal("strided at 25 %: ≥ 3 × today's best, hit rate ≥ 80 %", o and k and h is not None and o >= 3 * k and h >= 0.8,
         f"{f(o / k if o and k else None, 2)} ×, hit rate {f(h, 3)}")
    lo = pfm("pf-local", "zipf", "ops_s")
    for pct, lim in ((50, 1.3), (25, 2.0)):
        o = pfm(f"pf-auto-{pct}", "zipf", "ops_s")
        goal(f"Zipf at {pct} %: ≤ {lim} × all-local (slowdown)", o and lo and lo / o <= lim,
             f(lo / o if o and lo else None, 2))
mg = [r for r in recs if r["bench"] == "migrate"]
if mg:
    lines += ["", "Live migration (issue 13): a VM with 262016 KiB of base RAM and a "
              f"{mg[0].get('dimm_mib')} MiB DIMM whose tmpfs data a guest workload keeps "
              "rewriting; vofirm: `vofirmctl migrate` (x-ignore-shared, the DIMM left on the "
              "servers); plain: QEMU's own migration, the DIMM copied into a file on the "
              "destination's mount; floor: the same VM without its DIMM. Medians.", "",
              "| case | total ms | downtime ms | sent MiB | flushed MiB | flushed at the pause MiB |",
              "|---|---|---|---|---|---|"]
    med = {}
    for n in ("migrate-vofirm", "migrate-plain", "migrate-floor"):
        m = {k: median_of("migrate", n, k) for k in
             ("total_ms", "downtime_ms", "bytes_sent", "bytes_flushed", "pause_flushed")}
        med[n] = m
        if m["total_ms"] is None:
            continue
        mib = lambda v: f(v / 1048576, 1) if v is not None else "–"
        lines.append(f"| {n} | {f(m['total_ms'], 0)} | {f(m['downtime_ms'], 0)} | "
                     f"{mib(m['bytes_sent'])} | {mib(m['bytes_flushed'])} | {mib(m['pause_flushed'])} |")
        rows.append({"bench": "migrate", "backend": n, **m})
    v, p, fl = med["migrate-vofirm"], med["migrate-plain"], med["migrate-floor"]
    goals = [("bytes sent ≤ 1.05 × the floor's", ratio(v["bytes_sent"], fl["bytes_sent"]), 1.05),
             ("total time ≤ 0.5 × plain's", ratio(v["total_ms"], p["total_ms"]), 0.5),
             ("downtime ≤ 2 × plain's", ratio(v["downtime_ms"], p["downtime_ms"]), 2.0)]
    lines += ["", "| goal | ratio | met |", "|---|---|---|"]
    for desc, x, lim in goals:
        lines.append(f"| {desc} | {f(x, 2)} | {'–' if x is None else ('yes' if x <= lim else 'NO')} |")
json.dump({"machine": machine, "results": rows, "raw": recs},
          open(os.path.join(out, "results.json"), "w"), indent=1)
md = "\n".join(lines) + "\n"
open(os.path.join(out, "results.md"), "w").write(md)
print(md)

# the plot: p50 and p99 per measurement and backend, log scale; the anchors
# (bare-fuse, bare-tcp) in their own colours
dat = os.path.join(out, "latency.dat")
plotted = [r for r in rows if "p50_us" in r]
with open(dat, "w") as d:
    for i, r in enumerate(plotted):
        anchor = 1 if r["backend"] in ("bare-fuse", "bare-tcp") else 0
        d.write(f"{i} {r['p50_us'] or 0} {r['p99_us'] or 0} {anchor}\n")
tics = ", ".join(f"\"{r['bench']}\\n{r['backend']}\" {i}" for i, r in enumerate(plotted))
gp = f"""set terminal pngcairo size {max(1100, 48 * len(plotted))},600 noenhanced
set output '{out}/latency.png'
set title 'vofirm page path: latency per fault (lower is better); the anchors (bare-fuse, bare-tcp) and baselines in the same run'
set style fill solid 0.8 border -1
set boxwidth 0.36
set logscale y
set yrange [0.05:*]
set xrange [-0.7:{len(plotted) - 0.3}]
set ylabel 'microseconds'
set xtics ({tics}) rotate by -40 font ',8'
set key outside top center horizontal
v(x) = x > 0 ? x : 1/0
plot '{dat}' using ($1-0.19):($4 == 0 ? v($2) : 1/0) with boxes lc rgb '#8e44ad' title 'p50', \\
     '' using ($1+0.19):($4 == 0 ? v($3) : 1/0) with boxes lc rgb '#27ae60' title 'p99', \\
     '' using ($1-0.19):($4 == 1 ? v($2) : 1/0) with boxes lc rgb '#e67e22' title 'p50, anchor', \\
     '' using ($1+0.19):($4 == 1 ? v($3) : 1/0) with boxes lc rgb '#f5cba7' title 'p99, anchor'
"""
try:
    subprocess.run(["gnuplot"], input=gp.encode(), check=True, stderr=subprocess.DEVNULL)
    print(f"plot: {out}/latency.png")
except (FileNotFoundError, subprocess.CalledProcessError):
    print("no plot (gnuplot missing or failed)")
print(f"results: {out}/results.json, {out}/results.md")
