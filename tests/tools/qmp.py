#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A minimal QMP client for the tests: qmp.py SOCKET COMMAND [JSON-ARGS]...

Each COMMAND/JSON-ARGS pair is executed in order; every reply is printed
as one JSON line ({"return": ...} or {"error": ...}); events are printed as
they arrive.  Exit status: 0 when every command returned, 1 when one
failed (the rest are not run), 2 for a connection problem.
"""
import json
import socket
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.connect(sys.argv[1])
    except OSError as e:
        print(f"qmp.py: cannot connect to {sys.argv[1]}: {e}", file=sys.stderr)
        return 2
    f = sock.makefile("rw")
    json.loads(f.readline())  # greeting

    def run(cmd, args=None):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        f.write(json.dumps(msg) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "event" in r:
                print(json.dumps(r), flush=True)
                continue
            return r

    run("qmp_capabilities")
    rest = sys.argv[2:]
    while rest:
        cmd = rest.pop(0)
        args = None
        if rest and rest[0].startswith("{"):
            args = json.loads(rest.pop(0))
        r = run(cmd, args)
        print(json.dumps(r), flush=True)
        if "error" in r:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
