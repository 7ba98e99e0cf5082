#!/usr/bin/env bash
# A server that stops in the middle of a reply (a READ reply cut after 64
# of its bytes, the connection left open): the request waits no longer than
# --io-timeout, the connection is redone, the read is retried and returns
# the right bytes.  The thread that waits for its own reply reads the
# socket itself: it must not block past its deadline inside a message.
# TIMEOUT: 90
. "$(dirname "$0")/../../lib/common.sh"
require_fuse
require_cmd python3

start_memd memd --donate 64M --slab-size 4M --no-auth --lease 60s
start_mitm mitm "$PORT"
start_fs fs mnt --server "$MITM_URL" --io-timeout 1s --read-timeout 8s --connect-timeout 1s
"$MMAPIO" fill mnt/f $((8 << 20)) 7 >/dev/null
flush_file mnt/f
echo 3 >/proc/sys/vm/drop_caches

step "a READ reply cut in the middle: the fault waits about --io-timeout, then succeeds"
mitm_mode cut-read
start=$(date +%s%N)
timeout 30 "$MMAPIO" verify mnt/f $((8 << 20)) 7 || fail "the file did not verify (exit $?)"
ms=$((($(date +%s%N) - start) / 1000000))
echo "verified in $ms ms"
assert_grep 'cut a READ reply after 64 of its' mitm.log
assert_grep 'not answering \(a request waited 1000 ms\)' fs.log
[ "$ms" -lt 8000 ] || fail "the read took $ms ms: longer than --read-timeout, so not by a retry"
stop_fs mnt "$FS_PID"
