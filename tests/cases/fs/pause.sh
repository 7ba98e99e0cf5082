#!/usr/bin/env bash
# A server that stops answering (SIGSTOP: a hang or a partition) and comes
# back within its lease: writes wait and are retried, so everything reads
# back intact, including pages written back during the pause; a reader
# waiting past --read-timeout gets EIO, not a hang.
# TIMEOUT: 240
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

SIZE=$((128 << 20))
start_memd memd --donate 256M --slab-size 4M --no-auth --lease 60s
MEMD_PID=$PID
start_fs fs mnt --server "$URL" --io-timeout 1s --read-timeout 3s --connect-timeout 1s
truncate -s $SIZE mnt/ram

step "write-back during a 4 s pause: the writer waits, nothing is lost"
sigstop "$MEMD_PID"
# the cgroup forces write-back while the server is stopped
in_memcg $((32 << 20)) "$MMAPIO" fill mnt/ram $SIZE 21 >fill.out 2>&1 &
writer=$!
sleep 4
kill -0 $writer 2>/dev/null || { cat fill.out; fail "the writer finished while the server was stopped"; }
kill -CONT "$MEMD_PID"
wait $writer || { cat fill.out; fail "the writer failed across the pause"; }
cat fill.out
assert_grep 'not answering' fs.log "vofirm-fs did not notice the pause"
assert_grep 'server tcp://127.0.0.1:[0-9]+: back after [0-9]+ ms; session resumed' fs.log
in_memcg $((32 << 20)) "$MMAPIO" verify mnt/ram $SIZE 21
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/ram $SIZE 21

step "a read during a pause fails with EIO after the read timeout"
sigstop "$MEMD_PID"
start=$(date +%s)
expect_exit 5 "$MMAPIO" pread mnt/ram $((64 << 20)) 4096
took=$(($(date +%s) - start))
echo "$OUT (${took} s)"
assert_out 'Input/output error'
[ $took -le 8 ] || fail "the read took $took s (io-timeout 1 s + read-timeout 3 s): waiting unbounded?"
assert_grep 'read of slab [0-9]+ at [0-9]+ failed: no answer for [0-9]+ ms \(--read-timeout\)' fs.log
kill -CONT "$MEMD_PID"

step "after the pause everything reads again"
for _ in $(seq 50); do grep -c 'back after' fs.log | grep -q 2 && break; sleep 0.2; done
"$MMAPIO" pread mnt/ram $((64 << 20)) 4096 >/dev/null || fail "reads still fail after the server came back"
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/ram $SIZE 21
grep -q 'DATA LOST' fs.log && fail "a pause within the lease was reported as data loss"

step "unmounting while the server is stopped does not hang"
sigstop "$MEMD_PID"
stop_fs mnt "$FS_PID"
kill -CONT "$MEMD_PID"
assert_grep 'could not end the session' fs.log
