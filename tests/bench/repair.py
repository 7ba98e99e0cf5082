#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make bench's repair measurement: watches a vofirm-fs mount after one of
its memory servers was killed.

  repair.py held MNT URL
      the bytes this mount holds on server URL (stats.json)
  repair.py start LOG URL T_KILL TIMEOUT
      waits until vofirm-fs's log (LOG) says URL is gone past its lease (the
      repair starts then); prints that moment (seconds since the epoch)
  repair.py done MNT LOG URL EXTENTS T_KILL TIMEOUT [STOPFILE]
      waits until the repair is done: EXTENTS copies rebuilt ("copy on ...
      rebuilt" at notice level), or stats.json's "replication" object saying
      degraded_bytes 0 once the repair has started; creates STOPFILE then, and
      prints one JSON object: detect_s (kill to the repair's start: the lease),
      repair_s (start to the last copy rebuilt), rebuilt_mib, mib_s.
  repair.py vm TICKS T_KILL REPAIR_JSON SYNC...
      the guest during a repair: TICKS is the output of the guest's
      `vofirm-mmapio anon ... timed` ("tick T OPS BAD", T on the guest's
      clock), REPAIR_JSON what `done` printed, each SYNC "H0,G,H1" (host
      time, the guest's `vofirm-mmapio clock`, host time).  The sync with
      the shortest H1 - H0 gives the guest's offset, +- half of it; every
      tick that lies whole in one phase counts there: before the kill,
      detect (kill to the repair's start), repair, after.  Prints one JSON
      object: per phase the ticks, median and lowest ops/s; the repair's
      median over the median before (the slowdown: below 1 is slower).

The log's own time stamps (ms) date the start and the end, not the polling.
"""
import datetime
import json
import os
import re
import statistics
import sys
import time

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")


def stats(mnt):
    try:
        with open(os.path.join(mnt, ".vofirm", "stats.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def stamp(line):
    m = STAMP.match(line)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()


def log_lines(log, t_kill):
    """(time, line) of every stamped line at or after t_kill (1 ms of slack:
    the stamps are local wall-clock time, cut to the millisecond)."""
    out = []
    try:
        with open(log, errors="replace") as f:
            for line in f:
                t = stamp(line)
                if t is not None and t >= t_kill - 0.001:
                    out.append((t, line))
    except OSError:
        pass
    return out


def lease_line(lines, url):
    for t, line in lines:
        if f"server {url}:" in line and ("longer than its lease" in line or "DATA LOST" in line
                                          or "came back without our session" in line):
            return t
    return None


def vm_phases(ticks_file, t_kill, rep, syncs):
    h0, g, h1 = min(syncs, key=lambda s: s[2] - s[0])
    off, unc = g - (h0 + h1) / 2, (h1 - h0) / 2
    t_start = t_kill + rep["detect_s"]
    t_done = t_start + rep["repair_s"]
    bounds = (("before", None, t_kill), ("detect", t_kill, t_start),
              ("repair", t_start, t_done), ("after", t_done, None))
    ticks, bad, prev = [], 0, None
    with open(ticks_file) as f:
        for line in f:
            w = line.split()
            if len(w) != 4 or w[0] != "tick":
                continue
            t, ops, bad = float(w[1]) - off, int(w[2]), int(w[3])
            if prev is not None and t > prev:
                ticks.append((prev, t, ops / (t - prev)))
            prev = t
    out = {"bench": "vm-repair", "samples": len(ticks), "clock_uncertainty_s": round(unc, 3),
           "bad": bad, "detect_s": rep["detect_s"], "repair_s": rep["repair_s"],
           "rebuilt_mib": rep["rebuilt_mib"], "mib_s": rep["mib_s"]}
    for name, lo, hi in bounds:
        v = [r for a, b, r in ticks
             if (lo is None or a >= lo + unc) and (hi is None or b <= hi - unc)]
        out[name] = {"ticks": len(v), "median_ops_s": round(statistics.median(v)) if v else None,
                     "min_ops_s": round(min(v)) if v else None}
    b, r = out["before"]["median_ops_s"], out["repair"]["median_ops_s"]
    out["repair_over_before"] = round(r / b, 3) if b and r is not None else None
    d = out["detect"]["median_ops_s"]
    out["detect_over_before"] = round(d / b, 3) if b and d is not None else None
    return out


def main():
    cmd = sys.argv[1]
    if cmd == "vm":
        syncs = [tuple(float(x) for x in s.split(",")) for s in sys.argv[5:]]
        print(json.dumps(vm_phases(sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4]), syncs)))
        return 0
    if cmd == "held":
        mnt, url = sys.argv[2:4]
        s = stats(mnt) or {}
        print(next((r["held"] for r in s.get("servers", []) if r["url"] == url), 0))
        return 0
    if cmd == "start":
        log, url, t_kill, timeout = sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
        end = time.time() + timeout
        while time.time() < end:
            t = lease_line(log_lines(log, t_kill), url)
            if t is not None:
                print(f"{t:.3f}")
                return 0
            time.sleep(0.05)
        print(f"repair.py: {url} was not given up within {timeout:.0f} s", file=sys.stderr)
        return 1
    if cmd == "done":
        mnt, log, url = sys.argv[2:5]
        extents, t_kill, timeout = int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
        stop = sys.argv[8] if len(sys.argv) > 8 else None
        end = time.time() + timeout
        t_start = t_done = None
        rebuilt = []
        st = None
        while time.time() < end:
            lines = log_lines(log, t_kill)
            t_start = lease_line(lines, url)
            rebuilt = [t for t, line in lines if re.search(r": copy on \S+ rebuilt in \d+ ms", line)]
            st = stats(mnt)
            repl = (st or {}).get("replication")
            if t_start is not None and extents and len(rebuilt) >= extents:
                t_done = max(rebuilt)
                break
            if (t_start is not None and isinstance(repl, dict) and repl.get("degraded_bytes") == 0
                    and repl.get("repair_done_bytes")):
                t_done = max(rebuilt) if rebuilt else time.time()
                break
            time.sleep(0.05)
        if stop:
            open(stop, "w").close()
        if t_done is None:
            print(f"repair.py: the repair after {url} was killed did not finish in {timeout:.0f} s "
                  f"({len(rebuilt)} of {extents} copies rebuilt)", file=sys.stderr)
            return 1
        slab = (st or {}).get("slab_size", 64 << 20)
        repl = (st or {}).get("replication")
        done_b = repl.get("repair_done_bytes") if isinstance(repl, dict) else None
        mib = (done_b if done_b else extents * slab) / 1048576
        secs = t_done - t_start
        print(json.dumps({"bench": "repair", "samples": extents, "extents": extents,
                          "detect_s": round(t_start - t_kill, 3), "repair_s": round(secs, 3),
                          "rebuilt_mib": round(mib, 1),
                          "rebuilt_from": "stats" if done_b else "log",
                          "rate_limit_bytes_per_s": repl.get("repair_rate_limit_bytes_per_s")
                          if isinstance(repl, dict) else None,
                          "mib_s": round(mib / secs, 1) if secs > 0 else None}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
