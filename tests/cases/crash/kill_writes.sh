#!/usr/bin/env bash
# The worker killed (SIGKILL) again and again while the kernel writes a
# file back in WRITEs of 1 MiB, each kill soon after the new worker starts
# serving, while its threads read their first WRITEs.  No write-back may
# fail: a WRITE the dead worker held is resent to the next one, never
# failed.  (The kernel fails a request with EIO if copying it into the
# daemon's buffer fails, and that copy gives up on a page it would have to
# fault in when the thread is being killed: a worker's receive buffers are
# all there before its first read, loop.c.)  Then every MiB verifies.
# TIMEOUT: 240
. "$(dirname "$0")/../../lib/common.sh"
. "$TOP/tests/tools/crash.sh"
require_fuse
require_cmd python3

SZ=$((64 << 20))
KILLS=${VOFIRM_TEST_KILLS:-16}
start_memd memd --donate 128M --slab-size 16M --no-auth --lease 30s
start_fs fs mnt --server "$URL" --threads 32
truncate -s $SZ mnt/f

step "write-back in rounds of $((SZ >> 20)) MiB; the worker killed $KILLS times"
python3 "$TOP/tests/tools/wb_writer.py" mnt/f $SZ wb.stop >wb.out 2>&1 &
writer=$!
_pids+=("$writer")
sleep 1
SUP=$FS_PID
W=$(worker_of mnt)
for k in $(seq "$KILLS"); do
	# the next worker's "serves" in its log: its threads start reading then
	python3 "$TOP/tests/tools/logwait.py" fs.log "$(stat -c %s fs.log)" ' serves ' 60 >serves.out &
	watch=$!
	kill -KILL "$W"
	wait "$watch" || fail "no new worker served within 60 s of kill $k"
	W=$(sed -n 's/.* worker \([0-9]*\) serves .*/\1/p' serves.out)
	[ -n "$W" ] || fail "no worker pid in: $(cat serves.out)"
	# killed within 15 ms, while its threads read their first requests
	# (the resent ones among them) into buffers never used before
	[ "$k" -lt "$KILLS" ] && sleep "$(printf '0.%03d' $((RANDOM % 15)))"
	kill -0 "$writer" 2>/dev/null || { cat wb.out; fail "the writer ended after kill $k"; }
done
touch wb.stop
rc=0
wait "$writer" || rc=$?
cat wb.out
wait_worker mnt "" 60
[ "$(fs_field mnt worker_restarts)" = "$KILLS" ] || fail "worker_restarts is $(fs_field mnt worker_restarts), not $KILLS"
grep -q 'msync failed' wb.out && fail "write-back failed during the kills: data lost ($(grep -c 'msync failed' wb.out) rounds)"
[ "$rc" = 0 ] || fail "the writer failed (exit $rc)"
last=$(sed -n 's/.*last round: \([0-9]*\)$/\1/p' wb.out)
[ "${last:-0}" -ge 2 ] || fail "the writer did only ${last:-0} rounds"

step "every MiB holds the last round's data, read back from the server"
echo 3 >/proc/sys/vm/drop_caches
python3 "$TOP/tests/tools/wb_writer.py" --check mnt/f $SZ "$last" || fail "the file does not hold round $last's data"
stop_fs mnt "$FS_PID"
