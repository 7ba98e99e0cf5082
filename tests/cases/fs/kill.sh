#!/usr/bin/env bash
# A server killed mid-run took its memory with it: reads of its pages fail
# with EIO within the read timeout (never a hang), and the log says that
# data was lost, and where.  The other server's files are unharmed.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"
require_fuse

start_memd doomed --donate 64M --slab-size 4M --no-auth --lease 3s
DOOMED=$PID
U1=$URL
start_fs fs mnt --server "$U1" --io-timeout 1s --read-timeout 2s --connect-timeout 1s
"$MMAPIO" fill mnt/ram $((32 << 20)) 4

step "kill -9 the server"
kill -KILL "$DOOMED"
wait "$DOOMED" 2>/dev/null || true
start=$(date +%s)
expect_exit 5 "$MMAPIO" pread mnt/ram $((8 << 20)) 4096
took=$(($(date +%s) - start))
echo "$OUT (${took} s)"
[ $took -le 6 ] || fail "EIO took $took s with a 2 s read timeout"

step "after its lease the loss is declared, with the file and ranges"
for _ in $(seq 100); do grep -q 'DATA LOST' fs.log && break; sleep 0.1; done
assert_grep "server $U1: DATA LOST: unreachable for longer than its lease; the data of this mount's 8 slab\(s\) there is gone; files affected: /ram at \[0M, 32M\)" fs.log
start=$(date +%s)
expect_exit 3 "$MMAPIO" verify mnt/ram $((32 << 20)) 4
[ $(($(date +%s) - start)) -le 2 ] || fail "a lost server still makes readers wait"
assert_out 'SIGBUS at offset'
python3 -c 'import json; d = json.load(open("mnt/.vofirm/stats.json")); assert d["servers"][0]["state"] == "lost", d'

step "a restarted server is not the old one: still lost, and the mount goes on"
touch mnt/other 2>/dev/null || fail "the mount stopped working"
stop_fs mnt "$FS_PID"
