#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A storm of namespace and size changes on a vofirm-fs mount while its
worker is killed at random moments (tests/cases/crash/storm.sh).

  storm.py MNT --xtest PATH --server URL [--server URL...] [--slab BYTES]
           [--kills N] [--seconds S] [--threads T] [--seed X]

T threads each own a subtree MNT/tK and change it at random: create,
write, truncate (grow and shrink), fallocate PUNCH_HOLE, unlink, rename
(over another file too), mkdir, rmdir.  Each keeps a model of its subtree
built from the operations the kernel ACKNOWLEDGED (every file's bytes,
every directory).  Meanwhile the main thread SIGKILLs the worker (its pid
from MNT/.vofirm/stats.json) N times, at random moments, and after each
new worker serves, pauses the threads and checks, against the models:

  - the tree, read from the file system (readdir), not the kernel's cache;
  - every file's size in stats.json (the worker's own view) and its
    reserved memory (ceil(size / slab) slabs);
  - every file's bytes, read with the page cache dropped (every few kills);
  - the servers: the slabs they have granted (vofirm-xtest stats) equal
    what the files' sizes need, once any orphans are freed.

An operation under way when a kill was sent may or may not have been
applied (and the new worker may run it a second time: FUSE_NOTIFY_RESEND):
for that one only, either outcome is accepted, and an error from it too.
Every other operation must have done exactly what it said.  Output: one
line per kill, then "storm: OK ..." (exit 0) or what differs (exit 1).
"""
import argparse
import ctypes
import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

MAXSIZE = 3 << 20
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]

DIR = "DIR"
ABSENT = None


def log(*a):
    print(*a, flush=True)


class Failure(Exception):
    pass


class Storm:
    def __init__(self, a):
        self.a = a
        self.mnt = a.mnt
        # kills sent, and kills over (a new worker serves): an operation that
        # ends after a kill was sent that was not over when it started may
        # have been under way in the killed worker
        self.kills_sent = 0
        self.kills_over = 0
        self.lock = threading.Lock()
        self.pause = threading.Event()
        self.stop = False
        self.errors = []
        self.acked = 0
        self.uncertain_total = 0
        self.unapplied = 0
        self.journal = open(a.journal, "w") if a.journal else None

    def stats(self):
        with open(os.path.join(self.mnt, ".vofirm/stats.json")) as f:
            return json.load(f)

    def note(self, text):
        if self.journal:
            with self.lock:
                self.journal.write(text + "\n")
                self.journal.flush()


class Worker(threading.Thread):
    """One thread of the storm, on its own subtree; model: relative path ->
    DIR or bytearray (a file's bytes)."""

    def __init__(self, storm, k, rnd):
        super().__init__(daemon=True)
        self.s = storm
        self.k = k
        self.rnd = rnd
        self.root = "t%d" % k
        self.model = {self.root: DIR}
        self.uncertain = None  # (what, {path: before}, {path: after}, error)
        self.idle = threading.Event()
        self.n = 0
        os.mkdir(os.path.join(storm.mnt, self.root))

    def path(self, rel):
        return os.path.join(self.s.mnt, rel)

    def files(self):
        return [p for p, v in self.model.items() if v is not DIR]

    def dirs(self):
        return [p for p, v in self.model.items() if v is DIR]

    def new_name(self, prefix):
        d = self.rnd.choice(self.dirs())
        self.n += 1
        return "%s/%s%d" % (d, prefix, self.n)

    # Each op returns (what, {path: after}) for the model and runs the syscall;
    # `before` is read from the model for the same paths.
    def op(self):
        r = self.rnd
        files, dirs = self.files(), self.dirs()
        choices = ["create"] * (3 if len(files) < 8 else 0) + ["mkdir"] * (1 if len(dirs) < 5 else 0)
        if files:
            choices += ["write"] * 3 + ["truncate"] * 4 + ["punch"] * 2 + ["unlink"] * (
                2 if len(files) > 3 else 1) + ["rename"] * 2
        empty = [d for d in dirs if d != self.root and
                 not any(p.startswith(d + "/") for p in self.model)]
        if empty:
            choices.append("rmdir")
        what = r.choice(choices)
        if what == "create":
            p = self.new_name("f")
            return what + " " + p, {p: bytearray()}, lambda: os.close(
                os.open(self.path(p), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        if what == "mkdir":
            p = "%s/d%d" % (self.root, self.n + 1)
            self.n += 1
            return what + " " + p, {p: DIR}, lambda: os.mkdir(self.path(p))
        if what == "rmdir":
            p = r.choice(empty)
            return what + " " + p, {p: ABSENT}, lambda: os.rmdir(self.path(p))
        p = r.choice(files)
        old = self.model[p]
        if what == "write":
            off = r.randrange(0, MAXSIZE - 65536)
            if r.random() < 0.5 and len(old):
                off = r.randrange(0, len(old))
            data = os.urandom(r.randrange(1, 65536))
            new = bytearray(old)
            if len(new) < off:
                new.extend(bytes(off - len(new)))
            new[off:off + len(data)] = data

            after = {p: new}

            def run():
                fd = os.open(self.path(p), os.O_WRONLY)
                try:
                    n = os.pwrite(fd, data, off)
                    if n != len(data):
                        # The first n bytes are written (POSIX): that is the
                        # state to expect.  The kernel splits a write at a
                        # partial page it does not have, and ends a request
                        # whose copy to a dying worker failed with EIO, so
                        # a write under way at a kill may come back short.
                        part = bytearray(old)
                        if len(part) < off:
                            part.extend(bytes(off - len(part)))
                        part[off:off + n] = data[:n]
                        after[p] = part
                        raise OSError(errno.EIO, "short write: %d of %d bytes" % (n, len(data)))
                finally:
                    os.close(fd)
            return "%s %s %d+%d" % (what, p, off, len(data)), after, run
        if what == "truncate":
            size = r.choice([0, r.randrange(0, MAXSIZE), r.randrange(0, 4) << 20 >> 1,
                             len(old) + r.randrange(1, 1 << 20), len(old) // 2])
            size = min(size, MAXSIZE)
            new = bytearray(old[:size]) + bytes(max(0, size - len(old)))
            return "%s %s %d" % (what, p, size), {p: new}, lambda: os.truncate(self.path(p), size)
        if what == "punch":
            if not len(old):
                return "punch(empty) " + p, {p: old}, lambda: None
            off = r.randrange(0, len(old))
            ln = r.randrange(1, len(old) - off + 1)
            new = bytearray(old)
            new[off:off + ln] = bytes(ln)

            def run():
                fd = os.open(self.path(p), os.O_WRONLY)
                try:
                    if libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, ln):
                        e = ctypes.get_errno()
                        raise OSError(e, os.strerror(e))
                finally:
                    os.close(fd)
            return "%s %s %d+%d" % (what, p, off, ln), {p: new}, run
        if what == "unlink":
            return what + " " + p, {p: ABSENT}, lambda: os.unlink(self.path(p))
        # rename, over another file of the subtree half of the time
        others = [f for f in files if f != p]
        q = r.choice(others) if others and r.random() < 0.5 else self.new_name("r")
        return "rename %s %s" % (p, q), {p: ABSENT, q: old}, lambda: os.rename(
            self.path(p), self.path(q))

    def run(self):
        try:
            while not self.s.stop:
                if self.s.pause.is_set():
                    self.idle.set()
                    while self.s.pause.is_set() and not self.s.stop:
                        time.sleep(0.01)
                    self.idle.clear()
                    continue
                if self.uncertain:
                    time.sleep(0.01)  # no more until the check says what it did
                    continue
                self.step()
        except Exception as e:  # noqa: BLE001 - reported, then the storm stops
            self.s.errors.append("thread %d: %r" % (self.k, e))
        finally:
            self.idle.set()

    def step(self):
        what, after, run = self.op()
        before = {p: self.model.get(p) for p in after}
        k0 = self.s.kills_over
        err = None
        try:
            run()
        except OSError as e:
            err = e
        k1 = self.s.kills_sent
        if k1 != k0:
            # under way when a worker was killed: applied or not, checked later
            self.uncertain = (what, before, after, err)
            self.s.uncertain_total += 1
            self.s.note("? %s%s" % (what, " -> %s" % err if err else ""))
            for p, v in after.items():
                self.set(p, v)
            return
        if err:
            raise Failure("%s failed with no kill under way: %s" % (what, err))
        for p, v in after.items():
            self.set(p, v)
        self.s.acked += 1
        self.s.note("+ %s" % what)

    def set(self, p, v):
        if v is ABSENT:
            self.model.pop(p, None)
        else:
            self.model[p] = v


def size_of(v):
    return -1 if v is DIR else len(v)


class Checker:
    def __init__(self, storm, threads):
        self.s = storm
        self.threads = threads

    def actual(self, rel, files):
        """What the file system says of rel: ABSENT, DIR or a file's size."""
        if rel in files:
            return files[rel]
        try:
            st = os.lstat(os.path.join(self.s.mnt, rel))
        except FileNotFoundError:
            return ABSENT
        return DIR if os.path.isdir(os.path.join(self.s.mnt, rel)) else st.st_size

    def tree(self, t):
        """The subtree of thread t, by readdir: path -> DIR or 'file'."""
        out = {t.root: DIR}
        todo = [t.root]
        while todo:
            d = todo.pop()
            for e in os.scandir(os.path.join(self.s.mnt, d)):
                rel = d + "/" + e.name
                if e.is_dir(follow_symlinks=False):
                    out[rel] = DIR
                    todo.append(rel)
                else:
                    out[rel] = "file"
        return out

    def read(self, rel, n):
        fd = os.open(os.path.join(self.s.mnt, rel), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            data = bytearray()
            while len(data) < n + 1:
                b = os.pread(fd, n + 1 - len(data), len(data))
                if not b:
                    break
                data += b
            return data
        finally:
            os.close(fd)

    def matches(self, v, rel, tree, files, contents):
        got = tree.get(rel)
        if v is ABSENT:
            return got is None and rel not in files
        if v is DIR:
            return got is DIR
        if got != "file" or files.get(rel) != len(v):
            return False
        return not contents or self.read(rel, len(v)) == v

    def check(self, contents):
        st = self.s.stats()
        slab = st["slab_size"]
        files, reserved = {}, {}
        problems = []
        for f in st["files"]:
            if f["path"].startswith("(deleted) "):
                # removed, and not forgotten by the kernel yet: at a quiet
                # point nothing has it open, so it holds no memory
                if f["reserved"]:
                    problems.append("the removed file %s still holds %d bytes, with no "
                                    "handle open" % (f["path"], f["reserved"]))
                continue
            rel = f["path"].lstrip("/")
            files[rel] = f["size"]
            reserved[rel] = f["reserved"]
        need = 0
        for t in self.threads:
            tree = self.tree(t)
            if t.uncertain:
                what, before, after, err = t.uncertain
                t.uncertain = None
                if all(self.matches(v, p, tree, files, True) for p, v in after.items()):
                    self.s.note("  %s: applied" % what)
                elif all(self.matches(v, p, tree, files, True) for p, v in before.items()):
                    self.s.note("  %s: not applied" % what)
                    self.s.unapplied += 1
                    for p, v in before.items():
                        t.set(p, v)
                else:
                    problems.append("%s (under way at a kill%s) left neither the state before "
                                    "nor the state after it: %s" %
                                    (what, ", failed: %s" % err if err else "",
                                     {p: self.actual(p, files) for p in after}))
            for rel, v in sorted(t.model.items()):
                got = tree.get(rel)
                if v is DIR:
                    if got is not DIR:
                        problems.append("directory %s: %s" % (rel, "missing" if got is None
                                                               else "is a file"))
                    continue
                need += (len(v) + slab - 1) // slab
                if got != "file":
                    problems.append("file %s (%d bytes): %s" % (rel, len(v), "missing" if got
                                    is None else "is a directory"))
                    continue
                if files.get(rel) != len(v):
                    problems.append("file %s: %s bytes in stats.json, the acknowledged "
                                    "operations say %d" % (rel, files.get(rel), len(v)))
                elif reserved.get(rel) != (len(v) + slab - 1) // slab * slab:
                    problems.append("file %s: %s bytes reserved for %d bytes" %
                                    (rel, reserved.get(rel), len(v)))
                elif contents:
                    data = self.read(rel, len(v))
                    if data != v:
                        at = next((i for i in range(min(len(data), len(v)))
                                   if data[i] != v[i]), min(len(data), len(v)))
                        problems.append("file %s: its bytes differ from offset %d (read %d "
                                        "bytes)" % (rel, at, len(data)))
            for rel in sorted(set(tree) - set(t.model)):
                problems.append("%s %s is there, and no acknowledged operation made it" %
                                ("directory" if tree[rel] is DIR else "file", rel))
        for rel in files:
            if not any(rel.startswith(t.root + "/") for t in self.threads):
                problems.append("stats.json lists a file outside the storm: /%s" % rel)
        return problems, need, files

    def granted(self):
        n = 0
        for url in self.s.a.server:
            out = subprocess.run([self.s.a.xtest, "--server", url, "stats"], check=True,
                                 capture_output=True, text=True).stdout
            n += int(next(line.split("=")[1] for line in out.splitlines()
                          if line.startswith("slabs_granted=")))
        return n


def wait_worker(storm, old, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            w = storm.stats()["worker_pid"]
            if w != old:
                return w
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise Failure("no new worker within %d s of killing %d" % (timeout, old))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mnt")
    ap.add_argument("--xtest", required=True)
    ap.add_argument("--server", action="append", required=True)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=90, help="stop killing after this")
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--journal")
    a = ap.parse_args()
    log("storm: seed %d, %d threads, %d kills" % (a.seed, a.threads, a.kills))
    rnd = random.Random(a.seed)
    s = Storm(a)
    threads = [Worker(s, k, random.Random(rnd.random())) for k in range(a.threads)]
    chk = Checker(s, threads)
    for t in threads:
        t.start()
    start = time.time()
    kills = 0
    problems = []
    try:
        while kills < a.kills and time.time() - start < a.seconds and not s.errors:
            time.sleep(rnd.uniform(0.2, 1.2))
            old = s.stats()["worker_pid"]
            s.kills_sent += 1
            os.kill(old, signal.SIGKILL)
            t0 = time.time()
            new = wait_worker(s, old)
            s.kills_over += 1
            kills += 1
            serve_ms = (time.time() - t0) * 1000
            # a quiet point: every thread done with its operation
            s.pause.set()
            for t in threads:
                if not t.idle.wait(60):
                    raise Failure("thread %d is stuck in an operation (a request lost?)" % t.k)
            contents = kills % 3 == 0 or kills == a.kills
            problems, need, files = chk.check(contents)
            got = chk.granted()
            for _ in range(100):  # orphans are freed once the worker is back on the server
                if got == need or problems:
                    break
                time.sleep(0.1)
                got = chk.granted()
            if got != need:
                problems.append("the servers have %d slabs granted; the files' sizes need %d" %
                                (got, need))
            log("kill %d: worker %d -> %d (serving in %.0f ms); %d files, %d slabs; %d "
                "operations acknowledged%s%s" %
                (kills, old, new, serve_ms, len(files), need, s.acked,
                 ", contents checked" if contents else "",
                 "; PROBLEMS" if problems else ""))
            if problems:
                break
            s.pause.clear()
    except Failure as e:
        problems.append(str(e))
    s.stop = True
    s.pause.clear()
    for t in threads:
        t.join(60)
    problems += s.errors
    if problems:
        for p in problems:
            log("storm: " + p)
        log("storm: FAILED after %d kills (seed %d)" % (kills, a.seed))
        return 1
    log("storm: OK: %d kills, %d operations acknowledged and checked, %d under way at a "
        "kill (%d of them not applied), in %.0f s" %
        (kills, s.acked, s.uncertain_total, s.unapplied, time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
