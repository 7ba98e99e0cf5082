#!/usr/bin/env bash
# The client does not declare loss by its own clock.  A server that hangs
# (SIGSTOP) longer than its lease has not started that lease yet: it
# starts when the server notices the disconnect, after it runs again.  So
# vofirm-fs keeps the server DOWN past its lease estimate (reads fail fast
# meanwhile), keeps trying, resumes the session when the server answers,
# and every page reads back; nothing is reported lost.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

make_key key
start_memd memd --donate 64M --slab-size 4M --key-file key --lease 6s
MEMD_PID=$PID
start_fs fs mnt --server "$URL" --key-file key --io-timeout 1s --read-timeout 2s \
	--connect-timeout 1s
"$MMAPIO" fill mnt/ram $((16 << 20)) 5 >/dev/null

step "the server hangs for twice its lease; a read fails fast meanwhile"
sigstop "$MEMD_PID"
echo 3 >/proc/sys/vm/drop_caches
start=$(date +%s)
expect_exit 5 "$MMAPIO" pread mnt/ram $((4 << 20)) 4096
took=$(($(date +%s) - start))
[ $took -le 6 ] || fail "EIO took $took s with a 2 s read timeout"
# past twice the lease in all; a lease of 6 s, not less: once past it,
# vofirm-fs retries every 3 s (half the lease), each try taking up to its
# 1 s connect timeout, and the server's lease starts at its SIGCONT, so
# the resume must come within the lease of the SIGCONT with room to spare
sleep $((13 - took))
grep 'DATA LOST' fs.log && { kill -CONT "$MEMD_PID"; fail "declared lost while the server still holds the data"; }
python3 -c 'import json; d = json.load(open("mnt/.vofirm/stats.json")); assert d["servers"][0]["state"] == "down", d'

step "it runs again: the session is resumed within the server's lease, the data is back"
kill -CONT "$MEMD_PID"
for _ in $(seq 100); do grep -q 'back after' fs.log && break; sleep 0.1; done
assert_grep 'back after [0-9]+ ms; session resumed \(4 slabs held\)' fs.log
echo 3 >/proc/sys/vm/drop_caches
"$MMAPIO" verify mnt/ram $((16 << 20)) 5
grep 'DATA LOST' fs.log && fail "data reported lost"
stop_fs mnt "$FS_PID"
stop_memd "$MEMD_PID"
