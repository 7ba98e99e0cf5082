#!/usr/bin/env bash
# Asynchronous writes (the write-back of scattered pages) are held back
# while others sent on the same connection are unanswered, and go with
# the next reply, many to a sendmsg() (VF_OP_F_BATCH, transport/tcp.c).
# Proved here: the server's requests_sent / send_calls (the transport's own
# count) shows batches during a scattered write-back; and a mix that could
# hang a reader that sends (large READ replies in flight while writes are
# held: it must never block on a full socket) runs for seconds with
# nothing timed out, no write retried, and every byte verified.
# TIMEOUT: 180
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((32 << 20))
PAGES=3000 # scattered: even pages only, one WRITE each

# dirty SEED: PAGES random even pages of mnt/ram get a pattern of their
# own, one store each, then msync
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

# check SEED...: each page holds what the last dirty SEED among them put there
check() {
	python3 - mnt/ram $SIZE $PAGES "$@" <<'PY'
import random, sys
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

start_memd a --donate 128M --slab-size 8M --no-auth
A=$URL
start_fs fs mnt --server "$A" --io-timeout 3s
"$MMAPIO" fill mnt/ram $SIZE 1
"$MMAPIO" fill mnt/big $SIZE 5

step "a scattered write-back goes in batches"
# The pages are resident first, so that the counts are the write-back's
# alone.  Another process dropping the page cache meanwhile (a test that
# runs beside this one) turns the stores into READ faults, one request
# and one send each: the count is then not the write-back's, and the
# round is done again (the same pages, the same data).
for try in 1 2 3; do
	cat mnt/ram >/dev/null
	req0=$(srv_field "$A" requests_sent) calls0=$(srv_field "$A" send_calls)
	reads0=$(srv_field "$A" reads)
	[ "$req0" != MISSING ] && [ "$calls0" != MISSING ] && [ "$reads0" != MISSING ] ||
		fail "stats.json has no requests_sent/send_calls/reads for $A: $(fsj "d['servers']")"
	dirty 2
	req=$(($(srv_field "$A" requests_sent) - req0)) calls=$(($(srv_field "$A" send_calls) - calls0))
	reads=$(($(srv_field "$A" reads) - reads0))
	echo "write-back of $PAGES pages: $req requests in $calls sends, $reads reads"
	[ "$reads" = 0 ] && break
	echo "the pages were evicted during the round (page cache dropped by someone else): again"
done
[ "$reads" = 0 ] || fail "$reads pages were read back during each of 3 write-back rounds of resident pages"
[ "$req" -ge "$PAGES" ] || fail "only $req requests counted for $PAGES page writes"
# one sendmsg per page would be 1; the submitters alone, sending whatever
# queued while another sent, made about 1.3 (measured before the batching)
[ $((req * 10)) -ge $((calls * 20)) ] ||
	fail "$req requests took $calls sends: the write-back was not batched (want 2 or more a send)"
[ "$(aw retried)" = 0 ] || fail "$(aw retried) asynchronous writes were retried with the server up"
drop_caches
check 2 || fail "the batched writes do not read back"

step "large READ replies in flight while writes are held back"
# a reader pulls mnt/big cold, again and again (128 KiB READs); meanwhile
# the scattered write-back of mnt/ram runs on the same connection
python3 - mnt/big $SIZE 8 <<'PY' &
import os, sys, time
path, size, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
end = time.time() + secs
while time.time() < end:
    os.posix_fadvise(fd, 0, size, os.POSIX_FADV_DONTNEED)
    off = 0
    while off < size:
        off += len(os.pread(fd, 1 << 20, off))
PY
reader=$!
seeds=(2)
for s in 3 4 5 6 7 8; do
	kill -0 $reader 2>/dev/null || break
	dirty $s || fail "the write-back of round $s failed while READs were in flight"
	seeds+=("$s")
done
wait $reader || fail "the reader failed while writes were held back"
echo "write-back rounds during the reads: ${seeds[*]}"
[ ${#seeds[@]} -ge 3 ] || fail "fewer than two write-back rounds ran during the reads"
[ "$(aw retried)" = 0 ] || fail "$(aw retried) asynchronous writes were retried (a send stalled?)"
[ "$(srv_field "$A" state)" = up ] || fail "$A is $(srv_field "$A" state) after the mix"
[ "$(srv_field "$A" errors)" = 0 ] || fail "$(srv_field "$A" errors) requests to $A failed"
if grep -E "timed out|connection lost|send failed" fs.log; then
	fail "the connection to $A stalled or broke during the mix"
fi
drop_caches
check "${seeds[@]}" || fail "writes made while READs were in flight do not read back"
"$MMAPIO" verify mnt/big $SIZE 5 || fail "mnt/big does not read back after the mix"
echo "ok"
