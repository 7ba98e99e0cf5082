#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Races a sequential reader with a writer just ahead of it (fetch-ahead).

  fa_race.py fill FILE SIZE          every 4 KiB page: its index, generation 0
  fa_race.py race FILE SIZE SECONDS  read FILE sequentially (128 KiB O_DIRECT
                                     READs, so every one reaches vofirm-fs)
                                     while a thread writes pages (4 KiB
                                     O_DIRECT, a new generation each) up to
                                     3 MiB ahead of the reader: in the windows
                                     fetched ahead of it
  fa_race.py rand FILE SIZE COUNT    COUNT 128 KiB O_DIRECT READs at random
                                     offsets, verified
  fa_race.py stall FILE SIZE PID     read sequentially (128 KiB O_DIRECT) to
                                     4 MiB, stop the server PID (SIGSTOP) and
                                     read on until a READ fails (the windows
                                     ahead fail to fetch), continue it
                                     (SIGCONT): every READ after that must
                                     succeed and verify, those in windows
                                     whose fetch failed included

Every page read must hold its own index and a generation no older than
the last write to it that had returned before the read began, and no
newer than the last one begun by the time it ended.  Exits 1 on the
first pass with a stale or wrong page (up to 5 described).
"""
import mmap
import os
import random
import struct
import sys
import threading
import time

PG, CH = 4096, 128 << 10


def page(pg, gen):
    head = struct.pack("<QQ", pg, gen)
    return head + bytes([(pg * 7 + gen) & 0xFF]) * (PG - len(head))


def fill(path, size):
    with open(path, "wb") as f:
        for off in range(0, size, CH):
            f.write(b"".join(page(pg, 0) for pg in range(off // PG, (off + CH) // PG)))
    return 0


def check(buf, off, before, after):
    """Bad pages of the CH bytes read at off (their descriptions)."""
    bad = []
    for i in range(CH // PG):
        pg = off // PG + i
        got_pg, gen = struct.unpack_from("<QQ", buf, i * PG)
        if (got_pg != pg or gen < before[i] or gen > after[i]
                or buf[i * PG:(i + 1) * PG] != page(pg, gen)):
            bad.append(f"page {pg}: read generation {gen} (header says page {got_pg}); "
                       f"written before the read began: {before[i]}, begun by its end: {after[i]}")
    return bad


def race(path, size, secs):
    npg = size // PG
    fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    done = [0] * npg     # the last generation whose write had returned
    started = [0] * npg  # the last generation whose write had begun
    pos = [0]
    stop = threading.Event()
    writes = [0]

    def writer():
        rnd = random.Random(1)
        wbuf = mmap.mmap(-1, PG)
        gen = 0
        while not stop.is_set():
            pg = (pos[0] // PG + rnd.randrange(0, (3 << 20) // PG)) % npg
            gen += 1
            started[pg] = gen
            wbuf[:] = page(pg, gen)
            os.pwritev(fd, [wbuf], pg * PG)
            done[pg] = gen
            writes[0] += 1
            time.sleep(0.0005)

    t = threading.Thread(target=writer)
    t.start()
    rbuf = mmap.mmap(-1, CH)
    passes = checked = 0
    bad = []
    end = time.time() + secs
    try:
        while time.time() < end and not bad:
            for off in range(0, size, CH):
                pos[0] = off
                before = done[off // PG:(off + CH) // PG]
                n = os.preadv(fd, [rbuf], off)
                after = started[off // PG:(off + CH) // PG]
                if n != CH:
                    bad.append(f"short read at {off}: {n} bytes")
                    break
                bad += check(rbuf, off, before, after)
                checked += CH // PG
            passes += 1
    finally:
        stop.set()
        t.join()
    for b in bad[:5]:
        print(b)
    print(f"{passes} passes, {checked} pages checked, {writes[0]} pages written meanwhile, "
          f"{len(bad)} stale or wrong")
    return 1 if bad or not passes else 0


def rand(path, size, count):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    rbuf = mmap.mmap(-1, CH)
    rnd = random.Random(2)
    zero = [0] * (CH // PG)
    for _ in range(count):
        off = rnd.randrange(0, size // CH) * CH
        if os.preadv(fd, [rbuf], off) != CH:
            print(f"short read at {off}")
            return 1
        bad = check(rbuf, off, zero, zero)
        if bad:
            print(bad[0])
            return 1
    print(f"{count} random reads verified")
    return 0


def stall(path, size, pid):
    import signal
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    rbuf = mmap.mmap(-1, CH)
    zero = [0] * (CH // PG)

    def read(off):
        if os.preadv(fd, [rbuf], off) != CH:
            raise OSError(0, f"short read at {off}")
        bad = check(rbuf, off, zero, zero)
        if bad:
            raise OSError(0, bad[0])

    off = 0
    while off < 4 << 20:
        read(off)
        off += CH
    time.sleep(0.5)  # the windows ahead fetched
    os.kill(pid, signal.SIGSTOP)
    failed = None
    try:
        while off < size - (2 << 20):
            try:
                read(off)
            except OSError as e:
                failed = (off, e)
                break
            off += CH
    finally:
        os.kill(pid, signal.SIGCONT)
    if not failed:
        print(f"no READ failed with the server stopped (read to {off})")
        return 1
    print(f"with the server stopped, the READ at {failed[0]} failed: {failed[1]}")
    time.sleep(0.5)
    for o in range(failed[0] + CH, min(size, failed[0] + (3 << 20)), CH):
        try:
            read(o)
        except OSError as e:
            print(f"after SIGCONT, the READ at {o} failed: {e}")
            return 1
    read(failed[0])
    print("after SIGCONT every READ succeeded and verified")
    return 0


if __name__ == "__main__":
    cmd, path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "fill":
        sys.exit(fill(path, size))
    if cmd == "race":
        sys.exit(race(path, size, float(sys.argv[4])))
    if cmd == "rand":
        sys.exit(rand(path, size, int(sys.argv[4])))
    if cmd == "stall":
        sys.exit(stall(path, size, int(sys.argv[4])))
    sys.exit(f"unknown command {cmd}")
