# SPDX-License-Identifier: GPL-2.0-or-later
"""One migration case of make bench (scripts/bench.sh, VOFIRM_BENCH_MIGRATE):

  migrate.py CASE WORKDIR SRC_MNT DST_MNT DIMM_MIB

CASE is
  vofirm  the VM's DIMM on vofirm, vofirmctl migrate (x-ignore-shared)
  plain   the same VM, QEMU's own migration: the DIMM's pages are copied
          into a DIMM file of the destination's (on DST_MNT)
  floor   the same VM without its DIMM: only base RAM and devices move
A guest workload keeps rewriting tmpfs data on the DIMM during the
migration (the floor has neither): one long-lived process with one
mapping, as a VM's workload is (a new process per pass would write fresh
page tables, in base RAM, on every pass), at DIRTY_MIB_S.  Prints one
JSON object: total_ms, downtime_ms, bytes_sent, bytes_flushed (null where
nothing is flushed)."""
import json
import os
import socket
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VM = [sys.executable, os.path.join(TOP, "tests/tools/vm.py")]
CTL = os.path.join(TOP, "build/vofirmctl")
BASE = "262016K"  # QEMU 7.2 under TCG: see docs/qemu.md
# The workload's dirty rate, MiB/s.  Unpaced, a TCG guest rewrites its
# DIMM at about 700 MiB/s: faster than any migration moves it (plain's
# pre-copy never converges; it ended after 103 s and 19 GiB), faster than
# the write-back of vofirm's flushes.  A busy VM's rate, within what a
# 1 GiB/s migration link can carry.
DIRTY_MIB_S = 64


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rw")
        json.loads(self.f.readline())
        self("qmp_capabilities")

    def close(self):
        # QEMU's QMP socket serves one client at a time: vm.py's stop needs it
        self.f.close()
        self.s.close()

    def __call__(self, cmd, **args):
        self.f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"{cmd}: {r['error']['desc']}")
            return r["return"]


def run(*a, **kw):
    return subprocess.run(list(a), check=True, **kw)


def main():
    case, work, src_mnt, dst_mnt, dimm = sys.argv[1:6]
    dimm = int(dimm) << 20
    src, dst = os.path.join(work, "src"), os.path.join(work, "dst")
    for d in (src, dst):
        subprocess.run(VM + ["stop", d], stderr=subprocess.DEVNULL)
    run(*VM, "start", src, "--name", "msrc", "--mem", BASE, stdout=subprocess.DEVNULL)
    qmps = []
    try:
        data_mib = 0
        if case != "floor":
            run(CTL, "grow", "--qmp", f"{src}/qmp.sock", "--mount", src_mnt,
                "--size", str(dimm), "--id", "dimm1", stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            data_mib = (dimm >> 20) * 3 // 4
            run(*VM, "run", src, "for i in $(seq 600); do [ $(awk '/MemTotal/ {print $2}' "
                f"/proc/meminfo) -ge {(262016 + (dimm >> 10))} ] && break; sleep 0.1; done")
        # the workload: tmpfs data (on the DIMM, movable) rewritten over and
        # over by one process; the floor has no DIMM and no workload: base
        # RAM and devices
        if case != "floor":
            run(*VM, "run", src, f"mkdir -p /data && mount -t tmpfs -o size={data_mib + 32}m d "
                f"/data && vofirm-mmapio fill /data/blob {data_mib << 20} 1 >/dev/null && "
                f"(vofirm-mmapio rewrite /data/blob {data_mib << 20} 2 {DIRTY_MIB_S} "
                "</dev/null >/dev/null 2>&1 &)", stdout=subprocess.DEVNULL)
        time.sleep(2)
        run(*VM, "start", dst, "--name", "mdst", "--mem", BASE, "--incoming",
            stdout=subprocess.DEVNULL)
        if case == "vofirm":
            out = run(CTL, "migrate", "--qmp", f"{src}/qmp.sock", "--to-qmp",
                      f"{dst}/qmp.sock", "--mount", src_mnt, "--to-mount", dst_mnt, "--json",
                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
            print(out.decode().strip())
            return
        sq, dq = Qmp(f"{src}/qmp.sock"), Qmp(f"{dst}/qmp.sock")
        qmps.extend((sq, dq))
        if case == "plain":
            devs = sq("query-memory-devices")
            d = [x["data"] for x in devs if x["type"] == "dimm"][0]
            f = os.path.join(os.path.realpath(dst_mnt), "plain-dimm1")
            with open(f, "wb") as fh:
                fh.truncate(dimm)  # reserved on the destination's mount
            dq("object-add", **{"qom-type": "memory-backend-file", "id": "dimm1-mem",
                                "mem-path": f, "size": dimm, "share": True})
            dq("device_add", driver="pc-dimm", id="dimm1", memdev="dimm1-mem",
               addr=d["addr"])
        caps = [{"capability": "return-path", "state": True}]
        dq("migrate-set-capabilities", capabilities=caps)
        sq("migrate-set-capabilities", capabilities=caps)
        sq("migrate-set-parameters", **{"max-bandwidth": 1 << 30, "downtime-limit": 20})
        uri = f"unix:{dst}/mig.sock"
        dq("migrate-incoming", uri=uri)
        sq("migrate", uri=uri)
        while True:
            r = sq("query-migrate")
            if r.get("status") in ("failed", "cancelled"):
                sys.exit(f"migrate.py: {case}: {r}")
            if r.get("status") == "completed" and r.get("total-time"):
                break
            time.sleep(0.005)
        print(json.dumps({"total_ms": r["total-time"], "downtime_ms": r.get("downtime", 0),
                          "bytes_sent": r["ram"]["transferred"], "bytes_flushed": None}))
    finally:
        for q in qmps:
            q.close()
        for d in (src, dst):
            subprocess.run(VM + ["stop", d], stderr=subprocess.DEVNULL)
        for m in (src_mnt, dst_mnt):
            for p in ("msrc/dimm1", "plain-dimm1"):
                try:
                    os.unlink(os.path.join(m, p))
                except OSError:
                    pass


main()
