#!/usr/bin/env bash
# Two copies, one server paused (SIGSTOP, within its lease): reads and
# writes go on from the other copy within --io-timeout, without waiting
# for the paused one.  Its copies missed the writes: once it is back they
# are rebuilt in place (no new slabs), and until then they serve no read
# (the server's own counter says it served none).  Then the other server
# is killed, and the data written during the pause reads from the copies
# that were stale.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

SIZE=$((8 << 20)) # two extents of 4 MiB, each on both servers
start_memd a --donate 64M --slab-size 4M --no-auth --lease 30s
A=$URL A_PID=$PID
start_memd b --donate 64M --slab-size 4M --no-auth --lease 30s
B=$URL B_PID=$PID
start_fs fs mnt --server "$A" --server "$B" --replicas 2 --repair-rate 512K \
	--io-timeout 1s --read-timeout 2s --connect-timeout 1s
"$MMAPIO" fill mnt/ram $SIZE 1
[ "$(granted "$A")" = 2 ] && [ "$(granted "$B")" = 2 ] || fail "each server should hold a copy of both extents"

step "$A paused: reads go on from the other copy within --io-timeout"
sigstop "$A_PID"
drop_caches
for off in 0 $((4 << 20)) $((1 << 20)) $((6 << 20)); do
	s=$(date +%s%N)
	"$MMAPIO" pread mnt/ram $off 65536 || { kill -CONT "$A_PID"; fail "a read with one copy paused failed"; }
	ms=$((($(date +%s%N) - s) / 1000000))
	[ $ms -le 3000 ] || { kill -CONT "$A_PID"; fail "a read took $ms ms with --io-timeout 1s"; }
done
s=$(date +%s%N)
"$MMAPIO" verify mnt/ram $SIZE 1 || { kill -CONT "$A_PID"; fail "reading with one copy paused failed"; }
ms=$((($(date +%s%N) - s) / 1000000))
[ $ms -le 4000 ] || { kill -CONT "$A_PID"; fail "reading 8 MiB took $ms ms with a copy paused"; }

step "writes go on without waiting for it; its copies are stale"
s=$(date +%s%N)
"$MMAPIO" fill mnt/ram $SIZE 2 || { kill -CONT "$A_PID"; fail "writing with one copy paused failed"; }
ms=$((($(date +%s%N) - s) / 1000000))
echo "wrote 8 MiB in $ms ms"
stopped "$A_PID" || fail "$A is not stopped any more"
[ $ms -le 4000 ] || { kill -CONT "$A_PID"; fail "writing 8 MiB took $ms ms with a copy paused"; }
repl_is degraded_bytes $SIZE
repl_is unprotected_bytes $SIZE
repl_is lost_bytes 0
assert_grep "server $A: the copy in slab [0-9]+ missed a write" fs.log
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 2 || { kill -CONT "$A_PID"; fail "the new data does not read back"; }
stopped "$A_PID" || fail "$A is not stopped any more"

step "$A back: its stale copies serve no read while they are rebuilt in place"
kill -CONT "$A_PID"
wait_until 10 "$A did not come back" grep -qE "server $A: back after [0-9]+ ms; session resumed" fs.log
a0=$(memd_read "$A") b0=$(memd_read "$B")
drop_caches
"$MMAPIO" verify mnt/ram $SIZE 2
a1=$(memd_read "$A") b1=$(memd_read "$B")
d=$(repl degraded_bytes)
echo "read $((b1 - b0)) bytes from $B, $((a1 - a0)) from $A; $d bytes still degraded"
[ "$d" = $SIZE ] || fail "an extent was rebuilt within seconds at 512 KiB/s (degraded $d): too fast to test"
[ $((a1 - a0)) = 0 ] || fail "$A served $((a1 - a0)) bytes from copies that missed writes"
[ $((b1 - b0)) -ge $SIZE ] || fail "the reads did not reach $B"
wait_repl degraded_bytes -eq 0 60
for r in 0M 4M; do
	assert_grep "file /ram \[$r, [0-9]+M\): copy on $A rebuilt" fs.log
done
[ "$(granted "$A")" = 2 ] || fail "$A holds $(granted "$A") slabs after the rebuild: not rebuilt in place"
[ "$(granted "$B")" = 2 ] || fail "$B holds $(granted "$B") slabs after the rebuild"
grep -q 'DATA LOST' fs.log && fail "a pause within the lease was reported as data loss"

step "kill -9 $B: the copies on $A have what was written during the pause"
kill -KILL "$B_PID"
wait "$B_PID" 2>/dev/null || true
drop_caches
a0=$(memd_read "$A")
"$MMAPIO" verify mnt/ram $SIZE 2 || fail "the rebuilt copies on $A do not hold the writes made during the pause"
a1=$(memd_read "$A")
[ $((a1 - a0)) -ge $SIZE ] || fail "only $((a1 - a0)) bytes came from $A"
stop_fs mnt "$FS_PID"
