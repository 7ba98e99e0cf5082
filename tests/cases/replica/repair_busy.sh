#!/usr/bin/env bash
# The repair gives way to the files' own use: while a reader runs, a lost
# copy is rebuilt at --repair-rate-busy; once the files are idle, at the
# full --repair-rate again; stats.json says which limit is in force.
# Nothing is lost either way.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((48 << 20)) # 12 extents of 4 MiB, 2 copies each
declare -A P
U=()
for i in 1 2 3; do
	start_memd "m$i" --donate 64M --slab-size 4M --no-auth --lease 2s
	U+=("$URL")
	P[$URL]=$PID
done
start_fs fs mnt --server "${U[0]}" --server "${U[1]}" --server "${U[2]}" --replicas 2 \
	--repair-rate 64M --repair-rate-busy 1M --io-timeout 1s --read-timeout 2s \
	--connect-timeout 1s --log-level notice
repl_is repair_rate_limit_bytes_per_s $((64 << 20))
repl_is repair_rate_busy_limit_bytes_per_s $((1 << 20))

step "a 48 MiB file; the memd holding most of its copies killed"
"$MMAPIO" fill mnt/ram $SIZE 1
victim= vn=0
for u in "${U[@]}"; do
	g=$(granted "$u")
	if [ "$g" -gt "$vn" ]; then victim=$u vn=$g; fi
done
[ "$vn" -ge 6 ] || fail "the busiest memd holds $vn slabs: too few to see a rate"
# a reader that keeps the file in use: a page dropped and read, again,
# by one process (a process per read could leave a second without one,
# and the repair would count the file idle)
: >reads
python3 - mnt/ram $SIZE <<'PY' >>reads &
import os, random, sys, time
fd, size = os.open(sys.argv[1], os.O_RDONLY), int(sys.argv[2])
while not os.path.exists("stop"):
    off = random.randrange(size >> 12) << 12
    os.posix_fadvise(fd, off, 4096, os.POSIX_FADV_DONTNEED)
    try:
        n = len(os.pread(fd, 4096, off))
    except OSError as e:
        print(f"pread at {off} failed: {e}", flush=True)
        sys.exit(1)
    print(f"ok: {n} bytes at {off}", flush=True)
    if n != 4096:
        sys.exit(1)
    time.sleep(0.01)
PY
RPID=$!
kill -KILL "${P[$victim]}"
wait "${P[$victim]}" 2>/dev/null || true

step "while the file is read, the repair copies at 1 MiB/s"
wait_until 30 "the repair of $victim's copies did not start" \
	grep -q "server $victim: away longer than its lease; every copy there is rebuilt" fs.log
_busy() { [ "$(repl repair_rate_limit_in_force_bytes_per_s)" = $((1 << 20)) ]; }
wait_until 10 "the repair's limit in force never became the busy one" _busy
d0=$(repl repair_done_bytes)
sleep 3
d1=$(repl repair_done_bytes)
echo "copied in 3 s with the file in use: $((d1 - d0)) bytes; $(grep -c '^ok:' reads) reads"
[ $((d1 - d0)) -le $((6 << 20)) ] || fail "the repair copied $((d1 - d0)) bytes in 3 s at 1 MiB/s"
_busy || fail "the limit in force is $(repl repair_rate_limit_in_force_bytes_per_s) with a reader running"
kill -0 $RPID 2>/dev/null || fail "the reader stopped: $(tail -3 reads)"
[ "$(repl degraded_bytes)" -gt $((8 << 20)) ] ||
	fail "the repair is nearly done at 1 MiB/s: nothing left to see at the full rate"

step "the reader stops: the rest is copied at the full rate"
touch stop
wait $RPID || fail "the reader failed: $(grep -v '^ok:' reads | tail -3)"
grep -v '^ok:' reads && fail "a read failed during the repair"
# what is left would take 8 s or more at 1 MiB/s
wait_repl degraded_bytes -eq 0 6
repl_is repair_rate_limit_in_force_bytes_per_s $((64 << 20))
repl_is lost_bytes 0
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 1
stop_fs mnt "$FS_PID"
