#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""wb_writer.py FILE SIZE STOPFILE: write-back, round after round, until STOPFILE exists.

Each round fills the whole file through a shared mapping, every MiB with
its own 8-byte word (round << 32 | MiB) repeated, then msync()s it: the
kernel writes it back as WRITEs of up to 1 MiB.  An msync that fails (the
kernel saw a WRITE fail: the pages are clean, and their data is lost once
they are evicted) is printed as "round N: msync failed: ERROR".  At the
end it prints "rounds: N, msync errors: E, last round: L"; the file then
holds round L's pattern, which `wb_writer.py --check FILE SIZE L` verifies
(read with the page cache dropped first: POSIX_FADV_DONTNEED), printing
the MiBs that differ.
"""
import mmap
import os
import struct
import sys

MIB = 1 << 20


def chunk(rnd, i):
    return struct.pack("<Q", rnd << 32 | i) * (MIB // 8)


def write_rounds(path, size, stop):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, size)
    m = mmap.mmap(fd, size, mmap.MAP_SHARED)
    rnd = errors = 0
    while not os.path.exists(stop):
        rnd += 1
        for i in range(size // MIB):
            m[i * MIB:(i + 1) * MIB] = chunk(rnd, i)
        try:
            m.flush()
        except OSError as e:
            errors += 1
            print(f"round {rnd}: msync failed: {e.strerror}", flush=True)
    m.close()
    os.close(fd)
    print(f"rounds: {rnd}, msync errors: {errors}, last round: {rnd}", flush=True)
    return 1 if errors else 0


def check(path, size, rnd):
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    bad = []
    for i in range(size // MIB):
        if os.pread(fd, MIB, i * MIB) != chunk(rnd, i):
            bad.append(i)
    os.close(fd)
    if bad:
        print(f"{len(bad)} MiB differ from round {rnd}'s: MiB {bad[:16]}", flush=True)
        return 1
    print(f"verified {size // MIB} MiB of round {rnd}", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(write_rounds(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
