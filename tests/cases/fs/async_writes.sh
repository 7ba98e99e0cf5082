#!/usr/bin/env bash
# The write-back of scattered dirty pages is answered asynchronously
# (--write-depth): a FUSE thread sends each page to every copy and goes
# back to the kernel; the reply comes when every copy has it.  Proved
# here with two copies: the pages read back from each copy alone; with
# one copy's server paused the write-back still ends (the silent copy
# goes stale after --io-timeout, within the lease, and is rebuilt), and
# what was written then reads back from that rebuilt copy once the other
# server is killed; resizes racing the writes in flight lose nothing and
# invent nothing; and with
# --write-depth 0 nothing goes this way (the counters this test relies on
# can tell).
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((8 << 20)) # two extents of 4 MiB, each on both servers
PAGES=800 # of the 1024 even pages: none adjacent, one WRITE each

# dirty SEED: PAGES random pages of mnt/ram (pages picked by SEED) get a
# pattern of their own, one store each, then msync: scattered write-back
dirty() {
	python3 - mnt/ram $SIZE $PAGES "$1" <<'PY'
import mmap, os, random, sys
path, size, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fd = os.open(path, os.O_RDWR)
m = mmap.mmap(fd, size, mmap.MAP_SHARED)
rnd = random.Random(seed)
for pg in rnd.sample(range(0, size // 4096, 2), n):
    m[pg * 4096:(pg + 1) * 4096] = random.Random(seed * 1000003 + pg).randbytes(4096)
m.flush()
m.close()
os.close(fd)
PY
}

# check SEED...: every page holds what the last dirty SEED among them put
# there, or the fill's pattern of seed 1 (checked by mmapio for those)
check() {
	python3 - mnt/ram $SIZE $PAGES "$@" <<'PY'
import os, random, sys
path, size, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
want = {}
for seed in map(int, sys.argv[4:]):
    for pg in random.Random(seed).sample(range(0, size // 4096, 2), n):
        want[pg] = seed
with open(path, "rb") as f:
    data = f.read()
bad = [pg for pg, seed in want.items()
       if data[pg * 4096:(pg + 1) * 4096] != random.Random(seed * 1000003 + pg).randbytes(4096)]
if bad:
    print(f"{len(bad)} of {len(want)} written pages read back wrong, e.g. page {bad[0]}")
    sys.exit(1)
print(f"{len(want)} written pages read back")
PY
}

aw() { fsj "d['page_path']['async_writes']['$1']"; }

start_memd a --donate 64M --slab-size 4M --no-auth --lease 60s
A=$URL A_PID=$PID
start_memd b --donate 64M --slab-size 4M --no-auth --lease 60s
B=$URL B_PID=$PID
start_fs fs mnt --server "$A" --server "$B" --replicas 2 --repair-rate 2M \
	--io-timeout 1s --read-timeout 3s --connect-timeout 1s
"$MMAPIO" fill mnt/ram $SIZE 1

step "scattered write-back goes asynchronously, to both copies"
dirty 2
taken=$(aw taken) retried=$(aw retried)
echo "async writes: $taken taken, $retried retried"
[ "$taken" -ge $((PAGES * 9 / 10)) ] || fail "only $taken of $PAGES scattered page writes were asynchronous"
[ "$retried" = 0 ] || fail "$retried asynchronous writes needed a retry with both servers up"
[ "$(aw in_flight)" = 0 ] || fail "writes still in flight after msync returned"
drop_caches
check 2 || fail "the scattered writes do not read back"
repl_is degraded_bytes 0

step "$A paused: the write-back ends without it, its copies go stale"
sigstop "$A_PID"
dirty 3 || { kill -CONT "$A_PID"; fail "the write-back failed with one copy paused"; }
stopped "$A_PID" || fail "$A is not stopped any more: the pause did not cover the write-back"
retried=$(aw retried)
echo "async writes: $(aw taken) taken, $retried retried"
[ "$retried" -ge 1 ] || { kill -CONT "$A_PID"; fail "no asynchronous write was retried with $A paused"; }
[ "$(aw in_flight)" = 0 ] || { kill -CONT "$A_PID"; fail "writes still in flight after msync returned"; }
assert_grep "server $A: the copy in slab [0-9]+ missed a write" fs.log
[ "$(repl degraded_bytes)" -gt 0 ] || { kill -CONT "$A_PID"; fail "no copy went stale with $A paused"; }
drop_caches
check 2 3 || { kill -CONT "$A_PID"; fail "the writes made with $A paused do not read back"; }
kill -CONT "$A_PID"
wait_repl degraded_bytes -eq 0 60

step "kill -9 $B: the rebuilt copies on $A hold every write"
kill -KILL "$B_PID"
wait "$B_PID" 2>/dev/null || true
drop_caches
check 2 3 || fail "the copies on $A lack writes made asynchronously"
"$MMAPIO" fill mnt/ram $SIZE 4 || fail "writing to the copies on $A alone failed"

step "resizes race the writes in flight"
# a new mount over one server: 4 KiB pwrites at random pages (answered
# asynchronously) while the file shrinks to half and grows back, again
# and again; the half that is never cut holds the last write of each
# page, the other half only zeros or something written there
start_memd c --donate 64M --slab-size 4M --no-auth
C=$URL
start_fs fs2 mnt2 --server "$C" --io-timeout 2s
truncate -s $SIZE mnt2/ram
python3 - mnt2/ram $SIZE <<'PY' &
import os, random, sys
path, size = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY)
rnd = random.Random(7)
for i in range(4000):
    pg = rnd.randrange(size // 4096)
    os.pwrite(fd, (b"w%07d" % i) * 512, pg * 4096)
PY
writer=$!
while kill -0 $writer 2>/dev/null; do
	truncate -s $((SIZE / 2)) mnt2/ram
	truncate -s $SIZE mnt2/ram
done
wait $writer || fail "the writer failed while the file was resized"
truncate -s $SIZE mnt2/ram
drop_caches
python3 - mnt2/ram $SIZE <<'PY' || fail "a resize during asynchronous writes lost or invented data"
import random, sys
path, size = sys.argv[1], int(sys.argv[2])
data = open(path, "rb").read()
rnd = random.Random(7)
writes = {}
for i in range(4000):
    writes.setdefault(rnd.randrange(size // 4096), []).append((b"w%07d" % i) * 512)
half = size // 8192
for pg in range(size // 4096):
    page = data[pg * 4096:(pg + 1) * 4096]
    if pg < half:
        want = writes[pg][-1] if pg in writes else bytes(4096)
        if page != want:
            sys.exit(f"page {pg} (never cut) is {page[:8]!r}, not its last write {want[:8]!r}")
    elif page != bytes(4096) and page not in writes.get(pg, []):
        sys.exit(f"page {pg} (cut and regrown) holds {page[:8]!r}, never written there")
print("both halves as they should be")
PY
[ "$(MNT=mnt2 aw taken)" -gt 0 ] || fail "the resize case wrote nothing asynchronously"

step "--write-depth 0: every write waits on its FUSE thread"
stop_fs mnt2 "$FS_PID"
MNT=mnt2 start_fs fs3 mnt2 --server "$C" --write-depth 0
truncate -s $SIZE mnt2/ram
python3 -c '
import mmap, os, sys
fd = os.open("mnt2/ram", os.O_RDWR); m = mmap.mmap(fd, '$SIZE', mmap.MAP_SHARED)
for pg in range(0, '$SIZE' // 4096, 7): m[pg * 4096] = 1
m.flush()'
[ "$(MNT=mnt2 aw taken)" = 0 ] || fail "--write-depth 0 still wrote asynchronously"
echo "ok"
