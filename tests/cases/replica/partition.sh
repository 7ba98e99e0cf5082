#!/usr/bin/env bash
# Both servers of a 2-copy file unreachable at once (a partition: both
# stopped) for longer than their lease, then back with our session.  A
# copy is given up past its server's lease only for another copy that can
# be read now: here neither can, so neither is given up, nothing is freed,
# and when one server then dies for good the other still has every page.
# (Before: each was given up for the other, the repair freed one set, and
# the second step lost data.)
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/lib/replica.sh"
require_fuse

start_memd a --donate 64M --slab-size 4M --no-auth --lease 6s
PA=$PID UA=$URL
start_memd b --donate 64M --slab-size 4M --no-auth --lease 6s
PB=$PID UB=$URL
start_fs fs mnt --server "$UA" --server "$UB" --replicas 2 --repair-rate 1M --io-timeout 1s \
	--read-timeout 2s --connect-timeout 1s
"$MMAPIO" fill mnt/ram $((8 << 20)) 1

step "both servers unreachable past their lease, then back with our session"
sigstop "$PA" "$PB"
# with no I/O, the stop is seen at the next heartbeat (every 15 s), then
# the lease (6 s: once past it vofirm-fs retries every 3 s, half of it,
# and a server must be resumed within its lease of its SIGCONT) and a
# reconnection attempt (a backoff of up to 2 s and a 1 s connect
# timeout): about 25 s in the worst case, so wait longer than that
wait_until 45 "both past their lease" \
	eval '[ $(grep -c "unreachable for .* longer than its lease" fs.log) -ge 2 ]'
grep -q "every copy there is rebuilt" fs.log &&
	fail "a copy was given up for another whose server was just as unreachable"
kill -CONT "$PA" "$PB"
wait_until 20 "both back" eval '[ $(grep -c "back after .* session resumed" fs.log) -ge 2 ]'
sleep 3 # a repair pass or two: nothing may be dropped
grep -q "every copy there is rebuilt" fs.log && fail "a copy was given up after the partition"

step "each server alone still has every page"
sigstop "$PA"
drop_caches
"$MMAPIO" verify mnt/ram $((8 << 20)) 1 || fail "b lost pages in the partition"
kill -CONT "$PA"
wait_until 20 "a back" eval '[ $(grep -c "back after .* session resumed" fs.log) -ge 3 ]'
kill -KILL "$PB"
drop_caches
"$MMAPIO" verify mnt/ram $((8 << 20)) 1 || fail "a lost pages in the partition"
stop_fs mnt "$FS_PID"
