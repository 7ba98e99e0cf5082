#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""logwait.py FILE OFFSET TEXT SECS: waits until a line containing TEXT is
written to FILE past byte OFFSET (polled every millisecond), and prints
it; exit 0, or 1 after SECS seconds."""
import sys
import time


def main():
    path, off, text, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    end = time.monotonic() + secs
    with open(path, errors="replace") as f:
        f.seek(off)
        part = ""
        while time.monotonic() < end:
            chunk = f.readline()
            if not chunk:
                time.sleep(0.001)
                continue
            part += chunk
            if not part.endswith("\n"):
                continue
            if text in part:
                print(part, end="", flush=True)
                return 0
            part = ""
    return 1


if __name__ == "__main__":
    sys.exit(main())
