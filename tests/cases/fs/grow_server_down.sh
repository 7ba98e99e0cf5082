#!/usr/bin/env bash
# A grow that is short only because a server is down (SIGSTOP: it stops
# answering within --io-timeout) fails with EIO, not ENOSPC: the room of
# the server that is down cannot be counted.  The log names that server,
# the size stays, nothing is granted; once the server is back the same
# grow works.  The same with 2 copies on 2 servers, one down.  A size the
# pool cannot hold, all servers up or even counting a down one's whole
# capacity (or 3 copies on 2 servers), is still ENOSPC.  The repair does not call a copy it cannot
# place for a server that is down NO ROOM: it waits for the server.
# TIMEOUT: 150
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse
require_cmd setfattr

FS_ARGS=(--io-timeout 1s --read-timeout 2s --connect-timeout 1s)
SIZE=$((8 << 20)) # 2 slabs of 4 MiB
# (a memd left paused by a failure is killed at exit all the same)
pause() { sigstop "$1"; }
resume() { kill -CONT "$1"; }
# refused CMD...: CMD fails; its error is in $OUT
refused() { expect_exit 1 "$@"; echo "$OUT"; }
size_is() { [ "$(stat -c %s "$1")" = "$2" ] || fail "$1 is $(stat -c %s "$1") bytes, not $2"; }

start_memd a --donate 64M --slab-size 4M --no-auth --lease 30s
A=$URL A_PID=$PID
start_fs fs mnt --server "$A" "${FS_ARGS[@]}"

step "all up, a size larger than the pool: ENOSPC"
refused truncate -s 1G mnt/big
assert_out "No space left on device"
size_is mnt/big 0
assert_grep "file /big: growing to 1 GiB refused: needs 256 slab\(s\) \(1 GiB\), the servers that are up have 16 free \(64 MiB\): short by 240 \(960 MiB\)" fs.log

step "$A paused: a grow fails with EIO, naming it; the size stays"
: >mnt/f
pause "$A_PID"
refused truncate -s $SIZE mnt/f
assert_out "Input/output error"
size_is mnt/f 0
assert_grep "file /f: growing to 8 MiB refused: server $A \(not answering \(a request waited [0-9]+ ms\)\) is down, so its free room cannot be counted; needs 2 slab\(s\) \(8 MiB\), the servers that are up have 0 free \(0 B\): short by 2 \(8 MiB\)" fs.log
refused fallocate -l $SIZE mnt/f
assert_out "Input/output error"
size_is mnt/f 0
assert_grep "file /f: fallocate of 8 MiB at 0 B refused: server $A .* is down, so its free room cannot be counted" fs.log

step "$A paused, a size larger than its whole capacity: ENOSPC all the same"
refused truncate -s 1G mnt/big
assert_out "No space left on device"
size_is mnt/big 0
grep -E "file /big: growing to 1 GiB refused: .*is down" fs.log && fail "a size past the whole pool blamed the server that is down"
stopped "$A_PID" || fail "$A is not stopped any more"

step "$A back: the same grow works, nothing leaked, the data reads back"
resume "$A_PID"
wait_until 10 "$A did not come back" grep -qE "server $A: back after [0-9]+ ms; session resumed" fs.log
[ "$(granted "$A")" = 0 ] || fail "$A holds $(granted "$A") slabs after the refused grows"
truncate -s $SIZE mnt/f
size_is mnt/f $SIZE
[ "$(granted "$A")" = 2 ] || fail "$A holds $(granted "$A") slabs for an 8 MiB file"
"$MMAPIO" fill mnt/f $SIZE 3
drop_caches
"$MMAPIO" verify mnt/f $SIZE 3
stop_fs mnt "$FS_PID"

step "2 copies on 2 servers, all up, more than the pool: ENOSPC"
start_memd b --donate 64M --slab-size 4M --no-auth --lease 30s
B=$URL B_PID=$PID
start_fs fs2 mnt --server "$A" --server "$B" --replicas 2 "${FS_ARGS[@]}"
refused truncate -s 100M mnt/big
assert_out "No space left on device"
assert_grep "file /big: growing to 100 MiB refused: needs 50 slab\(s\) \(200 MiB, every copy counted\), the servers that are up have 32 free \(128 MiB\): short by 18 \(72 MiB\)" fs2.log

step "2 copies, $B paused: a grow fails with EIO, not for want of distinct servers"
: >mnt/g
pause "$B_PID"
refused truncate -s $SIZE mnt/g
assert_out "Input/output error"
size_is mnt/g 0
assert_grep "file /g: growing to 8 MiB refused: server $B .* is down, so its free room cannot be counted; needs 2 copies of each slab on distinct servers, and only 1 server\(s\) that are up have room$" fs2.log
[ "$(granted "$A")" = 0 ] || fail "$A holds $(granted "$A") slabs after the refused grow"
# 3 copies on 2 servers is short of servers even counting the one down
: >mnt/k
setfattr -n user.vofirm.replicas -v 3 mnt/k
refused truncate -s $SIZE mnt/k
assert_out "No space left on device"
assert_grep "file /k: growing to 8 MiB refused: needs 3 copies of each slab on distinct servers, and only 1 server\(s\) that are up have room \(short of servers" fs2.log
stopped "$B_PID" || fail "$B is not stopped any more"

step "$B back: the grow works, a copy on each server"
resume "$B_PID"
wait_until 10 "$B did not come back" grep -qE "server $B: back after [0-9]+ ms; session resumed" fs2.log
"$MMAPIO" fill mnt/g $SIZE 4
[ "$(granted "$A")" = 2 ] && [ "$(granted "$B")" = 2 ] || fail "each server should hold a copy of both extents"
drop_caches
"$MMAPIO" verify mnt/g $SIZE 4
stop_fs mnt "$FS_PID"

start_memd c --donate 64M --slab-size 4M --no-auth --lease 30s
C=$URL C_PID=$PID
step "2 copies on $A and $B, $C added, paused, and $A drained: the copies wait, no NO ROOM"
conf() {
	printf '[fs]\nserver = %s\nreplicas = 2\nio-timeout = 1s\nread-timeout = 2s\nconnect-timeout = 1s\n' \
		"$1" >fs.conf.tmp
	mv fs.conf.tmp fs.conf
}
conf "$A;$B"
start_fs fs3 mnt -c fs.conf
"$MMAPIO" fill mnt/h $SIZE 5
conf "$A;$B;$C"
kill -HUP "$FS_PID"
wait_until 10 "$C was not added" grep -q "server $C added" fs3.log
# every extent has a copy on B: the copies on A can only go to C
pause "$C_PID"
expect_exit 1 "$CTL" drain --mount mnt --server "$A" --timeout 6s
echo "$OUT"
assert_out "$A is not drained after 6 s: .*; waiting: server $C is down"
wait_until 10 "the repair did not say the copies wait" \
	grep -qE "file /h \[[0-9]+M, [0-9]+M\): a new copy waits: server $C .* is down, so its free room cannot be counted" fs3.log
grep "NO ROOM" fs3.log && fail "a server that is down was taken for a pool with no room"
repl_is repair_blocked_extents 0
[ "$(granted "$A")" = 2 ] || fail "$A lost copies with nowhere to put them"
stopped "$C_PID" || fail "$C is not stopped any more"

step "$C back: the drain moves the copies there"
resume "$C_PID"
wait_until 10 "$C did not come back" grep -qE "server $C: back after [0-9]+ ms; session resumed" fs3.log
a_empty() { [ "$(granted "$A")" = 0 ]; }
wait_until 30 "$A still holds copies" a_empty
[ "$(granted "$C")" = 2 ] || fail "$C holds $(granted "$C") slabs: not every copy moved there"
wait_repl degraded_bytes -eq 0 30
drop_caches
"$MMAPIO" verify mnt/h $SIZE 5
grep "NO ROOM" fs3.log && fail "NO ROOM logged"
stop_fs mnt "$FS_PID"
