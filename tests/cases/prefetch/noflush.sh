#!/usr/bin/env bash
# A prefetch helper's close does not write the file back.  The kernel's
# flush on close (fuse_flush: write_inode_now) writes every dirty page of
# the whole file and write-protects it; a helper closes the file after every
# burst of windows, so without FOPEN_NOFLUSH on its handles a VM's dirty
# guest RAM went to the server again and again, and every page the guest
# wrote again faulted once more.  Here a process keeps 16 MiB of a file
# dirty through a shared mapping and then reads the rest of it in order:
# the prefetcher's helpers read ahead (counted), and the server receives
# (almost) nothing while they do; the dirty pages reach the server when the
# file is synced, intact.
# TIMEOUT: 200
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/prefetch.sh"
require_fuse

SIZE=$((96 << 20))
DIRTY=$((16 << 20))
start_memd memd --donate 256M --slab-size 16M --no-auth
start_fs fs mnt --server "$URL"
truncate -s $SIZE mnt/ram
"$MMAPIO" fill mnt/ram $SIZE 3 >/dev/null
flush_file mnt/ram
echo 3 >/proc/sys/vm/drop_caches

written() { "$XTEST" --server "$URL" stats | sed -n 's/^bytes_written=//p'; }

# dirties the first DIRTY bytes (a stamp per page), then, when told, touches
# every later page in order, then waits (its own close, at its exit, writes
# the file back: the kernel flushes on every close but a helper's)
step "16 MiB dirtied, then the rest read in order and prefetched"
b=$(pf_snap mnt /ram)
w0=$(written)
python3 - mnt/ram $DIRTY "$WORK" >dirtier.out 2>&1 <<'PY' &
import mmap, os, random, sys, time
path, dirty, wd = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(path, os.O_RDWR)
size = os.fstat(fd).st_size
m = mmap.mmap(fd, size, mmap.MAP_SHARED)
# in random order (the file's pages are written one by one, not in a
# stream), and kept dirty while the rest is read
order = list(range(dirty // 4096))
random.Random(1).shuffle(order)
for p in order:
    m[p * 4096:p * 4096 + 16] = b"dirty page %5d" % p
open(wd + "/dirtied", "w").close()
while not os.path.exists(wd + "/go"):
    time.sleep(0.05)
s = 0
for p in range(dirty // 4096, size // 4096):
    s += m[p * 4096]
open(wd + "/done", "w").close()
while not os.path.exists(wd + "/quit"):  # its own close would flush
    time.sleep(0.05)
PY
DPID=$!
for _ in $(seq 300); do [ -e dirtied ] && break; sleep 0.1; done
[ -e dirtied ] || { cat dirtier.out >&2; fail "the writer did not dirty its pages within 30 s"; }
touch go
for _ in $(seq 600); do [ -e done ] && break; kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
[ -e done ] || { cat dirtier.out >&2; fail "the reader did not finish within 60 s"; }
# the helpers close the file when idle, and exit a second later: wait for that
helpers() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["prefetch"]["helpers"])' mnt/.vofirm/stats.json; }
for _ in $(seq 100); do [ "$(helpers)" = 0 ] && break; sleep 0.1; done
[ "$(helpers)" = 0 ] || fail "the prefetch helpers did not exit within 10 s of being idle"
w1=$(written)
a=$(pf_snap mnt /ram)
echo "  $(pf_delta "$b" "$a" 'f"{d.demand_misses} misses, {d.used} prefetched pages used"'), $(((w1 - w0) >> 10)) KiB written to the server meanwhile"
[ "$(pf_delta "$b" "$a" 'd.used >= 4096')" = True ] ||
	fail "the sequential read was not prefetched: the case proves nothing"
[ $((w1 - w0)) -lt $((DIRTY / 4)) ] ||
	fail "$(((w1 - w0) >> 20)) MiB written to the server while helpers prefetched: a helper's close wrote the file back"

step "the dirty pages reach the server when synced, intact"
touch quit
wait "$DPID" || { cat dirtier.out >&2; fail "the reader failed"; }
flush_file mnt/ram
echo 3 >/proc/sys/vm/drop_caches
python3 - mnt/ram $DIRTY <<'PY' || fail "a dirtied page lost its stamp"
import sys
with open(sys.argv[1], "rb") as f:
    for p in range(int(sys.argv[2]) // 4096):
        f.seek(p * 4096)
        got = f.read(16)
        if got != b"dirty page %5d" % p:
            sys.exit(f"page {p} holds {got!r}, not its stamp")
PY
stop_fs mnt "$FS_PID"
