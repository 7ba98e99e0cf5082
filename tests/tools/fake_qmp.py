#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A QMP peer that misbehaves on purpose, for vofirmctl's tests.

  fake_qmp.py serve SOCKET LOG SCENARIO [REPLIES.json]
      Listens on the UNIX socket SOCKET until killed, one client at a time.
      Every client's arrival ("connect") and every line it sends are
      appended to LOG.  SCENARIO:
        script          the greeting, then the replies below
        greeting-flood  a greeting line of 100 MiB that never ends
        reply-flood     the greeting, then a reply of 100 MiB that never ends
        event-flood     20000 events of 1 KiB before each reply
        event-stream    events every 2 ms, and no reply to anything after
                        qmp_capabilities
        deleted-flood   device_del d1 is answered after 50000 DEVICE_DELETED
                        events of other devices, then 2000 of d1
      Replies are raw JSON text, so that they can hold what no JSON library
      writes (nan, 1e400, a 30-digit integer).  REPLIES.json maps a command
      ("query-memory-devices") or a qom-get ("qom-get PATH PROPERTY") to the
      text of its "return"; it adds to or replaces the defaults below (a
      healthy VM: 1 GiB, 4 slots, maxmem 8 GiB, no memory device).  Anything
      else gets a CommandNotFound error.

  fake_qmp.py measure SECONDS COMMAND...
      Runs COMMAND (killed after SECONDS) and prints its output, then
      "measure: rc=RC maxrss_kib=KIB secs=S" (rc 124 if it was killed).
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

DEFAULTS = {
    "qmp_capabilities": "{}",
    "query-name": '{"name": "vm1"}',
    "query-memory-devices": "[]",
    "qom-get /machine memory": '{"size": 1073741824, "slots": 4, "max-size": 8589934592}',
    "query-memory-size-summary": '{"base-memory": 1073741824, "plugged-memory": 0}',
    "object-add": "{}",
    "device_add": "{}",
    "device_del": "{}",
    "object-del": "{}",
    "qom-set": "{}",
}
GREETING = b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}\n'
FLOOD = 100 << 20


def event(name, data):
    return (json.dumps({"event": name, "data": data,
                        "timestamp": {"seconds": int(time.time()), "microseconds": 0}}) + "\n").encode()


def send_endless(conn, head):
    """head, then bytes without a newline, up to FLOOD or until the client goes."""
    conn.sendall(head)
    chunk = b"x" * 65536
    for _ in range(FLOOD // len(chunk)):
        conn.sendall(chunk)


def key_of(msg):
    cmd = msg.get("execute", "")
    if cmd in ("qom-get", "qom-set"):
        args = msg.get("arguments", {})
        return f"{cmd} {args.get('path')} {args.get('property')}", cmd
    return cmd, cmd


def serve_client(conn, scenario, replies, log):
    if scenario == "greeting-flood":
        send_endless(conn, b'{"QMP": {"version": "')
        return
    conn.sendall(GREETING)
    f = conn.makefile("rb")
    padding = "p" * 1000
    for line in f:
        log.write(line.decode(errors="replace").rstrip("\n") + "\n")
        log.flush()
        msg = json.loads(line)
        key, cmd = key_of(msg)
        mid = json.dumps(msg.get("id"))
        if cmd != "qmp_capabilities":
            if scenario == "reply-flood":
                send_endless(conn, b'{"return": "')
                return
            if scenario == "event-stream":
                while True:
                    conn.sendall(event("RTC_CHANGE", {"offset": 1}))
                    time.sleep(0.002)
            if scenario == "event-flood":
                ev = event("RTC_CHANGE", {"offset": 1, "padding": padding})
                conn.sendall(ev * 20000)
            if scenario == "deleted-flood" and cmd == "device_del":
                conn.sendall(b"".join(event("DEVICE_DELETED", {"device": f"other{i}",
                                                                 "path": f"/machine/peripheral/other{i}"})
                                      for i in range(50000)))
                conn.sendall(event("DEVICE_DELETED", {"device": "d1", "path": "/machine/peripheral/d1"}) * 2000)
        raw = replies.get(key, replies.get(cmd))
        if raw is None:
            out = '{"error": {"class": "CommandNotFound", "desc": "not in this fake"}, "id": %s}' % mid
        else:
            out = '{"return": %s, "id": %s}' % (raw, mid)
        conn.sendall(out.encode() + b"\n")


def serve(path, logfile, scenario, replies_file=None):
    replies = dict(DEFAULTS)
    if scenario == "deleted-flood":
        replies["query-memory-devices"] = ('[{"type": "dimm", "data": {"id": "d1", "memdev": '
                                           '"/objects/d1-mem", "size": 134217728, "slot": 0, '
                                           '"addr": 4294967296, "node": 0, "hotplugged": true, '
                                           '"hotpluggable": true}}]')
        replies["qom-get /objects/d1-mem mem-path"] = '"/nonexistent/d1"'
    if replies_file:
        with open(replies_file) as f:
            replies.update(json.load(f))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(4)
    with open(logfile, "a") as log:
        while True:
            conn, _ = srv.accept()
            log.write("connect\n")
            log.flush()
            try:
                serve_client(conn, scenario, replies, log)
            except (BrokenPipeError, ConnectionResetError):
                pass
            conn.close()


def measure(secs, argv):
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    killer = threading.Timer(secs, p.kill)
    killer.start()
    out = p.stdout.read()
    killer.cancel()
    # reaped here, not by Popen: wait4 gives the child's own peak RSS
    _, status, ru = os.wait4(p.pid, 0)
    rc = p.returncode = os.waitstatus_to_exitcode(status)
    if rc == -9:
        rc = 124
    sys.stdout.write(out.decode(errors="replace"))
    print(f"measure: rc={rc} maxrss_kib={ru.ru_maxrss} secs={time.monotonic() - start:.1f}")


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "serve":
        serve(*sys.argv[2:6])
    elif len(sys.argv) >= 4 and sys.argv[1] == "measure":
        measure(float(sys.argv[2]), sys.argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
